#!/usr/bin/env python3
"""Assert that a finished mini recipe wrote complete, well-formed results (not the scores)."""
import json
import math
import os
import sys

SYSTEMS = {
    "text_topline": ["asr_wer", "st_fr_bleu", "st_es_bleu", "intent_acc", "sqa_acc", "sqqa_acc"],
    "wav2prompt": ["asr_wer", "st_fr_bleu", "st_es_bleu", "intent_acc", "sqa_acc", "sqqa_acc",
                   "cif_len_exact", "cif_len_within1"],
}
STAGES = ["1. world", "2. llm", "3. speech", "4. encoder_init", "5. wav2prompt", "6. evaluate"]


def check(exp: str):
    with open(os.path.join(exp, "results.json")) as f:
        results = json.load(f)
    for system, metrics in SYSTEMS.items():
        figures = results["systems"][system]
        for metric in metrics:
            value = figures[metric]
            assert isinstance(value, float) and math.isfinite(value) and value >= 0, (system, metric, value)
            assert metric == "asr_wer" or value <= 100, (system, metric, value)
        for task in ("asr", "st_fr", "st_es", "intent", "sqa", "sqqa"):
            assert len(results["examples"][system][task]) == 3, (system, task)
    assert set(STAGES) <= set(results["stage_seconds"]), results["stage_seconds"]
    assert results["parameters"] and os.path.isfile(os.path.join(exp, results["training_curves"]))
    with open(os.path.join(exp, "results.md")) as f:
        text = f.read()
    for heading in ("| metric |", "## Stage times", "## Parameters", "## Training curves", "## Example outputs"):
        assert heading in text, heading


if __name__ == "__main__":
    check(sys.argv[1])
    print(f"{sys.argv[1]}: results complete and well-formed")
