"""The CTC stage that initialises Wav2Prompt: its CIF weight predictor is
trained beside CTC without touching the encoder, and a Wav2Prompt model takes
both the encoder and the predictor from its checkpoint; the projector starts
at the LLM's embedding scale."""
import os

import pytest
import torch

from conftest import run_cli
from test_cli import SMALL_ENCODER

pytestmark = pytest.mark.slow

SMALL_CTC = ["--arch", "speech_encoder_ctc_tiny"] + SMALL_ENCODER[2:]


@pytest.fixture(scope="module")
def ctc_checkpoint(tmp_path_factory, speech_data, tiny_llm):
    save_dir = str(tmp_path_factory.mktemp("ctc"))
    run_cli([
        "fairseq-train", speech_data, "--user-dir", "wav2prompt_plugin", "--task", "wav2prompt",
        "--llm-path", tiny_llm, *SMALL_CTC, "--criterion", "speech_encoder_ctc",
        "--optimizer", "adam", "--lr", "3e-3", "--max-tokens", "2500", "--max-update", "20",
        "--save-dir", save_dir, "--no-epoch-checkpoints", "--num-workers", "0", "--cpu",
        "--valid-subset", "dev", "--seed", "3", "--log-format", "json", "--log-interval", "1",
    ], cwd=os.getcwd())
    return os.path.join(save_dir, "checkpoint_last.pt")


SIZES = dict(encoder_type="transformer", conv_kernel_sizes="3,3", conv_channels=32, encoder_layers=2,
             encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_attention_heads=4,
             dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, max_source_positions=6000)


def build(data, llm, config_class, **overrides):
    from fairseq.models import MODEL_DATACLASS_REGISTRY
    from omegaconf import OmegaConf

    from wav2prompt_plugin.tasks.wav2prompt import Wav2PromptTask, Wav2PromptTaskConfig

    task = Wav2PromptTask.setup_task(Wav2PromptTaskConfig(data=data, llm_path=llm))
    name = next(k for k, v in MODEL_DATACLASS_REGISTRY.items() if v is config_class)
    cfg = OmegaConf.structured(config_class(_name=name, **SIZES, **overrides))
    return task, task.build_model(cfg)


def test_cif_alignment_trains_the_predictor_only(speech_data, tiny_llm):
    """The alignment loss gives the CIF predictor gradients, and leaves the
    encoder's gradients exactly those of CTC alone."""
    from wav2prompt_plugin.criterions.speech_encoder_ctc import SpeechEncoderCtcCriterion

    from wav2prompt_plugin.models.speech_encoder_ctc import SpeechEncoderCtcConfig

    task, model = build(speech_data, tiny_llm, SpeechEncoderCtcConfig)
    task.load_dataset("train")
    dataset = task.dataset("train")
    sample = dataset.collater([dataset[i] for i in range(4)])
    model.train()
    grads = {}
    for weight in (0.0, 1.0):
        model.zero_grad()
        torch.manual_seed(0)
        loss, _, log = SpeechEncoderCtcCriterion(task, cif_align_weight=weight)(model, sample)
        loss.backward()
        grads[weight] = {n: p.grad.clone() if p.grad is not None else None
                         for n, p in model.named_parameters()}
    for name, grad in grads[1.0].items():
        if name.startswith("encoder."):
            torch.testing.assert_close(grad, grads[0.0][name], msg=name)
    assert grads[0.0]["cif_weights.proj.weight"] is None
    assert grads[1.0]["cif_weights.proj.weight"].abs().sum() > 0
    assert "cif_len_exact" in log and float(log["cif_align"]) > 0


def test_wav2prompt_takes_encoder_and_cif_predictor_from_ctc(ctc_checkpoint, speech_data, tiny_llm):
    from fairseq import checkpoint_utils

    from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig

    _, model = build(speech_data, tiny_llm, Wav2PromptConfig)
    model.encoder.load_speech_encoder(ctc_checkpoint)
    state = checkpoint_utils.load_checkpoint_to_cpu(ctc_checkpoint)["model"]
    own = model.encoder.state_dict()
    for name in ("cif_weights.conv.weight", "cif_weights.proj.bias"):
        torch.testing.assert_close(own[name], state[name])
    key = next(k for k in state if k.startswith("encoder.") and k.endswith("weight"))
    torch.testing.assert_close(own["speech_encoder." + key[len("encoder."):]], state[key])


@pytest.mark.parametrize("model_kind", ["wav2prompt", "encoder_llm"])
def test_projector_starts_at_the_llm_embedding_scale(speech_data, tiny_llm, model_kind):
    """Both speech-prompt models (the Encoder-LLM's projector reads 2 stacked frames)."""
    from wav2prompt_plugin.models.encoder_llm import EncoderLLMConfig
    from wav2prompt_plugin.models.speech_prompt import embedding_rms
    from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig

    config_class, width = {"wav2prompt": (Wav2PromptConfig, 32), "encoder_llm": (EncoderLLMConfig, 64)}[model_kind]
    for hidden in (0, 48):
        _, model = build(speech_data, tiny_llm, config_class, projector_hidden_dim=hidden)
        unit = torch.nn.functional.layer_norm(torch.randn(4000, width), (width,))
        out = model.encoder.projector(unit).detach()
        target = embedding_rms(model.decoder.llm)
        ratio = float(out.pow(2).mean().sqrt()) / target
        assert (0.8 if hidden == 0 else 0.3) < ratio < 1.25, (hidden, ratio)


def test_auxiliary_ctc_matches_the_ctc_stage(ctc_checkpoint, speech_data, tiny_llm):
    """With --ctc-head, Wav2Prompt takes the CTC head from the CTC checkpoint and
    its auxiliary CTC term is the CTC stage's loss on the same batch; the terms
    reach the encoder, the head and the CIF predictor."""
    from fairseq import checkpoint_utils

    from wav2prompt_plugin.criterions.speech_encoder_ctc import SpeechEncoderCtcCriterion
    from wav2prompt_plugin.criterions.wav2prompt import Wav2PromptCriterion
    from wav2prompt_plugin.models.speech_encoder_ctc import SpeechEncoderCtcConfig
    from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig

    task, w2p = build(speech_data, tiny_llm, Wav2PromptConfig, ctc_head=True)
    w2p.encoder.load_speech_encoder(ctc_checkpoint)
    _, ctc_model = build(speech_data, tiny_llm, SpeechEncoderCtcConfig)
    ctc_model.load_state_dict(checkpoint_utils.load_checkpoint_to_cpu(ctc_checkpoint)["model"])
    task.load_dataset("train")
    dataset = task.dataset("train")
    sample = dataset.collater([dataset[i] for i in range(4)])
    w2p.eval(), ctc_model.eval()  # no dropout: both encoders compute the same frames
    _, _, reference = SpeechEncoderCtcCriterion(task, cif_align_weight=0.0)(ctc_model, sample)
    criterion = Wav2PromptCriterion(task, ctc_weight=0.5, cif_align_weight=0.5)
    loss, _, log = criterion(w2p, sample)
    torch.testing.assert_close(log["ctc"], reference["ctc"], rtol=1e-4, atol=1e-3)
    assert float(log["cif_align"]) > 0
    loss.backward()
    for name in ("encoder.ctc_proj.weight", "encoder.cif_weights.proj.weight",
                 "encoder.speech_encoder.transformer_layers.0.fc1.weight"):
        assert w2p.get_parameter(name).grad.abs().sum() > 0, name


def test_auxiliary_ctc_needs_the_head(speech_data, tiny_llm):
    from wav2prompt_plugin.criterions.wav2prompt import Wav2PromptCriterion
    from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig

    task, w2p = build(speech_data, tiny_llm, Wav2PromptConfig)
    task.load_dataset("train")
    dataset = task.dataset("train")
    sample = dataset.collater([dataset[i] for i in range(2)])
    with pytest.raises(ValueError, match="--ctc-head"):
        Wav2PromptCriterion(task, ctc_weight=1.0)(w2p, sample)


def test_a_model_without_the_ctc_head_loads_one_trained_with_it(speech_data, tiny_llm):
    """Fine-tuning (--finetune-from-model) may drop the training-only CTC head."""
    from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig

    _, with_head = build(speech_data, tiny_llm, Wav2PromptConfig, ctc_head=True)
    _, without = build(speech_data, tiny_llm, Wav2PromptConfig)
    without.load_state_dict(with_head.state_dict())
    torch.testing.assert_close(without.encoder.projector.weight, with_head.encoder.projector.weight)
    with pytest.raises(RuntimeError, match="ctc_proj"):
        with_head.load_state_dict(without.state_dict())


def test_ctc_transcripts_by_hand_and_in_manifest_order(ctc_checkpoint, speech_data, tiny_llm, tmp_path):
    """The CTC stage as a cascade's ASR (wav2prompt-ctc-transcribe): a head that puts one token above
    blank on every frame collapses to that token alone, one that prefers blank writes nothing; the
    TSV holds every id of the manifest in its order, batched or not."""
    import csv

    from transformers import AutoTokenizer

    from wav2prompt_plugin.data.manifest import read_manifest
    from wav2prompt_plugin.inference import CtcTranscriber

    model = CtcTranscriber(ctc_checkpoint)
    rows = read_manifest(os.path.join(speech_data, "dev.tsv")).rows
    audio = [r["audio"] for r in rows]
    alone = [model.transcribe(a)[0] for a in audio]
    assert model.transcribe(audio) == alone  # padding in a batch changes nothing
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    token = tokenizer("the", add_special_tokens=False)["input_ids"][0]
    assert tokenizer.convert_ids_to_tokens(token) == "▁the"
    with torch.no_grad():
        model.model.ctc_proj.weight.zero_()
        model.model.ctc_proj.bias.zero_()
        model.model.ctc_proj.bias[token] = 1.0
        assert model.transcribe(audio) == ["the"] * len(audio)
        model.model.ctc_proj.bias[model.model.blank] = 2.0
        assert model.transcribe(audio) == [""] * len(audio)

    out = tmp_path / "hyps.tsv"
    proc = run_cli(["wav2prompt-ctc-transcribe", "--checkpoint", ctc_checkpoint, "--manifest",
                    os.path.join(speech_data, "dev.tsv"), "--out", str(out), "--batch-size", "3"])
    assert "4 CTC transcripts, WER" in proc.stdout
    with open(out, newline="") as f:
        written = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert [(w["id"], w["hyp"]) for w in written] == [(r["id"], a) for r, a in zip(rows, alone)]


def test_ctc_transcripts_refuse_another_model(speech_data, tiny_llm, tmp_path):
    save_dir = str(tmp_path / "w2p")
    run_cli(["fairseq-train", speech_data, "--user-dir", "wav2prompt_plugin", "--task", "wav2prompt",
             "--llm-path", tiny_llm, *SMALL_ENCODER, "--criterion", "wav2prompt", "--optimizer", "adam",
             "--lr", "1e-3", "--max-tokens", "2500", "--max-update", "1", "--save-dir", save_dir,
             "--no-epoch-checkpoints", "--num-workers", "0", "--cpu", "--valid-subset", "dev"])
    proc = run_cli(["wav2prompt-ctc-transcribe", "--checkpoint", os.path.join(save_dir, "checkpoint_last.pt"),
                    "--manifest", os.path.join(speech_data, "dev.tsv"), "--out", str(tmp_path / "h.tsv")],
                   check=False)
    assert proc.returncode != 0
    assert "not a CTC encoder checkpoint (speech_encoder_ctc)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(tmp_path / "h.tsv")


def test_run_budget_of_a_checkpoint(ctc_checkpoint):
    """What the table's budget columns read: the fixture's 20 updates at --max-tokens 2500 and
    --lr 3e-3, no LLM position (CTC runs none), and the update steps' time."""
    from wav2prompt_plugin.evaluation.training_cost import run_budget, run_counts

    budget = run_budget(ctc_checkpoint)
    assert {k: budget[k] for k in ("updates", "max_tokens", "lr", "llm_train_positions")} == \
        {"updates": 20, "max_tokens": 2500, "lr": 3e-3, "llm_train_positions": 0}
    state = torch.load(ctc_checkpoint, map_location="cpu", weights_only=False)
    assert budget["train_seconds"] == round(run_counts(state)["train_wall"], 1)
