"""The mini recipe's few-shot table on the target domain, from hand-made evaluation figures."""
import json
import os

import pytest

from recipes.mini.local.fewshot_report import fewshot_section


def run(fr, wer, es=80.0, intent=98.0, sqa=75.0, sqqa=90.0):
    return {"st_fr_bleu": fr, "asr_wer": wer, "st_es_bleu": es, "intent_acc": intent, "sqa_acc": sqa,
            "sqqa_acc": sqqa}


@pytest.fixture
def exp(tmp_path):
    systems = {"text_topline": {"st_fr_bleu": 95.0, "asr_wer": 0.0}, "cascade": {"st_fr_bleu": 62.0, "asr_wer": 20.0},
               "wav2prompt": {"st_fr_bleu": 60.0, "asr_wer": 25.0}, "wav2prompt_e2e_ft500_s1": run(66.0, 30.0),
               "wav2prompt_e2e_ft500_s2": run(68.0, 31.0, es=79.5), "wav2prompt_e2e_ft500_s3": run(70.0, 29.0),
               "wav2prompt_e2e_ft100_s1": run(61.0, 26.0), "wav2prompt_e2e_ft100_s2": run(62.0, 26.0),
               "wav2prompt_e2e_ft100_s3": run(66.0, 26.0, intent=91.0), "something_else": run(1.0, 1.0)}
    for name, figures in systems.items():  # one wav2prompt-eval directory per system, as run.sh writes them
        os.makedirs(tmp_path / "eval_fewshot" / name)
        with open(tmp_path / "eval_fewshot" / name / "results.json", "w") as f:
            json.dump({"systems": {name: figures}}, f)
    return str(tmp_path)


def test_table_means_and_claims_by_hand(exp):
    results = {"systems": {"wav2prompt": run(90.0, 3.0, es=80.0, intent=98.0, sqa=75.0, sqqa=90.0)}}
    lines = fewshot_section(exp, results)
    table = results["fewshot"]
    assert set(table) == {"text_topline", "cascade", "wav2prompt", "wav2prompt_e2e"}  # unknown names left out
    assert table["wav2prompt_e2e"][500]["st_fr_bleu"] == {"mean": 68.0, "sd": 2.0, "seeds": [66.0, 68.0, 70.0]}
    assert table["wav2prompt_e2e"][500]["original_st_es_bleu"]["mean"] == pytest.approx(79.8333, abs=1e-4)
    # zero-shot: one run, no spread; its original-split figures are the main table's
    assert table["wav2prompt"][0]["st_fr_bleu"] == {"mean": 60.0, "sd": None, "seeds": [60.0]}
    assert table["wav2prompt"][0]["original_intent_acc"]["mean"] == 98.0
    text = "\n".join(lines)
    assert "| Wav2Prompt fine-tuned end to end on (speech, French) alone (`wav2prompt_e2e`) | 500 | 3 | 68.0 ± 2.0 |" in text
    claims = [line for line in lines if line.startswith("| (c)") or line.startswith("| wav2prompt_e2e on")]
    # 100 pairs: 63.0 ± 2.6, +3.0: below +5; above the cascade's 62.0. 500: +8.0 and 8 > 2 x 2: holds
    assert claims[0].endswith("(+3.0) | **no** |") and claims[1].endswith("| yes |")
    assert "intent_acc: -2.3" in claims[2] and claims[2].endswith("| **no** |")  # 98 -> 95.7: more than 2 lost
    assert claims[3].endswith("(+8.0) | yes |") and claims[4].endswith("| yes |")
    assert "st_es_bleu: -0.2" in claims[5] and claims[5].endswith("| yes |")


def test_nothing_without_the_evaluation(tmp_path):
    results = {"systems": {}}
    assert fewshot_section(str(tmp_path), results) == [] and "fewshot" not in results
