#!/usr/bin/env python3
"""The test sentences in other acoustic conditions than the test split's clean held-out espeak-ng voices.

* `white15`: the test audio with white noise at 15 dB SNR;
* `babble15`: the test audio with the sum of 4 other test utterances at 15 dB SNR;
* `festival_ked`: the test sentences spoken by festival's ked_diphone, a voice (and for espeak-ng
  voices, a synthesizer) that training never hears.

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

from audio_variety import babble, festival_batch, festival_voices, mix_at_snr, noise, read_16k, require
from synthesize import FESTIVAL_PACKAGES, HELDOUT_FESTIVAL_VOICES, MANIFEST_COLUMNS, SAMPLE_RATE, fbank, \
    trim_silence, write_manifest

CONDITIONS = {  # name: what the report calls it (local/report.py, check_results.py and run.sh read these)
    "white15": "white noise, 15 dB SNR",
    "babble15": "babble of 4 other test utterances, 15 dB SNR",
    "festival_ked": "festival's ked_diphone, a voice never heard in training",
}
SNR_DB = 15.0
BABBLE_TALKERS = 4


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
    out = []
    for i, (row, x) in enumerate(zip(rows, clean)):
        rng = random.Random(f"{seed}/{name}/{row['id']}")
        if name == "white15":
            interference = noise("white", len(x), np.random.default_rng(rng.getrandbits(32)))
        else:
            others = rng.sample([j for j in range(len(rows)) if j != i], min(BABBLE_TALKERS, len(rows) - 1))
            interference = babble([clean[j] for j in others], len(x))
        out.append(mix_at_snr(x, interference, SNR_DB))
    return out


def make_condition(name, rows, clean, out_dir, seed):
    start = time.time()
    for sub in ("wav", "fbank", "scratch"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    feats_rows, wav_rows = [], []
    for row, audio in zip(rows, condition_audio(name, rows, clean, seed, out_dir / "scratch")):
        wav, npy = out_dir / "wav" / f"{row['id']}.wav", out_dir / "fbank" / f"{row['id']}.npy"
        sf.write(wav, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        feats = fbank(audio)
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
