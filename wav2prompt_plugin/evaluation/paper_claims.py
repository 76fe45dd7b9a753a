"""The paper's claims, checked on a recipe's results (not assumed); shared by recipes/mini and
recipes/librispeech.

(a) zero-shot Wav2Prompt within 10% of the ASR-LLM cascade on every task;
(b) the Encoder-LLM, trained on ASR alone, below 30% of the cascade on translation;
(c) few-shot fine-tuned Wav2Prompt (`wav2prompt_ft<N>`) above the cascade on the fine-tuned task;
(d) without L_MSE (the paper's ablation, `wav2prompt_no_mse`: the recipe's Wav2Prompt with the MSE
    weight 0 and nothing else changed), the zero-shot figures of every task but ASR fall (paper:
    En→Es BLEU 13.8 → 5.4, 39%). Against `wav2prompt_all_ce` where the recipe's Wav2Prompt has an
    LLM-free stage: the system that differs from the ablation in L_MSE alone.

A claim is checked on the figures both of its systems have. `not_measured=True` lists a claim whose
systems or figures are missing as "not measured" (the paper-scale report); otherwise it is left out.
"""
from typing import Dict, List, Optional

from wav2prompt_plugin.evaluation.metrics import LOWER_IS_BETTER

TRANSLATION = ("st_fr_bleu", "st_es_bleu")
CLAIMS = {
    "a": "(a) zero-shot Wav2Prompt within 10% of the cascade on every task",
    "b": "(b) Encoder-LLM zero-shot below 30% of the cascade on translation",
    "c": "(c) few-shot fine-tuned Wav2Prompt above the cascade on {ft_metric}",
    "d": "(d) without L_MSE, the zero-shot figures of every task but ASR fall",
}


def _relative(value: float, reference: float, metric: str) -> float:
    """value as a fraction of the reference, where 1 is as good and above 1 better (WER inverted)."""
    if value == reference:
        return 1.0
    if metric.rsplit("_", 1)[-1] in LOWER_IS_BETTER:
        return reference / max(value, 1e-9)
    return value / max(reference, 1e-9)


def task_metrics(figures: Dict[str, float]) -> List[str]:
    """`<task>_<metric>` figures (not the prompt's own: prompt_token_acc, ...)."""
    return [m for m in figures if m.rsplit("_", 1)[-1] in ("wer", "bleu", "acc") and not m.startswith("prompt_")]


def claims(systems: Dict[str, Dict[str, float]], ft_metric: str = "st_fr_bleu",
           not_measured: bool = False) -> List[dict]:
    """Each claim: {"claim", "figures" (lines), "holds": True | False | None (not measured)}."""
    out = []

    def add(claim, figures, holds: Optional[bool]):
        if holds is not None or not_measured:
            out.append({"claim": claim, "figures": figures, "holds": holds})

    def compare(claim, system, reference, metrics, test):
        """`system` against `reference` on those of `metrics` both have; holds if test(ratios)."""
        if system not in systems or reference not in systems:
            missing = [n for n in (system, reference) if n not in systems]
            add(claim, [f"no {' or '.join(missing)} results"], None)
            return
        a, b = systems[system], systems[reference]
        shared = [m for m in metrics if m in a and m in b]
        if not shared:
            add(claim, [f"no figure both {system} and {reference} have"], None)
            return
        ratios = {m: _relative(a[m], b[m], m) for m in shared}
        add(claim, [f"{m}: {a[m]:.1f} vs {b[m]:.1f} ({100 * r:.0f}%)" for m, r in ratios.items()], test(ratios))

    cascade = systems.get("cascade", {})
    compare(CLAIMS["a"], "wav2prompt", "cascade", task_metrics(cascade), lambda r: all(v >= 0.9 for v in r.values()))
    compare(CLAIMS["b"], "encoder_llm", "cascade", TRANSLATION, lambda r: all(v < 0.3 for v in r.values()))
    tuned = sorted((n for n in systems if n.startswith("wav2prompt_ft") and n[13:].isdigit()), key=lambda n: int(n[13:]))
    claim_c = CLAIMS["c"].format(ft_metric=ft_metric)
    for name in tuned:
        if "cascade" in systems or not_measured:
            compare(claim_c.replace("few-shot fine-tuned Wav2Prompt", name), name, "cascade", [ft_metric],
                    lambda r: all(v > 1 for v in r.values()))
    if not tuned:
        add(claim_c, ["no wav2prompt_ft<N> results"], None)
    reference = "wav2prompt_all_ce" if "wav2prompt_all_ce" in systems else "wav2prompt"
    full = systems.get(reference, {})
    zero_shot = [m for m in task_metrics(full) if not m.startswith("asr")]
    compare(f"{CLAIMS['d']} (against {reference})", "wav2prompt_no_mse", reference, zero_shot,
            lambda r: bool(r) and all(v < 1 for v in r.values()))
    return out


def check_claims(systems: Dict[str, Dict[str, float]], ft_metric: str = "st_fr_bleu",
                 not_measured: bool = False) -> List[str]:
    """Markdown lines: each claim, the figures it rests on, and whether it holds."""
    verdict = {True: "yes", False: "**no**", None: "not measured"}
    rows = [f"| {c['claim']} | {'; '.join(c['figures'])} | {verdict[c['holds']]} |"
            for c in claims(systems, ft_metric, not_measured)]
    return ["| claim | figures | holds |", "|---|---|---|"] + rows if rows else []
