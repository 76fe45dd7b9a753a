"""The mini recipe's claims table, on hand-made figures."""
import os

import pytest

from recipes.mini.local.paper_claims import check_claims


def figures(wer, fr, es, intent):
    return {"asr_wer": wer, "st_fr_bleu": fr, "st_es_bleu": es, "intent_acc": intent,
            "prompt_positions_per_second": 4.0, "prompt_token_acc": fr, "prompt_cosine": 0.5}


def test_each_claim_with_its_ratios():
    systems = {"cascade": figures(10.0, 80.0, 70.0, 90.0), "wav2prompt": figures(5.0, 75.0, 70.0, 100.0),
               "encoder_llm": figures(30.0, 20.0, 14.0, 10.0), "wav2prompt_ft100": figures(6.0, 81.0, 60.0, 90.0),
               "wav2prompt_no_mse": figures(4.0, 30.0, 70.0, 50.0)}
    lines = check_claims(systems)
    assert lines[:2] == ["| claim | figures | holds |", "|---|---|---|"]
    a, b, c, d = lines[2:]
    # WER inverted: 10 / 5 = 200%; 75 / 80 = 94%
    assert "asr_wer: 5.0 vs 10.0 (200%)" in a and "st_fr_bleu: 75.0 vs 80.0 (94%)" in a and a.endswith("| yes |")
    assert "st_fr_bleu: 20.0 vs 80.0 (25%)" in b and "st_es_bleu: 14.0 vs 70.0 (20%)" in b and b.endswith("| yes |")
    assert c.startswith("| (c) wav2prompt_ft100") and "81.0 vs 80.0" in c and c.endswith("| yes |")
    # (d) leaves ASR out (its WER is better without L_MSE here); En→Es equal, so it does not hold
    assert "asr_wer" not in d and "st_fr_bleu: 30.0 vs 75.0 (40%)" in d and "intent_acc: 50.0 vs 100.0 (50%)" in d
    assert "st_es_bleu: 70.0 vs 70.0 (100%)" in d and d.endswith("| **no** |")
    assert not any("prompt_token" in line or "prompt_cosine" in line for line in lines)  # no task figures


def test_the_ablation_alone_and_nothing_to_check():
    systems = {"wav2prompt": figures(5.0, 75.0, 70.0, 100.0), "wav2prompt_no_mse": figures(9.0, 30.0, 28.0, 60.0)}
    lines = check_claims(systems)
    assert len(lines) == 3 and lines[2].startswith("| (d)") and lines[2].endswith("| yes |")
    assert check_claims({"wav2prompt": figures(5.0, 75.0, 70.0, 100.0)}) == []


def test_the_ablation_against_the_system_that_differs_in_mse_alone():
    """With an LLM-free stage in the recipe's Wav2Prompt, (d) compares with wav2prompt_all_ce."""
    systems = {"wav2prompt": figures(5.0, 75.0, 70.0, 100.0), "wav2prompt_all_ce": figures(5.0, 60.0, 50.0, 80.0),
               "wav2prompt_no_mse": figures(9.0, 30.0, 55.0, 60.0)}
    (d,) = check_claims(systems)[2:]
    assert "(against wav2prompt_all_ce)" in d and "st_es_bleu: 55.0 vs 50.0 (110%)" in d and d.endswith("| **no** |")


def test_sweep_table_puts_each_share_beside_the_recipe():
    from recipes.mini.local.report import sweep_table

    base = dict(figures(5.0, 75.0, 70.0, 100.0), cif_len_exact=90.0, llm_free_fraction=0.0,
                llm_train_positions=1000000, train_flops_llm=2.5e13, train_flops_other=1.25e13, train_seconds=600.4)
    free = dict(base, st_fr_bleu=74.5, llm_free_fraction=0.75, llm_train_positions=250000, train_flops_llm=6.25e12)
    systems = {"wav2prompt": base, "wav2prompt_lf75_u1980": free, "wav2prompt_lf75": free,
               "wav2prompt_lf100": dict(free, llm_free_fraction=1.0)}
    lines = sweep_table(systems, {"st_fr_bleu": "En→Fr BLEU"})
    header, rows = lines[4], lines[6:-1]
    assert header.startswith("| system | LLM-free share | asr_wer | En→Fr BLEU |")
    assert [r.split(" | ")[0] for r in rows] == ["| wav2prompt", "| wav2prompt_lf75", "| wav2prompt_lf75_u1980",
                                                  "| wav2prompt_lf100"]
    assert "| 0.75 | 5.0 | 74.5 | 70.0 | 100.0 | 90.0 | 250,000 | 6.25e+12 | 1.25e+13 | 600 |" in rows[1]
    assert sweep_table({"wav2prompt": base}, {}) == []


def test_conditions_table_and_the_confidence_over_every_condition(tmp_path):
    """Per condition the figures beside the clean ones, BLEU as a share of clean; the confidence's
    AUROC and the WER of the 80% most confident over the hypotheses of every condition together."""
    import json

    from recipes.mini.local.report import conditions_table

    def hyps(path, rows):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("id\tref\thyp\tconfidence\n" + "".join(f"u{i}\t{r}\t{h}\t{c}\n" for i, (r, h, c) in enumerate(rows)))

    clean = dict(figures(5.0, 80.0, 60.0, 100.0), cif_len_exact=90.0, confidence_auroc=0.9)
    noisy = dict(figures(20.0, 40.0, 45.0, 50.0), cif_len_exact=60.0)
    hyps(tmp_path / "eval" / "hyps" / "wav2prompt.asr.tsv", [("a b", "a b", 0.9), ("c d", "c x", 0.8)])
    hyps(tmp_path / "eval_conditions" / "white15" / "hyps" / "wav2prompt.asr.tsv",
         [("e f", "e f", 0.7), ("g h", "x y", 0.1), ("i j", "i j", 0.2)])
    (tmp_path / "eval_conditions" / "white15" / "results.json").write_text(json.dumps({"systems": {"wav2prompt": noisy}}))
    results = {"systems": {"wav2prompt": clean}}
    lines = conditions_table(str(tmp_path), results)
    assert results["conditions"] == {"white15": noisy}
    row = [line for line in lines if line.startswith("| white noise")][0]
    assert "| 20.0 | 40.0 | 45.0 | 50.0 | 60.0 |  | 50 / 75 |" in row  # no AUROC of its own
    # right: 0.9, 0.7, 0.2; wrong: 0.8, 0.1 -> pairs ranked right: (0.9>0.8, 0.9>0.1, 0.7>0.1, 0.2>0.1) = 4 of 6
    assert results["confidence"]["auroc"] == pytest.approx(4 / 6)
    assert results["confidence"]["utterances"] == 5
    # WER over all: 1 + 2 errors in 10 words; the 4 most confident (drop 0.1): 1 error in 8 words
    assert results["confidence"]["wer"] == pytest.approx(30.0)
    assert results["confidence"]["wer_confident80"] == pytest.approx(12.5)
    assert conditions_table(str(tmp_path / "none"), {"systems": {"wav2prompt": clean}}) == []


def test_word_times_in_the_report(tmp_path):
    """wav2prompt-eval's flat word-time figures become results.json's {median, p90} per side."""
    import json

    from recipes.mini.local.report import word_times_section

    figures = {"asr_wer": 7.5, "word_times_paired": 90.0, "word_start_err_ms_median": 40.0,
               "word_start_err_ms_p90": 95.0, "word_end_err_ms_median": 55.0, "word_end_err_ms_p90": 130.0}
    (tmp_path / "eval_word_times").mkdir()
    (tmp_path / "eval_word_times" / "results.json").write_text(json.dumps({"systems": {"wav2prompt": figures}}))
    results = {}
    lines = word_times_section(str(tmp_path), results)
    assert results["word_start_err_ms"] == {"median": 40.0, "p90": 95.0}
    assert results["word_end_err_ms"] == {"median": 55.0, "p90": 130.0}
    assert results["word_times"] == {"paired": 90.0, "asr_wer": 7.5}
    assert "start 40 ms (90th percentile 95 ms), end 55 ms (90th percentile 130 ms)" in lines[2]
    # no word recognised in place: no error figures, and the section says so
    (tmp_path / "eval_word_times" / "results.json").write_text(json.dumps(
        {"systems": {"wav2prompt": {"asr_wer": 100.0, "word_times_paired": 0.0}}}))
    results = {}
    assert "absolute error, median: none." in word_times_section(str(tmp_path), results)[2]
    assert "word_start_err_ms" not in results
    assert word_times_section(str(tmp_path / "none"), {}) == []
