"""Timing helpers shared by the benchmarks: implementations are timed in
alternation, so a machine's varying load hits all of them alike, and medians
are reported."""
import json
import resource
import statistics
import time
from typing import Callable, Dict, List, Optional


def interleaved(candidates: Dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
                repeats_of: Optional[Dict[str, int]] = None,
                fastest: Optional[Dict[str, float]] = None) -> Dict[str, float]:
    """Median seconds per call of each candidate, run in rotating order.

    `repeats_of` gives fewer repetitions to slow candidates (a Python loop);
    they take part in the first rounds only. `fastest`, when given, receives
    each candidate's fastest run (the least disturbed one on a loaded machine).
    """
    repeats_of = repeats_of or {}
    names = list(candidates)
    for name in names:
        for _ in range(warmup if repeats_of.get(name, repeats) > 0 else 0):
            candidates[name]()
    times: Dict[str, List[float]] = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            if len(times[name]) >= repeats_of.get(name, repeats):
                continue
            start = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - start)
    if fastest is not None:
        fastest.update({name: min(t) for name, t in times.items() if t})
    return {name: statistics.median(t) for name, t in times.items() if t}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def print_table(header: List[str], rows: List[List[object]]):
    cells = [[str(c) for c in header]] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def print_json(result: dict):
    print(json.dumps(result, sort_keys=True))


def finish(result: dict, as_json: bool):
    """A benchmark's last lines: the load average after it, then its JSON object."""
    print(f"load average after: {load_average()}")
    if as_json:
        print_json(result)
