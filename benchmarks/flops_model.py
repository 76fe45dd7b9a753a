"""FLOPs of one Wav2Prompt training update at paper scale (LibriSpeech 960 h,
`wav2prompt_base`, a frozen LLaMA-2-7B), the LLM's share of it, and the time
of one epoch on 8 GPUs.

    python benchmarks/flops_model.py [--mfu 0.35] [--measured gpu_check.json] [--llm-free-fraction 0.84] [--update-factor 1.5]
                                     [--no-count] [--json]

The model, per utterance of T fbank frames (10 ms) whose transcript is U LLM
tokens, in a batch of B utterances (matrix products and convolutions only;
norms, activations, softmax and the CIF's integration are left out, as MFU
figures usually do):

- conv subsampler (fairseq Conv1dSubsampler, `5,5`, 1024 channels, GLU):
  conv i has 80 (i = 0) or 512 input channels, 1024 output channels, stride 2;
  T1 = ceil(T / 2), T' = ceil(T1 / 2) frames out. Then a 512 x 512 linear.
- each of the 12 Conformer layers (width d 512, FFN f 2048, depthwise kernel 31,
  espnet relative-position attention), per frame: two FFNs 8 d f, q/k/v/out
  4 x 2 d^2, convolution module 2 d 2d + 2 x 31 d + 2 d^2; per utterance the
  attention products 2 d T' (4 T' - 1) (content, position over 2T' - 1
  relative positions, weighted sum); per batch the position projection
  2 d^2 (2 T' - 1) (its positions are shared by the batch; no input gradient).
- CIF weight predictor: Conv1d(d, d, 3) + Linear(d, 1) per frame; projector
  Linear(d, 4096) per fired vector (U in training).
- trained part backward = 2 x forward (input and weight gradients), except the
  first convolution (its input is the fbank: weight gradients only).
- frozen LLM over L = P + U + Q + U positions (P prefix with bos, E_s of U
  vectors, Q postfix, then the target shifted right; U + 1 logits kept): forward
  2 N L + 4 n d L^2 (attention with a padding mask, so not halved for
  causality) + 2 d V (U + 1) (LM head); backward to E_s computes input
  gradients only (frozen weights: no weight gradients), 2 N L + 2.5 x 4 n d L^2
  (attention backward: 5 products where the forward has 2) + 2 d V (U + 1);
  activation checkpointing adds one forward of the layers but their last
  product (the MLP's down projection: with a frozen weight its input gradient
  needs no saved input, and the recompute stops at the last tensor the backward
  needs), 2 (N - n d f_llm) L + 4 n d L^2.
  N = n (d (d + 2 d_kv) + d^2 + 3 d f_llm) for LLaMA; LLaMA-2-7B: 6.48e9.

Model FLOPs (for MFU) are forward + backward; the recompute of activation
checkpointing is counted separately (hardware FLOPs). A batch holds
max_tokens // T mean utterances (16; a multiple of 8, as fairseq's default
--required-batch-size-multiple wants: longer utterances get batches of 8, see
benchmarks/README.md). Unless --no-count, the script checks the analytic
model against torch's FlopCounterMode on the plugin's own modules: the real
`wav2prompt_base` encoder, CIF weight predictor and projector (forward and
backward at T frames), and a small frozen LLaMA with and without the plugin's
activation checkpointing.
"""
import argparse
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from side_by_side import print_json, print_table  # noqa: E402

# LibriSpeech 960 h (train-clean-100 + train-clean-360 + train-other-500)
LIBRISPEECH_UTTERANCES = 281241
LIBRISPEECH_HOURS = 960.9
# assumptions, stated: read speech at 2.7 words/s, LLaMA-2's tokenizer ~1.3 tokens a word
WORDS_PER_S = 2.7
TOKENS_PER_WORD = 1.3
# "<s> Repeat the English text. Text:" / "Repeat:" (the recipe's llama2 ASR template):
# an estimate of LLaMA-2's pieces, bos included
PREFIX_TOKENS, POSTFIX_TOKENS = 8, 2
# bf16 dense matrix-product rate of one H200 as measured on the lent machines (an 8192^3
# bf16 GEMM ran at 769-798 TFLOP/s); NVIDIA's datasheet figure for the H200 SXM is 989
PEAK_TFLOPS = 790.0

BASE_ENCODER = dict(feat=80, conv_kernels=(5, 5), conv_channels=1024, d=512, ffn=2048, layers=12,
                    depthwise_kernel=31, cif_kernel=3)
LLAMA2_7B = dict(d=4096, layers=32, heads=32, kv_heads=32, ffn=11008, vocab=32000)


def conv_out(n: int, k: int) -> int:
    return (n + 2 * (k // 2) - k) // 2 + 1


def encoder_flops(frames: int, tokens: int, llm_d: int, enc=BASE_ENCODER, batch: float = 1.0) -> dict:
    """Forward and backward FLOPs of the trained part for one utterance."""
    d, f = enc["d"], enc["ffn"]
    n, convs = frames, []
    for i, k in enumerate(enc["conv_kernels"]):
        cin = enc["feat"] if i == 0 else enc["conv_channels"] // 2
        cout = enc["conv_channels"] if i < len(enc["conv_kernels"]) - 1 else 2 * d
        n = conv_out(n, k)
        convs.append(2 * cin * cout * k * n)
    t = n  # T'
    sub_fwd = sum(convs) + 2 * d * d * t  # + the linear after the subsampler
    sub_bwd = 2 * sub_fwd - convs[0]  # first conv: weight gradients only
    per_frame = 8 * d * f + 8 * d * d + (4 * d * d + 2 * enc["depthwise_kernel"] * d + 2 * d * d)
    positions = enc["layers"] * 2 * d * d * (2 * t - 1) / batch  # their input needs no gradient
    conformer_fwd = enc["layers"] * (per_frame * t + 2 * d * t * (4 * t - 1)) + positions
    cif_fwd = (2 * d * d * enc["cif_kernel"] + 2 * d) * t
    proj_fwd = 2 * d * llm_d * tokens
    return {
        "frames_out": t,
        "subsampler": (sub_fwd, sub_bwd),
        "conformer": (conformer_fwd, 2 * conformer_fwd - positions),
        "cif_predictor": (cif_fwd, 2 * cif_fwd),
        "projector": (proj_fwd, 2 * proj_fwd),
    }


def llm_params(llm=LLAMA2_7B) -> float:
    d = llm["d"]
    kv = d * llm["kv_heads"] // llm["heads"]
    return llm["layers"] * (d * (d + 2 * kv) + d * d + 3 * d * llm["ffn"])


def llm_flops(positions: float, logits: float, llm=LLAMA2_7B, attention_backward: float = 2.5) -> dict:
    """Forward, backward to the inputs (frozen weights) and recompute FLOPs of one sequence.
    attention_backward: 2.5 for a fused (flash / memory-efficient) kernel, which recomputes the
    scores; 2 for eager matrix products."""
    n_params, d, n = llm_params(llm), llm["d"], llm["layers"]
    layers = 2 * n_params * positions
    attention = 4 * n * d * positions ** 2
    head = 2 * d * llm["vocab"] * logits
    # the recompute stops at the last tensor the backward needs: the MLP's down projection needs
    # no input for its input gradient when its weight is frozen, so it is not recomputed
    down = 2 * n * d * llm["ffn"] * positions
    return {"forward": layers + attention + head, "backward": layers + attention_backward * attention + head,
            "recompute": layers - down + attention}


def utterance_flops(frames: int, tokens: int, llm=LLAMA2_7B, enc=BASE_ENCODER, prefix=PREFIX_TOKENS,
                    postfix=POSTFIX_TOKENS, batch: float = 1.0) -> dict:
    """Every part's forward and backward FLOPs for one training utterance."""
    parts = encoder_flops(frames, tokens, llm["d"], enc, batch)
    positions = prefix + tokens + postfix + tokens
    lm = llm_flops(positions, tokens + 1, llm)
    parts.update({"llm": (lm["forward"], lm["backward"]), "llm_recompute": (0.0, lm["recompute"]),
                  "llm_positions": positions})
    return parts


def totals(parts: dict) -> dict:
    names = ("subsampler", "conformer", "cif_predictor", "projector", "llm")
    model = sum(sum(parts[k]) for k in names)
    llm = sum(parts["llm"])
    recompute = parts["llm_recompute"][1]
    return {"model": model, "llm_share": llm / model, "with_recompute": model + recompute,
            "llm_share_checkpointing": (llm + recompute) / (model + recompute)}


def paper_scale(args) -> dict:
    seconds = LIBRISPEECH_HOURS * 3600 / LIBRISPEECH_UTTERANCES
    frames = round(seconds * 100)
    words = WORDS_PER_S * seconds
    tokens = round(TOKENS_PER_WORD * words)
    per_batch = args.max_tokens // frames  # fairseq batch_by_size: whole utterances under --max-tokens
    parts = utterance_flops(frames, tokens, batch=per_batch)
    tot = totals(parts)
    updates = math.ceil(LIBRISPEECH_UTTERANCES / (per_batch * args.gpus))
    epoch = tot["model"] * LIBRISPEECH_UTTERANCES
    epoch_ckpt = tot["with_recompute"] * LIBRISPEECH_UTTERANCES

    def seconds_at(flops, mfu):  # model FLOPs at that MFU; the recompute costs time, not MFU
        return flops / (args.peak_tflops * 1e12 * mfu)

    result = {
        "assumptions": {"seconds_per_utterance": round(seconds, 2), "frames": frames,
                        "words": round(words, 1), "tokens": tokens, "prefix_tokens": PREFIX_TOKENS,
                        "postfix_tokens": POSTFIX_TOKENS, "utterances_per_batch": per_batch,
                        "max_tokens": args.max_tokens, "gpus": args.gpus, "mfu": args.mfu,
                        "peak_tflops": args.peak_tflops},
        "frames_out": parts["frames_out"], "llm_positions": parts["llm_positions"],
        "per_utterance_gflops": {k: [round(parts[k][0] / 1e9, 2), round(parts[k][1] / 1e9, 2)]
                                 for k in ("subsampler", "conformer", "cif_predictor", "projector", "llm",
                                           "llm_recompute")},
        "utterance_tflops": round(tot["model"] / 1e12, 3),
        "llm_share": round(tot["llm_share"], 4),
        "llm_share_checkpointing": round(tot["llm_share_checkpointing"], 4),
        "update_tflops_per_gpu": round(tot["model"] * per_batch / 1e12, 1),
        "update_tflops_per_gpu_checkpointing": round(tot["with_recompute"] * per_batch / 1e12, 1),
        "epoch_updates": updates,
        "epoch_pflops": round(epoch / 1e15, 1),
        "s_per_update": round(seconds_at(tot["model"] * per_batch, args.mfu), 3),
        "s_per_update_checkpointing": round(seconds_at(tot["with_recompute"] * per_batch, args.mfu), 3),
        "audio_s_per_s": round(seconds * per_batch / seconds_at(tot["model"] * per_batch, args.mfu)),
        "epoch_minutes": round(seconds_at(epoch, args.mfu) / args.gpus / 60, 1),
        "epoch_minutes_checkpointing": round(seconds_at(epoch_ckpt, args.mfu) / args.gpus / 60, 1),
        "llm_params": llm_params(),
    }
    # an LLM-free update (criterion --llm-free-updates) runs the trained part alone
    free = 1 - tot["llm_share"]
    f, k = args.llm_free_fraction, args.update_factor
    schedule = k * ((1 - f) + f * free)  # of the paper's training FLOPs (its updates, the LLM at each)
    epoch_gpu_hours = seconds_at(epoch, args.mfu) / 3600
    result["llm_free"] = {"fraction": f, "update_factor": k, "llm_positions_share": round(k * (1 - f), 4),
                          "update_share": round(free, 4), "schedule_share": round(schedule, 4),
                          "epoch_gpu_hours": round(epoch_gpu_hours, 2),
                          "epoch_gpu_hours_schedule": round(epoch_gpu_hours * schedule, 2)}
    if args.measured:
        result["measured"] = from_measurement(args.measured, args.gpus)
    return result


def from_measurement(path: str, gpus: int) -> dict:
    """Epoch time on `gpus` GPUs from benchmarks/gpu_check.sh's JSON (audio seconds per second
    of one GPU, data-parallel scaling assumed linear), and its measured MFU."""
    with open(path) as f:
        measured = json.load(f)
    out = {"source": path, "device": measured.get("device")}
    for name, variant in measured.get("variants", {}).items():
        rate = variant.get("audio_s_per_s")
        if rate:
            out[name] = {"audio_s_per_s": rate, "mfu": variant.get("mfu"),
                         "epoch_minutes": round(LIBRISPEECH_HOURS * 3600 / (gpus * rate) / 60, 1)}
    return out


def count(frames: int, tokens: int) -> dict:
    """FlopCounterMode on the plugin's own modules against the analytic model."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, conv_flop_count
    from transformers import LlamaConfig, LlamaForCausalLM

    from wav2prompt_plugin.models.speech_encoder import build_speech_encoder
    from wav2prompt_plugin.models.speech_prompt import build_projector
    from wav2prompt_plugin.models.wav2prompt import Wav2PromptConfig, wav2prompt_base
    from wav2prompt_plugin.modules.cif import CifWeightPredictor
    from wav2prompt_plugin.llm.loading import checkpoint_llm_layers

    torch.manual_seed(0)
    cfg = Wav2PromptConfig()
    cfg.pos_enc_type = None
    wav2prompt_base(cfg)
    cfg.max_source_positions = 6000
    encoder = build_speech_encoder(cfg)
    cif = CifWeightPredictor(cfg.encoder_embed_dim, cfg.cif_conv_kernel_size)
    projector = build_projector(cfg.encoder_embed_dim, LLAMA2_7B["d"], 0)
    fbank = torch.randn(1, frames, 80)

    def conv_backward(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                      _output_padding, _groups, output_mask, out_shape, **kwargs):
        # torch's own formula ignores groups in the weight gradient (the depthwise convolution's
        # is counted 512x); either gradient of a convolution costs what its forward costs
        forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)
        return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))

    mapping = {torch.ops.aten.convolution_backward: conv_backward}

    def encoder_pass(backward):
        with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
            out = encoder(fbank, torch.tensor([frames]))["encoder_out"][0].transpose(0, 1)
            alpha = cif(out, None)
            prompt = projector(out[:, :tokens])
            if backward:
                (prompt.sum() + alpha.sum()).backward()
        return counter.get_total_flops()

    analytic = encoder_flops(frames, tokens, LLAMA2_7B["d"])
    keys = ("subsampler", "conformer", "cif_predictor", "projector")
    result = {"encoder_frames": frames,
              "encoder_forward": [encoder_pass(False), sum(analytic[k][0] for k in keys)],
              "encoder_forward_backward": [encoder_pass(True), sum(sum(analytic[k]) for k in keys)]}

    small = dict(d=96, layers=3, heads=3, kv_heads=3, ffn=256, vocab=1000)
    config = LlamaConfig(hidden_size=small["d"], num_hidden_layers=small["layers"],
                         num_attention_heads=small["heads"], num_key_value_heads=small["kv_heads"],
                         intermediate_size=small["ffn"], vocab_size=small["vocab"],
                         attn_implementation="eager")  # CPU SDPA kernels are not counted by torch
    llm = LlamaForCausalLM(config).eval().requires_grad_(False)
    positions = PREFIX_TOKENS + tokens + POSTFIX_TOKENS + tokens

    def llm_pass(backward):
        embeds = torch.randn(1, positions, small["d"], requires_grad=True)
        mask = torch.ones(1, positions, dtype=torch.long)
        with FlopCounterMode(display=False) as counter:
            logits = llm(inputs_embeds=embeds, attention_mask=mask, use_cache=False,
                         logits_to_keep=tokens + 1).logits
            if backward:
                logits.float().sum().backward()
        return counter.get_total_flops()

    lm = llm_flops(positions, tokens + 1, small, attention_backward=2.0)
    result["llm_config"] = small
    result["llm_positions"] = positions
    result["llm_forward"] = [llm_pass(False), lm["forward"]]
    result["llm_forward_backward"] = [llm_pass(True), lm["forward"] + lm["backward"]]
    checkpoint_llm_layers(llm)
    result["llm_forward_backward_checkpointing"] = [llm_pass(True), lm["forward"] + lm["backward"] + lm["recompute"]]
    for key in [k for k, v in result.items() if isinstance(v, list)]:
        counted, model = result[key]
        result[key] = {"counted": counted, "model": model, "ratio": round(counted / model, 4)}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-tokens", type=int, default=20000, help="fbank frames per GPU batch (the recipe's)")
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--mfu", type=float, default=0.35, help="assumed model FLOPs utilisation")
    parser.add_argument("--peak-tflops", type=float, default=PEAK_TFLOPS, help="bf16 dense peak of one GPU")
    parser.add_argument("--measured", help="benchmarks/gpu_check.sh's JSON: project the epoch from it too")
    # the mini recipe's schedule: 84% of 1.5x the paper's updates LLM-free (recipes/mini/RESULTS.md)
    parser.add_argument("--llm-free-fraction", type=float, default=0.84,
                        help="share of LLM-free updates (an LLM-free first stage) for the projection")
    parser.add_argument("--update-factor", type=float, default=1.5,
                        help="the projected schedule's updates, per update of the paper's")
    parser.add_argument("--no-count", action="store_true", help="skip the FlopCounterMode check")
    parser.add_argument("--quick", action="store_true", help="the check at 301 frames instead of the mean length")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args()

    result = paper_scale(args)
    a = result["assumptions"]
    print(f"One utterance: {a['seconds_per_utterance']} s = {a['frames']} frames -> {result['frames_out']} "
          f"encoder frames; {a['words']} words -> U = {a['tokens']} LLaMA tokens; LLM positions "
          f"P + U + Q + U = {result['llm_positions']}; {a['utterances_per_batch']} utterances per "
          f"{a['max_tokens']}-frame batch")
    print()
    g = result["per_utterance_gflops"]
    model = result["utterance_tflops"] * 1e3
    rows = [[name, g[name][0], g[name][1], sum(g[name]), f"{100 * sum(g[name]) / model:.1f}%"]
            for name in ("subsampler", "conformer", "cif_predictor", "projector", "llm")]
    rows.append(["total", sum(g[n][0] for n in g), sum(g[n][1] for n in g if n != "llm_recompute"), model, "100%"])
    rows.append(["llm_recompute", 0.0, g["llm_recompute"][1], g["llm_recompute"][1],
                 f"+{100 * g['llm_recompute'][1] / model:.1f}%"])
    print_table(["part", "fwd GFLOP", "bwd GFLOP", "fwd+bwd GFLOP", "share"], rows)
    print()
    print(f"LLM share: {100 * result['llm_share']:.1f}% of the model FLOPs "
          f"({100 * result['llm_share_checkpointing']:.1f}% with activation checkpointing's recompute)")
    print()
    rows = [["per GPU update (model FLOPs)", f"{result['update_tflops_per_gpu']} TFLOP",
             f"{result['update_tflops_per_gpu_checkpointing']} TFLOP with recompute"],
            [f"epoch: {LIBRISPEECH_UTTERANCES:,} utterances, {LIBRISPEECH_HOURS} h",
             f"{result['epoch_pflops']} PFLOP", f"{result['epoch_updates']} updates on {a['gpus']} GPUs"],
            [f"one update at MFU {a['mfu']:.0%} of {a['peak_tflops']:.0f} TFLOP/s", f"{result['s_per_update']} s",
             f"{result['s_per_update_checkpointing']} s with checkpointing; "
             f"{result['audio_s_per_s']} audio s/s per GPU"],
            [f"epoch time, {a['gpus']} GPUs at MFU {a['mfu']:.0%}",
             f"{result['epoch_minutes']} min", f"{result['epoch_minutes_checkpointing']} min with checkpointing"]]
    for name, m in result.get("measured", {}).items():
        if isinstance(m, dict):
            rows.append([f"epoch time, {a['gpus']} GPUs, measured ({name})", f"{m['epoch_minutes']} min",
                         f"{m['audio_s_per_s']} audio s/s per GPU, MFU {m['mfu']}"])
    lf = result["llm_free"]
    rows.append([f"an LLM-free update (--llm-free-updates)", f"{100 * lf['update_share']:.1f}%",
                 "of an update's model FLOPs: the trained part alone"])
    rows.append([f"GPU hours per epoch of the paper's training: {lf['update_factor']:g}x its updates, "
                 f"{100 * lf['fraction']:.0f}% of them LLM-free",
                 f"{lf['epoch_gpu_hours_schedule']} h", f"{lf['epoch_gpu_hours']} h with the LLM at every update "
                 f"({100 * lf['schedule_share']:.1f}%; LLM positions {100 * lf['llm_positions_share']:.0f}%)"])
    print_table(["what", "value", "note"], rows)

    if not args.no_count:
        frames = 301 if args.quick else a["frames"]
        tokens = 11 if args.quick else a["tokens"]
        result["count"] = c = count(frames, tokens)
        print()
        print(f"Check against torch FlopCounterMode (encoder at {frames} frames, U = {tokens}; "
              f"LLaMA d {c['llm_config']['d']} x {c['llm_config']['layers']} layers, {c['llm_positions']} positions):")
        print()
        rows = [[k, v["counted"] / 1e9, v["model"] / 1e9, v["ratio"]] for k, v in c.items()
                if isinstance(v, dict) and "counted" in v]
        print_table(["pass", "counted GFLOP", "model GFLOP", "ratio"], rows)
    if args.json:
        print_json(result)


if __name__ == "__main__":
    main()
