"""The frozen-LLM decoder: prompt assembly, KV-cache decoding, beams, freezing."""
import pytest
import torch

from wav2prompt_plugin.data.llm_dictionary import LLMDictionary, load_llm_tokenizer
from wav2prompt_plugin.modules.frozen_llm import (
    FrozenLLMDecoder,
    PromptTooLongError,
    llm_fingerprint,
    load_frozen_llm,
)


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
    assert (d.bos(), d.eos(), d.pad(), d.unk()) == (
        tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id
    )
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
