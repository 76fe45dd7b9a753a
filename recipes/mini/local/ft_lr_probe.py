"""The fine-tuning families' learning rates, chosen on dev (run.sh stage 13): every family fine-tuned
on the same draw of pairs at each multiple of its peak learning rate (as many tries per family), scored
on the target domain's dev set and on the original dev split, and one rate picked per family by a rule
fixed before the figures: the highest target dev BLEU; among the rates within TIE_BLEU of it, the one
that keeps the most En→Es BLEU on the original dev split (80 dev utterances: a BLEU point is noise).

Reads EXP/ft_lr_probe/eval/<name>/results.json (wav2prompt-eval, one directory per model): zero-shot
systems by their names, probe runs as `<family>_x<scale>`. Writes EXP/ft_lr_probe/results.{md,json}.

    python local/ft_lr_probe.py --exp exp/default --ft-lr 1e-4 --ft-asr-lr 2e-4
"""
import argparse
import json
import os
import re
from typing import Dict, List, Optional

from fewshot_report import FAMILIES, evaluated

TIE_BLEU = 1.0
TARGET, KEEP = "st_fr_bleu", "st_es_bleu"
COLUMNS = ("st_fr_bleu", "asr_wer", "st_es_bleu", "intent_acc", "sqa_acc", "sqqa_acc")
HEAD = ("target dev En→Fr BLEU", "target dev WER", "original dev En→Es BLEU", "intent (%)", "QA with context (%)",
        "spoken-query QA (%)")
PROBE = re.compile(r"^(?P<family>.+)_x(?P<scale>[0-9.e+-]+)$")
ASR_FAMILIES = ("cascade_asrft",)  # tuned at multiples of --ft-asr-lr; the others of --ft-lr


def choose(tries: Dict[float, Dict]) -> Optional[float]:
    """The scale of the rule (module doc) among {scale: figures}; None if no try has the target BLEU."""
    scored = {s: f for s, f in tries.items() if TARGET in f}
    if not scored:
        return None
    best = max(f[TARGET] for f in scored.values())
    near = [s for s, f in scored.items() if f[TARGET] >= best - TIE_BLEU]
    return max(near, key=lambda s: (scored[s].get(KEEP, float("-inf")), scored[s][TARGET]))


def probe_table(systems: Dict) -> Dict[str, Dict[float, Dict]]:
    """family -> scale -> figures, from the evaluated probe runs."""
    table = {}
    for name, figures in systems.items():
        match = PROBE.match(name)
        if match and match["family"] in FAMILIES:
            table.setdefault(match["family"], {})[float(match["scale"])] = figures
    return table


def cell(figures: Dict, metric: str) -> str:
    return f"{figures[metric]:.1f}" if metric in figures else ""


def report(systems: Dict, ft_lr: float, ft_asr_lr: float) -> Dict:
    table = probe_table(systems)
    lines = ["| system | peak lr | " + " | ".join(HEAD) + " | chosen |", "|---" * (len(HEAD) + 3) + "|"]
    for name in ("cascade", "wav2prompt", "encoder_llm"):
        if name in systems:
            lines.append(f"| {name} (zero-shot) | | " + " | ".join(cell(systems[name], m) for m in COLUMNS) + " | |")
    chosen = {}
    for family in (f for f in FAMILIES if f in table):
        base = ft_asr_lr if family in ASR_FAMILIES else ft_lr
        pick = choose(table[family])
        chosen[family] = {"scale": pick, "lr": None if pick is None else float(f"{pick * base:.3g}")}
        for scale in sorted(table[family], reverse=True):
            lines.append(f"| `{family}` | {scale * base:.3g} | "
                         + " | ".join(cell(table[family][scale], m) for m in COLUMNS)
                         + f" | {'**yes**' if scale == pick else ''} |")
    return {"chosen": chosen, "tries": {f: {str(s): v for s, v in t.items()} for f, t in table.items()},
            "markdown": "\n".join(lines)}


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exp", required=True)
    p.add_argument("--ft-lr", type=float, required=True, help="run.sh's --ft-lr (scale 1)")
    p.add_argument("--ft-asr-lr", type=float, required=True, help="run.sh's --ft-asr-lr (scale 1)")
    args = p.parse_args(argv)
    out = os.path.join(args.exp, "ft_lr_probe")
    result = report(evaluated(os.path.join(out, "eval")), args.ft_lr, args.ft_asr_lr)
    text = "\n".join(["# Fine-tuning learning rates on dev", "", __doc__.split("\n\n")[0].replace("\n", " "), "",
                      result["markdown"], ""])
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({k: v for k, v in result.items() if k != "markdown"}, f, indent=2)
    print(text)


if __name__ == "__main__":
    main()
