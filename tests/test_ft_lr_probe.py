"""Stage 13's choice of each fine-tuning family's learning rate, on hand-made dev figures."""
import json

from recipes.mini.local.ft_lr_probe import choose, main, report


def test_choose_takes_the_best_target_bleu_and_breaks_near_ties_by_what_is_kept():
    tries = {3.0: {"st_fr_bleu": 14.0, "st_es_bleu": 60.0},
             1.0: {"st_fr_bleu": 13.3, "st_es_bleu": 64.0},   # within 1 BLEU of 14.0, keeps more En→Es
             0.3: {"st_fr_bleu": 11.4, "st_es_bleu": 75.1}}   # keeps most, but 2.6 BLEU below the best
    assert choose(tries) == 1.0
    tries[1.0]["st_fr_bleu"] = 12.9  # 1.1 below: no longer a tie
    assert choose(tries) == 3.0
    assert choose({1.0: {"asr_wer": 60.0}}) is None


def write(root, name, figures):
    out = root / "ft_lr_probe" / "eval" / name
    out.mkdir(parents=True)
    (out / "results.json").write_text(json.dumps({"systems": {name: figures}}))


def test_report_reads_every_try_and_names_each_familys_rate(tmp_path, capsys):
    write(tmp_path, "wav2prompt", {"st_fr_bleu": 3.4, "st_es_bleu": 80.0})
    for scale, bleu in (("3", 9.0), ("1", 13.3), ("0.3", 11.4)):
        write(tmp_path, f"wav2prompt_e2e_x{scale}", {"st_fr_bleu": bleu, "st_es_bleu": 70.0})
    for scale, bleu in (("3", 5.0), ("1", 4.0), ("0.3", 2.0)):
        write(tmp_path, f"cascade_asrft_x{scale}", {"st_fr_bleu": bleu, "asr_wer": 50.0})
    main(["--exp", str(tmp_path), "--ft-lr", "1e-4", "--ft-asr-lr", "2e-4"])
    saved = json.loads((tmp_path / "ft_lr_probe" / "results.json").read_text())
    assert saved["chosen"] == {"cascade_asrft": {"scale": 3.0, "lr": 6e-4},
                               "wav2prompt_e2e": {"scale": 1.0, "lr": 1e-4}}
    assert sorted(saved["tries"]["wav2prompt_e2e"]) == ["0.3", "1.0", "3.0"]
    md = (tmp_path / "ft_lr_probe" / "results.md").read_text()
    assert "| wav2prompt (zero-shot) | | 3.4 |" in md
    assert "| `wav2prompt_e2e` | 0.0001 | 13.3 |" in md and md.count("**yes**") == 2
    assert "| `cascade_asrft` | 0.0006 | 5.0 |" in capsys.readouterr().out
    assert report({}, 1e-4, 2e-4)["chosen"] == {}
