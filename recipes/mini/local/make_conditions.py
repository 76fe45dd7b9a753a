#!/usr/bin/env python3
"""The test sentences in other acoustic conditions than the test split's clean held-out espeak-ng voices.

* `white15`: the test audio with white noise at 15 dB SNR;
* `babble15`: the test audio with the sum of 4 other test utterances at 15 dB SNR;
* `festival_ked`: the test sentences spoken by festival's ked_diphone, a voice (and for espeak-ng
  voices, a synthesizer) that training never hears;
* `silence05`, `silence2`: the test audio with 0.5 s or 2 s of white noise at -60 dBFS (RMS) before and
  after it, as a recording that starts before and stops after the speech;
* `pauses`: the test sentences spoken again by their held-out voices (as make_word_times.py speaks them,
  so at another speed and pitch than the test audio), with 1-3 pauses of 0.2-1 s of -60 dBFS noise cut
  in where espeak-ng's word events say a word starts;
* `telephone`: the test audio through a telephone line's band (300-3400 Hz), written as 8 kHz files
  (their features are the plugin's, which resamples them to 16 kHz).

Each condition is a directory OUT/<name>/ with wav/, fbank/ and the manifests test.tsv (fbank) and
test_wav.tsv (wav), rows as the test split's (same ids and columns). A condition whose test.tsv exists
is kept. Every random choice is seeded by (--seed, condition, utterance id).

Usage:
    python make_conditions.py --speech data/default/speech --out data/default/conditions [--seed 1]
"""
import argparse
import csv
import os
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from audio_variety import (TELEPHONE_RATE, babble, festival_batch, festival_voices, floor_noise, mix_at_snr, noise,
                           read_16k, require, telephone)
from synthesize import FESTIVAL_PACKAGES, HELDOUT_FESTIVAL_VOICES, MANIFEST_COLUMNS, SAMPLE_RATE, fbank, \
    trim_silence, write_manifest
from wav2prompt_plugin.data.audio_features import load_features

CONDITIONS = {  # name: what the report calls it (local/report.py, check_results.py and run.sh read these)
    "white15": "white noise, 15 dB SNR",
    "babble15": "babble of 4 other test utterances, 15 dB SNR",
    "festival_ked": "festival's ked_diphone, a voice never heard in training",
    "silence05": "0.5 s of -60 dBFS noise before and after",
    "silence2": "2 s of -60 dBFS noise before and after",
    "pauses": "1-3 pauses of 0.2-1 s between words",
    "telephone": "telephone band (300-3400 Hz), 8 kHz files",
}
# run.sh evaluates these twice: as made, and with each file's leading and trailing silence cut as the
# Python API and the demo cut it by default (wav2prompt-eval --trim-silence on its test_wav.tsv)
TRIMMED = ("silence05", "silence2")
SNR_DB = 15.0
BABBLE_TALKERS = 4
SILENCE_SECONDS = {"silence05": 0.5, "silence2": 2.0}
FLOOR_DBFS = -60.0
PAUSES, PAUSE_SECONDS = (1, 3), (0.2, 1.0)
RATE = {"telephone": TELEPHONE_RATE}  # the files' sample rate where not 16 kHz


def evaluated_conditions():
    """name -> what the report calls it: each condition, then <name>_trimmed for those of TRIMMED."""
    return {**CONDITIONS, **{f"{n}_trimmed": f"{CONDITIONS[n]}, trimmed (wav2prompt-eval --trim-silence)"
                             for n in TRIMMED}}


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def condition_audio(name, rows, clean, seed, scratch):
    """The condition's 16 kHz int16 audio of each row."""
    if name == "festival_ked":
        voice = HELDOUT_FESTIVAL_VOICES[0]
        paths = [str(scratch / f"{r['id']}.wav") for r in rows]
        festival_batch(voice, [(r["tgt_text"], p) for r, p in zip(rows, paths)])
        return [trim_silence(read_16k(p)) for p in paths]
    if name == "pauses":
        return with_pauses(rows, seed)
    out = []
    for i, (row, x) in enumerate(zip(rows, clean)):
        rng = random.Random(f"{seed}/{name}/{row['id']}")
        if name in SILENCE_SECONDS:
            n, noise_rng = round(SILENCE_SECONDS[name] * SAMPLE_RATE), np.random.default_rng(rng.getrandbits(32))
            out.append(int16(np.concatenate([floor_noise(n, FLOOR_DBFS, noise_rng), x,
                                             floor_noise(n, FLOOR_DBFS, noise_rng)])))
            continue
        if name == "telephone":
            out.append(telephone(x, TELEPHONE_RATE))
            continue
        if name == "white15":
            interference = noise("white", len(x), np.random.default_rng(rng.getrandbits(32)))
        else:
            others = rng.sample([j for j in range(len(rows)) if j != i], min(BABBLE_TALKERS, len(rows) - 1))
            interference = babble([clean[j] for j in others], len(x))
        out.append(mix_at_snr(x, interference, SNR_DB))
    return out


def int16(x):
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def with_pauses(rows, seed):
    """Each row spoken again (make_word_times.py) with pauses of -60 dBFS noise where words start. One
    libespeak-ng in this process speaks them in row order: a run from nothing writes the same files."""
    from make_word_times import Espeak, spoken_with_times

    espeak, out = Espeak(), []
    for row in rows:
        audio, times = spoken_with_times(espeak, row, seed)
        rng = random.Random(f"{seed}/pauses/{row['id']}")
        starts = [i for i in range(1, len(times)) if times[i][0] is not None]
        chosen = sorted(rng.sample(starts, min(rng.randint(*PAUSES), len(starts))))
        noise_rng, pieces, at = np.random.default_rng(rng.getrandbits(32)), [], 0
        for i in chosen:
            cut = round(times[i][0] * SAMPLE_RATE)
            pieces += [audio[at:cut].astype(np.float64),
                       floor_noise(round(rng.uniform(*PAUSE_SECONDS) * SAMPLE_RATE), FLOOR_DBFS, noise_rng)]
            at = cut
        out.append(int16(np.concatenate(pieces + [audio[at:].astype(np.float64)])))
    return out


def make_condition(name, rows, clean, out_dir, seed):
    start = time.time()
    for sub in ("wav", "fbank", "scratch"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    feats_rows, wav_rows = [], []
    for row, audio in zip(rows, condition_audio(name, rows, clean, seed, out_dir / "scratch")):
        wav, npy = out_dir / "wav" / f"{row['id']}.wav", out_dir / "fbank" / f"{row['id']}.npy"
        rate = RATE.get(name, SAMPLE_RATE)
        sf.write(wav, audio, rate, subtype="PCM_16", format="WAV")
        feats = fbank(audio) if rate == SAMPLE_RATE else load_features(str(wav), utterance_cmvn=False)
        np.save(npy, feats)
        speaker = f"festival:{HELDOUT_FESTIVAL_VOICES[0]}" if name.startswith("festival") else row["speaker"]
        base = {c: row.get(c, "") for c in MANIFEST_COLUMNS}
        base.update(n_frames=feats.shape[0], speaker=speaker)
        feats_rows.append(dict(base, audio=str(npy)))
        wav_rows.append(dict(base, audio=str(wav)))
    shutil.rmtree(out_dir / "scratch")
    write_manifest(out_dir / "test_wav.tsv", wav_rows)
    write_manifest(out_dir / "test.tsv", feats_rows)  # last: its existence means the condition is whole
    print(f"{name}: {len(rows)} utterances in {time.time() - start:.1f} s")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--speech", required=True, type=Path, help="synthesize.py's output (test_wav.tsv)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    require("festival", FESTIVAL_PACKAGES)
    if not set(HELDOUT_FESTIVAL_VOICES) <= festival_voices():
        sys.exit(f"error: festival has no voice {HELDOUT_FESTIVAL_VOICES[0]} "
                 f"(install: apt-get install {FESTIVAL_PACKAGES})")
    rows = read_rows(args.speech / "test_wav.tsv")
    clean = [read_16k(r["audio"]) for r in rows]
    for name in CONDITIONS:
        if not os.path.exists(args.out / name / "test.tsv"):
            make_condition(name, rows, clean, (args.out / name).resolve(), args.seed)


if __name__ == "__main__":
    main()
