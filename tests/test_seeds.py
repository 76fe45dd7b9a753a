"""Few-shot figures over seeds (evaluation/seeds.py), on hand-made figures."""
import math

import pytest

from wav2prompt_plugin.evaluation.seeds import apart, fewshot_figures, format_figure, over_seeds


def test_mean_and_sample_sd_by_hand():
    figure = over_seeds([80.0, 84.0, 88.0])
    assert figure["mean"] == pytest.approx(84.0)
    # deviations -4, 0, 4: (16 + 0 + 16) / (3 - 1) = 16
    assert figure["sd"] == pytest.approx(4.0)
    assert figure["seeds"] == [80.0, 84.0, 88.0]


def test_one_seed_has_no_spread_and_none_is_refused():
    assert over_seeds([71.5]) == {"mean": 71.5, "sd": None, "seeds": [71.5]}
    with pytest.raises(ValueError, match="no seeds"):
        over_seeds([])


def test_fewshot_table_keeps_metrics_every_seed_has():
    runs = {"wav2prompt_ft": {100: {1: {"st_fr_bleu": 60.0, "asr_wer": 10.0},
                                    2: {"st_fr_bleu": 64.0, "asr_wer": 12.0},
                                    3: {"st_fr_bleu": 62.0}},
                              500: {3: {"st_fr_bleu": 70.0}, 1: {"st_fr_bleu": 74.0}}}}
    table = fewshot_figures(runs)
    assert set(table["wav2prompt_ft"][100]) == {"st_fr_bleu"}  # seed 3 has no WER
    assert table["wav2prompt_ft"][100]["st_fr_bleu"] == {"mean": 62.0, "sd": 2.0, "seeds": [60.0, 64.0, 62.0]}
    # seeds in seed order, whatever order they were gathered in
    assert table["wav2prompt_ft"][500]["st_fr_bleu"]["seeds"] == [74.0, 70.0]
    assert table["wav2prompt_ft"][500]["st_fr_bleu"]["sd"] == pytest.approx(math.sqrt(8.0))


def test_apart_by_two_standard_deviations_of_the_difference():
    tuned = over_seeds([70.0, 72.0, 74.0])  # sd 2
    assert apart(tuned, 67.0) is True      # 5 > 2 * 2
    assert apart(tuned, 69.0) is False     # 3 < 4
    other = over_seeds([66.0, 68.0, 70.0])  # sd 2: difference 4 against 2 * sqrt(8) = 5.66
    assert apart(tuned, other) is False
    assert apart(tuned, other, sds=1.0) is True
    assert apart(65.0, 70.0) is None       # two single runs: no spread to judge by


def test_format():
    assert format_figure(over_seeds([80.0, 84.0, 88.0])) == "84.0 ± 4.0"
    assert format_figure(over_seeds([71.25])) == "71.2"
    assert format_figure(3.14159, ".2f") == "3.14"
