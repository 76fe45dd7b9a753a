"""Decoding: fairseq's SequenceGenerator over the plugin's frozen-LLM decoder
against Hugging Face generate() on the same model and the same prompt.

    python benchmarks/generate.py [--quick] [--json]

A random LLaMA (width 384, 4 layers, 2,048-entry vocabulary) on CPU; a batch
of prompts "Translate into French: <text> French:" whose text part reaches the
LLM as embeddings, as E_s does (HF gets the very same inputs_embeds); exactly
--new-tokens tokens per utterance (eos is banned until then on both sides),
greedy and beam 4, length penalty 1. Also beam 4 with the prompt run once per
beam instead of once per utterance, to measure what sharing the prefill saves.
"""
import argparse
import os
import random
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixtures import make_llm, sentence  # noqa: E402
from side_by_side import finish, interleaved, load_average, print_table  # noqa: E402
from wav2prompt_plugin.data.templates import PromptTemplate  # noqa: E402
from wav2prompt_plugin.llm.prompt_codec import encode_segment  # noqa: E402
from wav2prompt_plugin.inference import LLMGenerator  # noqa: E402
from wav2prompt_plugin.models.text_prompt import TextPromptEncoder, TextPromptModel  # noqa: E402

TEMPLATE = "Translate into French: {speech} French:"


class PrefillPerBeam(TextPromptEncoder):
    """Hides which rows are beams of one utterance: the pre-sharing behaviour."""

    def forward(self, src_tokens, src_lengths, **prompt):
        out = super().forward(src_tokens, src_lengths, **prompt)
        out.pop("utterance_rows")
        return out


def plugin_sample(generator, texts):
    from fairseq.data import data_utils

    template = PromptTemplate(TEMPLATE)
    ids = [torch.tensor(encode_segment(generator.task.tokenizer, t)) for t in texts]
    net_input = generator._prompt_input(template, [{}] * len(texts))
    net_input["src_tokens"] = data_utils.collate_tokens(ids, generator.task.target_dictionary.pad())
    net_input["src_lengths"] = torch.tensor([x.numel() for x in ids])
    return {"id": torch.arange(len(texts)), "net_input": net_input, "target": None}, ids


def hf_inputs(generator, sample):
    """Left-padded inputs_embeds of [bos prefix; text; postfix], as the plugin builds them."""
    net = sample["net_input"]
    rows = []
    for b in range(net["src_tokens"].size(0)):
        rows.append(torch.cat([
            net["prompt_prefix_tokens"][b, : net["prompt_prefix_lengths"][b]],
            net["src_tokens"][b, : net["src_lengths"][b]],
            net["prompt_postfix_tokens"][b, : net["prompt_postfix_lengths"][b]],
        ]))
    width = max(r.numel() for r in rows)
    ids = torch.full((len(rows), width), generator.task.target_dictionary.pad())
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, width - r.numel():] = r
        mask[b, width - r.numel():] = 1
    llm = generator.text_model.decoder.llm
    embeds = llm.get_input_embeddings()(ids) * mask.unsqueeze(-1)
    return embeds, mask


def plugin_tokens(generator, sample, new_tokens):
    hypos = generator.task.inference_step(generator.text_generator, [generator.text_model], sample)
    return [h[0]["tokens"][:new_tokens].tolist() for h in hypos]


def hf_tokens(llm, embeds, mask, new_tokens, beam, dictionary):
    out = llm.generate(
        inputs_embeds=embeds, attention_mask=mask, max_new_tokens=new_tokens,
        min_new_tokens=new_tokens, do_sample=False, num_beams=beam, length_penalty=1.0,
        bad_words_ids=[[dictionary.pad()]], eos_token_id=dictionary.eos(),
        pad_token_id=dictionary.pad(),
    )
    return [row[:new_tokens].tolist() for row in out]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few repeats (a smoke test)")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--work-dir", default=os.path.join(tempfile.gettempdir(), "wav2prompt_bench"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hidden, layers, vocab = 384, 4, 2048
    if args.quick:
        hidden, layers, vocab, args.repeats, args.batch, args.new_tokens = 64, 2, 256, 2, 3, 6
    llm_dir = make_llm(os.path.join(args.work_dir, f"llm_{hidden}x{layers}_v{vocab}"),
                       hidden=hidden, layers=layers, vocab=vocab, heads=4)
    n = args.new_tokens
    greedy = LLMGenerator.from_llm_path(llm_dir, beam=1, max_len_b=n, min_len=n)
    task, decoder = greedy.task, greedy.text_model.decoder
    beam = LLMGenerator(task, decoder, beam=4, max_len_b=n, min_len=n)
    per_beam = LLMGenerator(task, decoder, beam=4, max_len_b=n, min_len=n)
    per_beam.text_model = TextPromptModel(PrefillPerBeam(decoder), decoder).eval()
    per_beam.text_generator = task.build_generator([per_beam.text_model], per_beam.config)

    rng = random.Random(0)
    texts = [sentence(rng, 6, 14) for _ in range(args.batch)]
    sample, _ = plugin_sample(greedy, texts)
    embeds, mask = hf_inputs(greedy, sample)
    llm, dictionary = decoder.llm, task.target_dictionary
    print(f"decoding, LLaMA width {hidden} x {layers} layers, vocabulary {vocab}, batch {args.batch}, "
          f"prompt {int(mask.sum(1).min())}-{mask.size(1)} positions, {n} new tokens, "
          f"{args.threads} threads, median of {args.repeats} interleaved runs; "
          f"load average before: {load_average()}")

    with torch.no_grad():
        ours_greedy = plugin_tokens(greedy, sample, n)
        hf_greedy = hf_tokens(llm, embeds, mask, n, 1, dictionary)
        hf_greedy_alone = [hf_tokens(llm, embeds[b:b + 1, mask.size(1) - int(mask[b].sum()):],
                                     mask[b:b + 1, mask.size(1) - int(mask[b].sum()):], n, 1,
                                     dictionary)[0] for b in range(args.batch)]
        ours_beam = plugin_tokens(beam, sample, n)
        ours_per_beam = plugin_tokens(per_beam, sample, n)
        hf_beam = hf_tokens(llm, embeds, mask, n, 4, dictionary)
        calls = {
            "plugin greedy": lambda: plugin_tokens(greedy, sample, n),
            "HF greedy": lambda: hf_tokens(llm, embeds, mask, n, 1, dictionary),
            "plugin beam 4": lambda: plugin_tokens(beam, sample, n),
            "plugin beam 4, prefill per beam": lambda: plugin_tokens(per_beam, sample, n),
            "HF beam 4": lambda: hf_tokens(llm, embeds, mask, n, 4, dictionary),
        }
        t = interleaved(calls, args.repeats)
    tokens = args.batch * n
    rows = [[name, t[name] * 1e3, tokens / t[name]] for name in calls]
    print_table(["decoder", "ms per batch", "tokens/s"], rows)
    result = {
        "greedy_speed_ratio_vs_hf": t["HF greedy"] / t["plugin greedy"],
        "beam4_speed_ratio_vs_hf": t["HF beam 4"] / t["plugin beam 4"],
        "beam4_shared_prefill_speedup": t["plugin beam 4, prefill per beam"] / t["plugin beam 4"],
        "greedy_identical": ours_greedy == hf_greedy,
        "greedy_identical_to_hf_one_by_one": ours_greedy == hf_greedy_alone,
        "beam4_identical_utterances": sum(a == b for a, b in zip(ours_beam, hf_beam)),
        "beam4_shared_prefill_identical": ours_beam == ours_per_beam,
        "tokens_per_s": {name: tokens / t[name] for name in calls},
        "batch": args.batch, "new_tokens": n, "hidden": hidden, "layers": layers, "vocab": vocab,
    }
    print(f"speed ratio plugin/HF (>1: plugin faster): greedy {result['greedy_speed_ratio_vs_hf']:.2f}, "
          f"beam 4 {result['beam4_speed_ratio_vs_hf']:.2f}; shared beam prefill saves "
          f"{result['beam4_shared_prefill_speedup']:.2f}x")
    print(f"greedy identical to HF: batched {result['greedy_identical']}, one by one "
          f"{result['greedy_identical_to_hf_one_by_one']}; beam 4 same best hypothesis as HF for "
          f"{result['beam4_identical_utterances']}/{args.batch} utterances; shared prefill changes "
          f"nothing: {result['beam4_shared_prefill_identical']}")
    finish(result, args.json)


if __name__ == "__main__":
    main()
