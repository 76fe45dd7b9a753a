"""The mini recipe's claims table, on hand-made figures."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes", "mini", "local"))

from paper_claims import check_claims  # noqa: E402


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
