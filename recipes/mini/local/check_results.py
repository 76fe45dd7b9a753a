#!/usr/bin/env python3
"""Assert that a finished mini recipe wrote complete, well-formed results (not the scores)."""
import json
import math
import os
import sys

from make_conditions import evaluated_conditions

TASKS = ["asr", "st_fr", "st_es", "intent", "sqa", "sqqa"]
METRICS = ["asr_wer", "st_fr_bleu", "st_es_bleu", "intent_acc", "sqa_acc", "sqqa_acc",
           "prompt_positions_per_second"]
SYSTEMS = {
    "text_topline": METRICS,
    "cascade": METRICS,
    "cascade_ctc": METRICS,
    "encoder_llm": METRICS,
    "wav2prompt": METRICS + ["cif_len_exact", "cif_len_within1", "prompt_token_acc_aligned"],
    "wav2prompt_no_mse": METRICS + ["cif_len_exact", "cif_len_within1", "prompt_token_acc_aligned"],
    "wav2prompt_all_ce": METRICS + ["cif_len_exact", "cif_len_within1", "prompt_token_acc_aligned"],
}
# what each trained Wav2Prompt's training computed (wav2prompt_plugin/evaluation/training_cost.py)
TRAINING = ["llm_train_positions", "llm_free_fraction", "train_flops_llm", "train_flops_other", "train_seconds"]
# the few-shot table on the target domain (local/fewshot_report.py): zero-shot systems, fine-tuned families
ZERO_SHOT = ("text_topline", "cascade_ctc", "cascade", "wav2prompt", "encoder_llm")
FINE_TUNED = ("cascade_asrft", "wav2prompt_e2e", "wav2prompt_e2e_tr", "encoder_llm_e2e")
KEPT = ("original_st_es_bleu", "original_intent_acc", "original_sqa_acc", "original_sqqa_acc")
FOLLOWING = ["follows", "transcript_leak", "follows_paraphrased", "transcript_leak_paraphrased"]
STAGES = ["1. world", "2. llm", "3. speech", "4. encoder_init", "5. wav2prompt", "6. cascade_asr",
          "7. encoder_llm", "8. ablation", "9. fewshot", "10. evaluate"]


def in_range(value, name, upper=100.0, lower=0.0):
    assert isinstance(value, float) and math.isfinite(value) and lower <= value <= upper, (name, value)


def check(exp: str):
    with open(os.path.join(exp, "results.json")) as f:
        results = json.load(f)
    fewshot = results["fewshot"]
    for family in ZERO_SHOT:
        in_range(fewshot[family]["0"]["st_fr_bleu"]["mean"], (family, "target st_fr_bleu"))
    for family in FINE_TUNED:
        sizes = [pairs for pairs in fewshot[family] if pairs != "0"]
        assert sizes, (family, "no fine-tuned size")
        for pairs in sizes:
            for metric in ("st_fr_bleu", "asr_wer") + KEPT:
                figure = fewshot[family][pairs][metric]
                assert len(figure["seeds"]) >= 2 and figure["sd"] is not None, (family, pairs, metric, figure)
                in_range(figure["mean"], (family, pairs, metric), math.inf)
    for system, metrics in SYSTEMS.items():
        figures = results["systems"][system]
        for metric in metrics:
            upper = 100.0 if metric not in ("asr_wer", "prompt_positions_per_second") else math.inf
            # 1 - edits / U: below 0 where E_s holds many more vectors than the transcript has tokens
            lower = -math.inf if metric == "prompt_token_acc_aligned" else 0.0
            in_range(figures[metric], (system, metric), upper, lower)
        if system.startswith("wav2prompt"):
            assert all(isinstance(figures[k], (int, float)) and figures[k] >= 0 for k in TRAINING), (system, figures)
            assert 0 <= figures["llm_free_fraction"] <= 1, (system, figures["llm_free_fraction"])
        for task in TASKS:
            assert len(results["examples"][system][task]) == 3, (system, task)
        following = results["instruction_following"][system]
        assert sorted(following) == sorted(t for t in TASKS if t != "asr"), (system, sorted(following))
        for task, rates in following.items():
            for rate in FOLLOWING:
                in_range(rates[rate], (system, task, rate))
    for name in evaluated_conditions():
        for metric in METRICS + ["cif_len_exact", "wer_confident80"]:
            upper = 100.0 if metric not in ("asr_wer", "prompt_positions_per_second", "wer_confident80") else math.inf
            in_range(results["conditions"][name][metric], (name, metric), upper)
    mix = results["confidence"]
    assert mix["utterances"] > 0
    if 0 < mix["wrong"] < 100:  # else no AUROC: one of the two groups is empty
        in_range(mix["auroc"], "confidence auroc", 1.0)
    else:
        assert "auroc" not in mix, mix
    word_times = results["word_times"]  # CIF's word times against known ones (local/make_word_times.py)
    in_range(word_times["paired"], "word_times paired")
    for key in ("word_start_err_ms", "word_end_err_ms"):
        if word_times["paired"] > 0:  # else no word was heard in place to time
            in_range(results[key]["median"], (key, "median"), math.inf)
            assert results[key]["median"] <= results[key]["p90"], (key, results[key])
        else:
            assert key not in results, results[key]
    assert len(results["explained"]) >= 1 and all(
        os.path.isfile(os.path.join(exp, "explain", f"{i}.png")) for i in results["explained"].values()), results["explained"]
    assert set(STAGES) <= set(results["stage_seconds"]), results["stage_seconds"]
    assert results["parameters"] and os.path.isfile(os.path.join(exp, results["training_curves"]))
    in_range(results["sqa_kind_only_acc"], "sqa_kind_only_acc")
    budgets = results["budgets"]  # every system trains stage 5's updates from stage 4's encoder
    trained = ["cascade", "encoder_llm", "wav2prompt", "wav2prompt_all_ce", "wav2prompt_no_mse"]
    assert len({budgets[n]["updates"] for n in trained}) == 1, {n: budgets[n]["updates"] for n in trained}
    assert len({budgets[n]["max_tokens"] for n in trained}) == 1, {n: budgets[n]["max_tokens"] for n in trained}
    assert budgets["cascade_ctc"]["updates"] == 0 and budgets["cascade"]["llm_train_positions"] == 0
    with open(os.path.join(exp, "results.md")) as f:
        text = f.read()
    assert "| (d) without L_MSE" in text, "claim (d) missing"
    assert "(`sqa_kind_only_acc`" in text, "QA with context's kind-only chance missing"
    for heading in ("| metric |", "## Other voices and noise", "## Word times from CIF", "## What the LLM read", "## What each system trained", "## Few-shot on the target domain", "## Instruction following", "## Stage times", "## Parameters",
                    "## Training curves", "## Example outputs"):
        assert heading in text, heading


if __name__ == "__main__":
    check(sys.argv[1])
    print(f"{sys.argv[1]}: results complete and well-formed")
