"""The Encoder-LLM baseline: frame stacking, training on L_CE alone, reload."""
import json
import os
import re

import pytest
import torch

from conftest import run_cli
from test_cli import SMALL_ENCODER, TEMPLATE, train_args

ENCODER_LLM = ["--arch", "encoder_llm_tiny", "--stack-factor", "3"] + SMALL_ENCODER[2:]


def stack_reference(hidden, length, factor):
    """One utterance, by a loop: concatenate frames factor by factor, zero-filling the tail."""
    vectors = []
    for start in range(0, length, factor):
        frames = [hidden[t] if t < length else torch.zeros_like(hidden[0]) for t in range(start, start + factor)]
        vectors.append(torch.cat(frames))
    return torch.stack(vectors)


def test_stack_frames_matches_loop_and_zeroes_padding():
    from wav2prompt_plugin.models.encoder_llm import stack_frames

    torch.manual_seed(0)
    hidden = torch.randn(3, 13, 7)
    lengths = torch.tensor([13, 8, 1])
    valid = torch.arange(13).unsqueeze(0) < lengths.unsqueeze(1)
    stacked, out_lengths = stack_frames(hidden, valid, 3)
    assert stacked.shape == (3, 5, 21)
    assert out_lengths.tolist() == [5, 3, 1]
    for b in range(3):
        n = out_lengths[b]
        torch.testing.assert_close(stacked[b, :n], stack_reference(hidden[b], int(lengths[b]), 3))
        assert stacked[b, n:].abs().sum() == 0


@pytest.fixture(scope="module")
def task(tiny_llm):
    from wav2prompt_plugin.tasks.wav2prompt import Wav2PromptTask, Wav2PromptTaskConfig

    return Wav2PromptTask.setup_task(Wav2PromptTaskConfig(llm_path=tiny_llm, train_template=TEMPLATE))


def test_prompt_shape_follows_stack_factor(task):
    from wav2prompt_plugin.models.encoder_llm import EncoderLLMConfig, EncoderLLMModel

    cfg = EncoderLLMConfig(encoder_type="transformer", conv_kernel_sizes="3,3", conv_channels=12,
                           encoder_embed_dim=14, encoder_ffn_embed_dim=22, encoder_layers=1,
                           encoder_attention_heads=2, stack_factor=3, max_source_positions=6000)
    model = EncoderLLMModel.build_model(cfg, task).eval()
    fbank = torch.randn(2, 97, 80)
    lengths = torch.tensor([97, 41])
    prompt = {"prompt_prefix_tokens": torch.ones(2, 1, dtype=torch.long), "prompt_prefix_lengths": torch.ones(2),
              "prompt_postfix_tokens": torch.ones(2, 0, dtype=torch.long), "prompt_postfix_lengths": torch.zeros(2)}
    out = model.encoder(fbank, lengths, **prompt)
    prompt = out["speech_prompt"][0]
    encoder_frames = torch.tensor([25, 11])  # 4x subsampled: ceil(ceil(T/2)/2)
    expected = (encoder_frames + 2) // 3
    assert out["speech_prompt_lengths"][0].tolist() == expected.tolist()
    assert prompt.shape == (2, 9, model.decoder.embed_dim)
    assert prompt[1, expected[1]:].abs().sum() == 0


def test_wav2prompt_criterion_refuses_transcript_losses(task):
    from wav2prompt_plugin.criterions.wav2prompt import Wav2PromptCriterion
    from wav2prompt_plugin.models.encoder_llm import EncoderLLMConfig, EncoderLLMModel

    cfg = EncoderLLMConfig(encoder_type="transformer", conv_kernel_sizes="3", conv_channels=12,
                           encoder_embed_dim=14, encoder_ffn_embed_dim=22, encoder_layers=1,
                           encoder_attention_heads=2, max_source_positions=6000)
    model = EncoderLLMModel.build_model(cfg, task)
    dictionary = task.target_dictionary
    sample = {
        "net_input": {"src_tokens": torch.randn(1, 30, 80), "src_lengths": torch.tensor([30]),
                      "prev_output_tokens": torch.tensor([[dictionary.eos(), 5]]),
                      "prompt_prefix_tokens": torch.tensor([task.leading_specials]),
                      "prompt_prefix_lengths": torch.tensor([1]),
                      "prompt_postfix_tokens": torch.zeros(1, 0, dtype=torch.long),
                      "prompt_postfix_lengths": torch.tensor([0])},
        "target": torch.tensor([[5, dictionary.eos()]]), "ntokens": 2, "nsentences": 1,
        "transcript": torch.tensor([[5]]), "transcript_lengths": torch.tensor([1]),
    }
    with pytest.raises(ValueError, match="need a CIF model.*EncoderLLMModel"):
        Wav2PromptCriterion(task, mse_weight=1.0, qua_weight=0.0)(model, sample)
    loss, sample_size, log = Wav2PromptCriterion(task, mse_weight=0.0, qua_weight=0.0)(model, sample)
    assert torch.isfinite(loss) and sample_size == 2 and "mse" not in log


@pytest.fixture(scope="module")
def trained(tmp_path_factory, speech_data, tiny_llm):
    save_dir = str(tmp_path_factory.mktemp("encoder_llm"))
    args = train_args(speech_data, tiny_llm, save_dir, updates=40,
                      extra=["--mse-weight", "0", "--qua-weight", "0"])
    args[args.index("--arch"):args.index("--arch") + len(SMALL_ENCODER)] = ENCODER_LLM
    proc = run_cli(args, cwd=os.getcwd())
    logs = [json.loads(line[line.index("{"):]) for line in proc.stdout.splitlines()
            if "train_inner" in line and "{" in line]
    return {"logs": logs, "checkpoint": os.path.join(save_dir, "checkpoint_last.pt")}


@pytest.mark.slow
def test_training_on_ce_alone_reduces_the_loss(trained):
    logs = trained["logs"]
    assert len(logs) >= 35 and "mse" not in logs[0]
    first = sum(float(r["ce"]) for r in logs[:8]) / 8
    last = sum(float(r["ce"]) for r in logs[-8:]) / 8
    assert last < 0.8 * first


@pytest.mark.slow
def test_generate_after_reload_matches_fairseq_generate(trained, speech_data, tiny_llm):
    from wav2prompt_plugin.inference import Wav2PromptInference

    proc = run_cli([
        "fairseq-generate", speech_data, "--user-dir", "wav2prompt_plugin", "--task", "wav2prompt",
        "--llm-path", tiny_llm, "--gen-subset", "dev", "--path", trained["checkpoint"], "--beam", "1",
        "--max-len-b", "15", "--max-tokens", "2500", "--cpu",
    ])
    hyps = dict(re.findall(r"^D-(\d+)\t\S+\t(.*)$", proc.stdout, re.M))
    wavs = [os.path.join(speech_data, "wav", f"dev_{i}.wav") for i in range(4)]
    first = Wav2PromptInference(trained["checkpoint"], beam=1, max_len_b=15, trim_silence=False)  # as fairseq-generate
    again = Wav2PromptInference(trained["checkpoint"], beam=1, max_len_b=15, trim_silence=False)
    assert type(first.model).__name__ == "EncoderLLMModel"
    out = first.generate(wavs, TEMPLATE)
    assert out == again.generate(wavs, TEMPLATE) == [hyps[str(i)] for i in range(4)]
    # prompt length: 4x conv subsampling then stacking by 3
    frames = [int(l.split("\t")[2]) for l in open(os.path.join(speech_data, "dev.tsv")).read().splitlines()[1:]]
    expected = [(((n + 1) // 2 + 1) // 2 + 2) // 3 for n in frames]
    assert first.prompt_lengths(wavs) == expected
