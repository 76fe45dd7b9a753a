"""The paper's claims, checked on the recipe's results (not assumed).

(a) zero-shot Wav2Prompt within 10% of the ASR-LLM cascade on every task;
(b) the Encoder-LLM, trained on ASR alone, below 30% of the cascade on translation;
(c) few-shot fine-tuned Wav2Prompt above the cascade on the fine-tuned task;
(d) without L_MSE (the paper's ablation, `wav2prompt_no_mse`: the recipe's
    Wav2Prompt with the MSE weight 0 and nothing else changed), the zero-shot
    figures of every task but ASR fall (paper: En→Es BLEU 13.8 → 5.4, 39%).
    Against `wav2prompt_all_ce` where the recipe's Wav2Prompt has an LLM-free
    stage: the system that differs from the ablation in L_MSE alone.
"""
from typing import Dict, List

from wav2prompt_plugin.evaluation.metrics import LOWER_IS_BETTER

TRANSLATION = ("st_fr_bleu", "st_es_bleu")


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


def check_claims(systems: Dict[str, Dict[str, float]], ft_metric: str = "st_fr_bleu") -> List[str]:
    """Markdown lines: each claim, the figures it rests on, and whether it holds."""
    rows = []

    def row(claim, figures, holds):
        rows.append(f"| {claim} | {'; '.join(figures)} | {'yes' if holds else '**no**'} |")

    cascade = systems.get("cascade")
    if cascade and "wav2prompt" in systems:
        ratios = {m: _relative(systems["wav2prompt"][m], cascade[m], m) for m in task_metrics(cascade)}
        row("(a) zero-shot Wav2Prompt within 10% of the cascade on every task",
            [f"{m}: {systems['wav2prompt'][m]:.1f} vs {cascade[m]:.1f} ({100 * r:.0f}%)" for m, r in ratios.items()],
            all(r >= 0.9 for r in ratios.values()))
    if cascade and "encoder_llm" in systems:
        ratios = {m: _relative(systems["encoder_llm"][m], cascade[m], m) for m in TRANSLATION if m in cascade}
        row("(b) Encoder-LLM zero-shot below 30% of the cascade on translation",
            [f"{m}: {systems['encoder_llm'][m]:.1f} vs {cascade[m]:.1f} ({100 * r:.0f}%)" for m, r in ratios.items()],
            all(r < 0.3 for r in ratios.values()))
    tuned = sorted((n for n in systems if n.startswith("wav2prompt_ft")), key=lambda n: int(n[13:]))
    for name in tuned if cascade else []:
        row(f"(c) {name} above the cascade on {ft_metric}",
            [f"{systems[name][ft_metric]:.1f} vs {cascade[ft_metric]:.1f}"],
            _relative(systems[name][ft_metric], cascade[ft_metric], ft_metric) > 1)
    reference = "wav2prompt_all_ce" if "wav2prompt_all_ce" in systems else "wav2prompt"
    if reference in systems and "wav2prompt_no_mse" in systems:
        full, ablated = systems[reference], systems["wav2prompt_no_mse"]
        zero_shot = [m for m in task_metrics(full) if m in ablated and not m.startswith("asr")]
        ratios = {m: _relative(ablated[m], full[m], m) for m in zero_shot}
        row(f"(d) without L_MSE, the zero-shot figures of every task but ASR fall (against {reference})",
            [f"{m}: {ablated[m]:.1f} vs {full[m]:.1f} ({100 * r:.0f}%)" for m, r in ratios.items()],
            bool(ratios) and all(r < 1 for r in ratios.values()))
    return ["| claim | figures | holds |", "|---|---|---|"] + rows if rows else []
