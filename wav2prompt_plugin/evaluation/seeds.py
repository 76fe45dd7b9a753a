"""Figures of runs repeated over seeds: mean, standard deviation, and whether two systems are apart.

A few-shot result depends on which pairs were drawn and on the training seed, so the recipes
train each few-shot system several times and report

    fewshot.<system>.<pairs>.<metric> = {"mean": m, "sd": s, "seeds": [x_1, ..., x_n]}

`sd` is the sample standard deviation (n - 1 in the denominator); with one seed there is no
spread to estimate and it is None, never 0, so that one run cannot pass for a certain one.
"""
import math
from typing import Dict, Mapping, Optional, Sequence


def over_seeds(values: Sequence[float]) -> Dict:
    """{"mean", "sd", "seeds"} of one figure measured once per seed (in seed order)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no seeds to aggregate")
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
    return {"mean": mean, "sd": sd, "seeds": values}


def fewshot_figures(runs: Mapping[str, Mapping[int, Mapping[int, Mapping[str, float]]]]) -> Dict:
    """system -> pairs -> seed -> {metric: value}  =>  system -> pairs -> metric -> over_seeds.

    A metric enters only where every seed of that system and size has it: a mean over the
    seeds that happen to have finished would not be the figure of the table."""
    table = {}
    for system, sizes in runs.items():
        for pairs, seeds in sizes.items():
            order = sorted(seeds)
            metrics = set.intersection(*(set(seeds[s]) for s in order)) if order else set()
            table.setdefault(system, {})[pairs] = {
                m: over_seeds([seeds[s][m] for s in order]) for m in sorted(metrics)}
    return table


def spread(figure) -> float:
    """The sd of an over_seeds figure; 0 for a single measurement (a number, or one seed)."""
    return (figure.get("sd") or 0.0) if isinstance(figure, Mapping) else 0.0


def mean(figure) -> float:
    return figure["mean"] if isinstance(figure, Mapping) else float(figure)


def apart(a, b, sds: float = 2.0) -> Optional[bool]:
    """Whether a and b (over_seeds figures or plain numbers) differ by more than `sds` standard
    deviations of their difference, sqrt(sd_a^2 + sd_b^2); None where neither has a spread
    (two single runs: nothing to tell noise from a difference)."""
    sd = math.hypot(spread(a), spread(b))
    if sd == 0:
        return None
    return abs(mean(a) - mean(b)) > sds * sd


def format_figure(figure, spec: str = ".1f") -> str:
    """'m ± sd' for an over_seeds figure, 'm' for a plain number or one seed."""
    if isinstance(figure, Mapping) and figure.get("sd") is not None:
        return f"{format(figure['mean'], spec)} ± {format(figure['sd'], spec)}"
    return format(mean(figure), spec)
