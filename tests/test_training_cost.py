"""Training FLOPs from the criterion's counts: the frozen LLM's against benchmarks/flops_model.py's
formula, the trained part's against torch's FlopCounterMode on the real modules."""
import os
import sys

import pytest
import torch

from wav2prompt_plugin.evaluation.training_cost import llm_train_flops, run_counts, speech_train_flops

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def test_llm_flops_are_the_benchmarks_model_summed_over_sequences():
    from flops_model import llm_flops
    from transformers import LlamaConfig, LlamaForCausalLM

    small = dict(d=48, layers=2, heads=4, kv_heads=2, ffn=96, vocab=300)
    llm = LlamaForCausalLM(LlamaConfig(
        hidden_size=small["d"], num_hidden_layers=small["layers"], num_attention_heads=small["heads"],
        num_key_value_heads=small["kv_heads"], intermediate_size=small["ffn"], vocab_size=small["vocab"]))
    lengths, logits = [17, 30], [6, 11]  # two sequences: attention is quadratic in each
    expected = sum(sum(llm_flops(n, k, small)[part] for part in ("forward", "backward"))
                   for n, k in zip(lengths, logits))
    got = llm_train_flops(llm, sum(lengths), sum(n * n for n in lengths), sum(logits))
    assert got == pytest.approx(expected, rel=1e-12)


def test_trained_part_flops_match_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

    from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig, Wav2PromptEncoder, wav2prompt_tiny

    torch.manual_seed(0)
    cfg = Wav2PromptConfig()
    cfg.conv_kernel_sizes, cfg.projector_hidden_dim, cfg.max_source_positions = "3,3,3", 256, 3000
    cfg.ctc_head = True
    wav2prompt_tiny(cfg)
    encoder = Wav2PromptEncoder(cfg, llm_embed_dim=128, llm_embed_rms=0.05, vocab_size=500).train()
    frames, tokens = [640, 400], [14, 9]
    fbank = torch.randn(2, max(frames), 80)

    def conv_backward(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                      _output_padding, _groups, output_mask, out_shape, **kwargs):
        forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)
        return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))

    prompt = {k: torch.zeros(1, 0, dtype=torch.long) for k in Wav2PromptEncoder.PROMPT_KEYS}
    counted = 0
    for i in range(2):  # one utterance at a time: no padding in the count
        with FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: conv_backward}) as c:
            out = encoder(fbank[i:i + 1, :frames[i]], torch.tensor([frames[i]]), torch.tensor([tokens[i]]),
                          **prompt)
            (out["speech_prompt"][0].sum() + out["cif_weight_sum"][0].sum() + out["ctc_logits"][0].sum()).backward()
        counted += c.get_total_flops()
    model = speech_train_flops(encoder, sum(frames), sum(f * f for f in frames), sum(tokens))
    assert model == pytest.approx(counted, rel=0.03)


def test_run_counts_read_fairseqs_default_aggregator():
    state = {"extra_state": {"metrics": {"default": [
        (900, "llm_positions", "SumMeter", {"sum": 1234.0, "round": None}),
        (800, "train_wall", "StopwatchMeter", {"sum": 56.5, "n": 3, "round": 0}),
        (10, "loss", "AverageMeter", {"val": 1.0, "sum": 3.0, "count": 3, "round": 3}),
    ]}}}
    counts = run_counts(state)
    assert counts["llm_positions"] == 1234.0 and counts["train_wall"] == 56.5
    assert run_counts({"extra_state": None}) == {}
