"""The frozen-LLM decoder: prompt assembly, KV-cache decoding, beams, freezing."""
from types import SimpleNamespace

import pytest
import torch

from wav2prompt_plugin.llm.decoder import FrozenLLMDecoder, PromptTooLongError
from wav2prompt_plugin.llm.dictionary import LLMDictionary
from wav2prompt_plugin.llm.loading import llm_fingerprint, load_frozen_llm, load_llm_tokenizer


def make_decoder(path):
    tokenizer = load_llm_tokenizer(path)
    llm = load_frozen_llm(path)
    return FrozenLLMDecoder(LLMDictionary(tokenizer, llm.config.vocab_size), llm)


@pytest.fixture(scope="module", params=["llama", "bloom"])
def decoder(request, tiny_llm, bloom_llm):
    """The same decoder over LLaMA (rotary positions) and BLOOM (ALiBi, no position ids)."""
    return make_decoder(tiny_llm if request.param == "llama" else bloom_llm)


def encoder_out(decoder, seed=0):
    """Three utterances with prefix/speech/postfix of different lengths."""
    g = torch.Generator().manual_seed(seed)
    pad = decoder.dictionary.pad()
    prefix = torch.tensor([[1, 20, 21], [1, 22, pad], [1, pad, pad]])
    postfix = torch.tensor([[30, 31], [32, pad], [33, 34]])
    speech = torch.randn(3, 5, decoder.embed_dim, generator=g)
    return {
        "speech_prompt": [speech],
        "speech_prompt_lengths": [torch.tensor([5, 2, 4])],
        "prompt_prefix_tokens": [prefix],
        "prompt_prefix_lengths": [torch.tensor([3, 2, 1])],
        "prompt_postfix_tokens": [postfix],
        "prompt_postfix_lengths": [torch.tensor([2, 1, 2])],
    }


def test_prompt_is_left_padded_concatenation(decoder):
    out = encoder_out(decoder)
    prompt, mask = decoder.build_prompt(out)
    emb = decoder.embed_tokens
    for b, (p, s, q) in enumerate([(3, 5, 2), (2, 2, 1), (1, 4, 2)]):
        expected = torch.cat([
            emb(out["prompt_prefix_tokens"][0][b, :p]),
            out["speech_prompt"][0][b, :s],
            emb(out["prompt_postfix_tokens"][0][b, :q]),
        ])
        width = prompt.size(1)
        assert mask[b].tolist() == [0] * (width - len(expected)) + [1] * len(expected)
        torch.testing.assert_close(prompt[b, width - len(expected):], expected)
        assert prompt[b, : width - len(expected)].abs().sum() == 0


def test_left_padding_does_not_change_logits(decoder):
    """An utterance decoded in a padded batch scores as if it were alone."""
    out = encoder_out(decoder)
    prev = torch.tensor([[2, 40, 41, 42]] * 3)
    batch_logits, _ = decoder(prev, encoder_out=out)
    for b in range(3):
        alone = {k: [v[0][b : b + 1]] for k, v in out.items()}
        logits, _ = decoder(prev[b : b + 1], encoder_out=alone)
        torch.testing.assert_close(logits[0], batch_logits[b], atol=1e-5, rtol=1e-5)


def test_incremental_equals_full_with_beam_reordering(decoder):
    out = encoder_out(decoder)
    steps = torch.tensor([[2, 40, 41, 42, 43], [2, 50, 51, 52, 53], [2, 60, 61, 62, 63]])
    state = {}
    reordered_rows = torch.arange(3)
    for t in range(steps.size(1)):
        if t == 2:  # a beam step: rows swap places and one row is duplicated
            order = torch.tensor([2, 0, 0])
            decoder.reorder_incremental_state(state, order)
            out = {k: [v[0].index_select(0, order)] for k, v in out.items()}
            reordered_rows = reordered_rows[order]
            steps = steps.index_select(0, order)
        logits, _ = decoder(steps[:, : t + 1], encoder_out=out, incremental_state=state)
        full, _ = decoder(steps[:, : t + 1], encoder_out=out)
        assert logits.shape == (3, 1, decoder.llm.config.vocab_size)
        torch.testing.assert_close(logits[:, -1], full[:, -1], atol=1e-4, rtol=1e-4)
    assert reordered_rows.tolist() == [2, 0, 0]


def test_llm_frozen_but_gradients_reach_prompt(decoder):
    decoder.train()
    assert not decoder.llm.training, "the LLM must stay in eval mode (no dropout)"
    assert all(not p.requires_grad for p in decoder.llm.parameters())
    out = encoder_out(decoder)
    speech = out["speech_prompt"][0].requires_grad_()
    logits, _ = decoder(torch.tensor([[2, 40], [2, 41], [2, 42]]), encoder_out=out)
    logits.sum().backward()
    assert speech.grad is not None and speech.grad.abs().sum() > 0
    assert all(p.grad is None for p in decoder.llm.parameters())
    decoder.eval()


def test_state_dict_excludes_llm(decoder):
    assert not any(k.startswith("llm.") for k in decoder.state_dict())
    decoder.load_state_dict(decoder.state_dict(), strict=True)


def test_prompt_longer_than_llm_positions_is_refused(tiny_llm):
    decoder = make_decoder(tiny_llm)  # LLaMA: 256 positions (ALiBi models have no limit)
    out = encoder_out(decoder)
    out["speech_prompt"] = [torch.randn(3, 300, decoder.embed_dim)]
    out["speech_prompt_lengths"] = [torch.tensor([300, 2, 4])]
    with pytest.raises(PromptTooLongError, match="exceeds the LLM's maximum of 256"):
        decoder(torch.tensor([[2], [2], [2]]), encoder_out=out)


def test_dictionary_is_the_llm_vocabulary(tiny_llm):
    tokenizer = load_llm_tokenizer(tiny_llm)
    d = LLMDictionary(tokenizer, len(tokenizer) + 3)  # LLMs may pad their embedding matrix
    assert len(d) == len(tokenizer) + 3
    ids = tokenizer("the cat sleeps", add_special_tokens=False)["input_ids"]
    assert d.pieces_to_ids(d.string(torch.tensor(ids))) == ids
    assert (d.eos(), d.pad(), d.unk()) == (tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id)
    assert d.bos() == d.eos()  # fairseq's first decoder input, which the prompt replaces
    assert all(d[i] == tokenizer.convert_ids_to_tokens(i) for i in range(len(tokenizer)))


def test_fingerprint_tells_llms_apart(tiny_llm, other_llm):
    a, b = load_frozen_llm(tiny_llm), load_frozen_llm(other_llm)
    assert llm_fingerprint(a) != llm_fingerprint(b)
    assert llm_fingerprint(a) == llm_fingerprint(load_frozen_llm(tiny_llm, "bf16"))


def test_beam_rows_share_one_prefill_and_decode_as_before(decoder):
    """Beam copies of an utterance: the prompt runs through the LLM once per
    utterance, and every step's logits equal those of the full forward."""
    out = encoder_out(decoder)
    out["utterance_rows"] = [torch.arange(3)]
    order = torch.tensor([0, 0, 1, 1, 2, 2])  # beam 2, as SequenceGenerator expands
    beams = {k: [v[0].index_select(0, order)] for k, v in out.items()}
    batch_sizes = []
    hook = decoder.llm.register_forward_pre_hook(
        lambda m, a, kw: batch_sizes.append(kw["inputs_embeds"].size(0)), with_kwargs=True
    )
    steps = torch.tensor([[2, 40, 41], [2, 50, 51], [2, 60, 61]]).index_select(0, order)
    state = {}
    try:
        for t in range(steps.size(1)):
            logits, _ = decoder(steps[:, : t + 1], encoder_out=beams, incremental_state=state)
            full, _ = decoder(steps[:, : t + 1], encoder_out=beams)
            torch.testing.assert_close(logits[:, -1], full[:, -1], atol=1e-4, rtol=1e-4)
    finally:
        hook.remove()
    assert batch_sizes[::2] == [3, 6, 6]  # incremental calls: the prefill ran on 3 rows


def test_activation_checkpointing_gives_the_same_prompt_gradients(tiny_llm, bloom_llm):
    for path in (tiny_llm, bloom_llm):
        plain = make_decoder(path)
        tokenizer = load_llm_tokenizer(path)
        llm = load_frozen_llm(path)
        calls = []
        for layer in llm.modules():
            if type(layer).__name__ in ("LlamaDecoderLayer", "BloomBlock"):
                layer.mlp.register_forward_pre_hook(lambda *_: calls.append(1))
        checkpointed = FrozenLLMDecoder(LLMDictionary(tokenizer, llm.config.vocab_size), llm,
                                        activation_checkpointing=True).train()
        grads = []
        for decoder in (plain.train(), checkpointed):
            out = encoder_out(decoder)
            speech = out["speech_prompt"][0].requires_grad_()
            logits, _ = decoder(torch.tensor([[2, 40, 41], [2, 41, 42], [2, 42, 43]]), encoder_out=out)
            logits.logsumexp(-1).sum().backward()
            grads.append(speech.grad)
        torch.testing.assert_close(grads[1], grads[0], atol=1e-6, rtol=1e-6)
        layers = llm.config.num_hidden_layers if hasattr(llm.config, "num_hidden_layers") else llm.config.n_layer
        assert len(calls) == 2 * layers  # forward, then the recompute in backward


def save_llm(src, out, dtype, config_dtype=True):
    """The LLM of `src` saved in `dtype`; without `config_dtype`, its config.json
    says nothing of a dtype (as some older saves)."""
    import json
    import os

    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(src, dtype=dtype).save_pretrained(out)
    if not config_dtype:
        path = os.path.join(out, "config.json")
        with open(path) as f:
            config = json.load(f)
        config.pop("dtype", None)
        config.pop("torch_dtype", None)
        with open(path, "w") as f:
            json.dump(config, f)
    return str(out)


def tensor_dtypes(llm):
    return {t.dtype for t in llm.parameters()}


def test_auto_dtype_is_the_saved_one_and_explicit_dtypes_override(tiny_llm, tmp_path):
    bf16 = save_llm(tiny_llm, tmp_path / "bf16", torch.bfloat16)
    fp32 = save_llm(tiny_llm, tmp_path / "fp32", torch.float32)
    assert tensor_dtypes(load_frozen_llm(bf16)) == {torch.bfloat16}
    assert tensor_dtypes(load_frozen_llm(fp32, "auto")) == {torch.float32}
    assert tensor_dtypes(load_frozen_llm(bf16, "fp32")) == {torch.float32}
    assert tensor_dtypes(load_frozen_llm(fp32, "bf16")) == {torch.bfloat16}
    assert tensor_dtypes(load_frozen_llm(fp32, "fp16")) == {torch.float16}


def test_auto_dtype_without_a_saved_dtype_follows_the_device(tiny_llm, tmp_path):
    from transformers import AutoConfig

    from wav2prompt_plugin.llm.loading import resolve_llm_dtype

    silent = save_llm(tiny_llm, tmp_path / "silent", torch.bfloat16, config_dtype=False)
    assert tensor_dtypes(load_frozen_llm(silent)) == {torch.float32}  # on the CPU
    config = AutoConfig.from_pretrained(silent)
    assert resolve_llm_dtype(config, "auto", torch.device("cuda", 0)) == "bf16"
    assert resolve_llm_dtype(config, "auto", torch.device("cpu")) == "fp32"
    assert resolve_llm_dtype(config, "fp16", torch.device("cuda", 0)) == "fp16"


def test_auto_dtype_of_an_llm_saved_in_fp16_is_bf16(tiny_llm, tmp_path):
    """LLaMA-2's config says float16: `auto` trains it in bf16, which the
    precision rules accept, where fp16 would be refused in training."""
    fp16 = save_llm(tiny_llm, tmp_path / "fp16", torch.float16)
    assert tensor_dtypes(load_frozen_llm(fp16)) == {torch.bfloat16}
    assert tensor_dtypes(load_frozen_llm(fp16, "fp16")) == {torch.float16}


def test_llm_loads_on_the_requested_device(tiny_llm):
    llm = load_frozen_llm(tiny_llm, device=torch.device("cpu"))
    assert {t.device for t in [*llm.parameters(), *llm.buffers()]} == {torch.device("cpu")}


def test_models_read_fairseqs_cpu_flag_only_where_it_is_resolved(tiny_llm, monkeypatch):
    """fairseq-train resolves `cpu` to common.cpu; configs built by hand leave it unresolved."""
    from omegaconf import OmegaConf

    from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig
    from wav2prompt_plugin.llm import loading as frozen_llm

    asked = []
    monkeypatch.setattr(frozen_llm, "llm_device", lambda cpu: asked.append(cpu) or torch.device("cpu"))
    monkeypatch.setattr(frozen_llm, "load_frozen_llm", lambda *args: None)
    task = SimpleNamespace(cfg=SimpleNamespace(llm_path=tiny_llm))
    cfg = Wav2PromptConfig()
    for common_cpu in (True, False):
        root = OmegaConf.create({"common": {"cpu": common_cpu}, "model": OmegaConf.structured(cfg)})
        frozen_llm.build_frozen_llm(root.model, task)
    frozen_llm.build_frozen_llm(cfg, task)
    frozen_llm.build_frozen_llm(OmegaConf.structured(cfg), task)
    assert asked == [True, False, False, False]


def test_rope_frequencies_stay_fp32_in_a_bf16_llm(tiny_llm):
    buffers = {
        dtype: {n: b for n, b in load_frozen_llm(tiny_llm, dtype).named_buffers() if n.endswith("inv_freq")}
        for dtype in ("fp32", "bf16")
    }
    assert buffers["bf16"] and buffers["bf16"].keys() == buffers["fp32"].keys()
    for name, freq in buffers["bf16"].items():
        assert freq.dtype == torch.float32, name
        assert torch.equal(freq, buffers["fp32"][name]), name


def test_ddp_neither_broadcasts_nor_tracks_the_frozen_llm(tiny_llm, tmp_path, monkeypatch):
    """A plugin model wrapped in torch DDP (gloo, world size 1), as fairseq's
    pytorch_ddp wraps it: the LLM's weights are not broadcast from rank 0 at
    construction nor reduced in backward; the trained parameters are both."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig, Wav2PromptModel
    from wav2prompt_plugin.tasks.wav2prompt import Wav2PromptTask, Wav2PromptTaskConfig

    task = Wav2PromptTask.setup_task(Wav2PromptTaskConfig(llm_path=tiny_llm))
    cfg = Wav2PromptConfig(encoder_type="transformer", conv_kernel_sizes="3,3", conv_channels=12,
                           encoder_embed_dim=14, encoder_ffn_embed_dim=22, encoder_layers=1,
                           encoder_attention_heads=2, max_source_positions=6000)
    model = Wav2PromptModel.build_model(cfg, task)
    llm = model.decoder.llm
    llm_storage = {t.data_ptr() for t in [*llm.parameters(), *llm.buffers()]}
    broadcast = []
    original = dist._broadcast_coalesced
    monkeypatch.setattr(dist, "_broadcast_coalesced",
                        lambda group, tensors, *args: broadcast.extend(tensors) or original(group, tensors, *args))
    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        ddp = DistributedDataParallel(model, device_ids=None)
        trained = [p for p in model.parameters() if p.requires_grad]
        assert {p.data_ptr() for p in ddp._module_parameters} == {p.data_ptr() for p in trained}
        assert {f"decoder.llm.{n}" for n, _ in llm.named_parameters()} <= ddp.parameters_to_ignore
        assert {f"decoder.llm.{n}" for n, _ in llm.named_buffers()} <= ddp.parameters_to_ignore
        assert not llm_storage & {t.data_ptr() for t in [*broadcast, *ddp.modules_buffers]}
        assert {p.data_ptr() for p in trained} <= {t.data_ptr() for t in broadcast}
    finally:
        dist.destroy_process_group()
