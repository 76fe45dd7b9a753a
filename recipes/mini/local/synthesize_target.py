#!/usr/bin/env python3
"""Speech of the target domain (make_world.py's council sentences), in a voice and a noise no ASR stage hears.

The paper's few-shot pairs (Europarl-ST) differ from its ASR data (LibriSpeech) in words, style and
acoustics.  Here every council sentence gets one utterance:

* spoken by festival's ked_diphone, the voice that training never hears (synthesize.py's
  HELDOUT_FESTIVAL_VOICES), shifted by up to 1.5 semitones (sox pitch) so the domain has many speakers;
* over mains hum (50 or 60 Hz and 5 harmonics) at 25-35 dB SNR: training adds white or
  brown noise only, never a tone.

How far that is from training, on the general world's own test sentences (105 describe sentences, every
word heard) and the default Wav2Prompt of 2026-12-07: clean WER 4.5, BLEU 87.9; in this voice 36.1 / 36.1;
with hum at 20-30 dB 42.3 / 27.2; in a hall of its own besides (sox reverb 85-100%, pre-delay 30-60 ms,
hum 10-20 dB) 67.0 / 14.9.

Every random choice comes from a generator seeded by (--seed, sentence id), so a rerun from nothing writes
the same files.  Utterances whose .npy exists are not made again; a directory made with other settings is
refused (target_config.json).

Writes OUT/{pool,dev,test}.tsv (audio = fbank .npy) and OUT/{pool,dev,test}_wav.tsv (audio = .wav), with
synthesize.py's columns (id audio n_frames tgt_text speaker kind fr es intent answer context); the pool
holds the council's "train" sentences, dev and test its "target_dev" and "target_test".  test.tsv is
written last: it exists once the directory is whole.

Usage:
    python synthesize_target.py --sentences DIR/sentences.tsv --out OUTDIR [--seed 1] [--jobs 2]
"""
import argparse
import json
import os
import random
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from audio_variety import festival_voices, mix_at_snr, read_16k, require, sox_effects
from synthesize import (FESTIVAL_PACKAGES, HELDOUT_FESTIVAL_VOICES, SAMPLE_RATE, festival_prepass, manifest_row,
                        read_sentences, repeatable_sox, save_utterance, trim_silence, utterance_size,
                        write_manifest)

# sentences.tsv split of a council sentence -> its manifest here
MANIFESTS = {"train": "pool", "target_dev": "dev", "target_test": "test"}
VOICE = HELDOUT_FESTIVAL_VOICES[0]
PITCH_CENTS = (-150, 150)
HUM_HZ, HUM_HARMONICS, HUM_SNR_DB = (50, 60), 6, (25.0, 35.0)
CONFIG_FILE = "target_config.json"


def plan(rows, seed):
    """One task dict per sentence: its voice, pitch shift and hum."""
    tasks = []
    for row in rows:
        rng = random.Random(f"{seed}/target/{row['id']}")
        tasks.append({
            "utt_id": f"{row['id']}_0", "row": row, "voice": f"festival:{VOICE}", "festival_voice": VOICE,
            "cents": rng.randint(*PITCH_CENTS),
            "hum": (rng.choice(HUM_HZ), round(rng.uniform(*HUM_SNR_DB), 1), rng.getrandbits(32)),
        })
    return tasks


def hum(n, hz, rng):
    """n samples of mains hum: the fundamental and its harmonics, the k-th at 1/k, random phases."""
    t = np.arange(n) / SAMPLE_RATE
    return sum(np.sin(2 * np.pi * k * hz * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, HUM_HARMONICS + 1))


def make_one(job):
    """One utterance's wav and fbank, from festival's raw wav, unless its .npy exists."""
    task, wav_path, npy_path = job
    if not os.path.exists(npy_path):
        audio = sox_effects(read_16k(task["festival_raw"]), ["pitch", task["cents"]])
        audio = trim_silence(audio)
        hz, snr, seed = task["hum"]
        save_utterance(mix_at_snr(audio, hum(len(audio), hz, np.random.default_rng(seed)), snr), wav_path, npy_path)
        os.remove(task["festival_raw"])
    return utterance_size(wav_path, npy_path)


def check_config(out_dir, seed):
    """Refuse to mix utterances made with other settings in one directory."""
    config = {"seed": seed, "voice": VOICE, "pitch_cents": list(PITCH_CENTS),
              "hum": [list(HUM_HZ), HUM_HARMONICS, list(HUM_SNR_DB)]}
    path = out_dir / CONFIG_FILE
    if path.exists() and json.loads(path.read_text()) != config:
        sys.exit(f"error: {out_dir} holds utterances made with other settings ({path}); use a fresh --out directory")
    path.write_text(json.dumps(config, indent=1) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sentences", required=True, type=Path, help="make_world.py's sentences.tsv")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2, help="parallel processes")
    args = p.parse_args(argv)
    start = time.time()
    repeatable_sox()
    require("sox", "sox")
    require("festival", FESTIVAL_PACKAGES)
    if VOICE not in festival_voices():
        sys.exit(f"error: festival has no voice {VOICE} (install: apt-get install {FESTIVAL_PACKAGES})")
    rows = read_sentences(args.sentences, domain="council", splits=tuple(MANIFESTS))
    if not rows:
        sys.exit(f"error: {args.sentences} has no council sentence (made by an older make_world.py? remake the world)")
    out = args.out.resolve()
    for sub in ("wav", "fbank", "festival_raw"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    check_config(out, args.seed)
    tasks = plan(rows, args.seed)
    jobs = [(t, str(out / "wav" / f"{t['utt_id']}.wav"), str(out / "fbank" / f"{t['utt_id']}.npy")) for t in tasks]
    n_new = sum(not os.path.exists(j[2]) for j in jobs)
    n_festival = festival_prepass(jobs, out / "festival_raw", args.jobs)
    festival_seconds = time.time() - start
    if args.jobs <= 1:
        sizes = [make_one(j) for j in jobs]
    else:
        with Pool(args.jobs) as pool:
            sizes = pool.map(make_one, jobs, chunksize=max(1, min(16, len(jobs) // (4 * args.jobs))))
    for split, name in sorted(MANIFESTS.items(), key=lambda kv: kv[1] == "test"):  # test.tsv last
        chosen = [(j, s) for j, s in zip(jobs, sizes) if j[0]["row"]["split"] == split]
        write_manifest(out / f"{name}_wav.tsv", [manifest_row(t, wav, s[0]) for (t, wav, _), s in chosen])
        write_manifest(out / f"{name}.tsv", [manifest_row(t, npy, s[0]) for (t, _, npy), s in chosen])
        print(f"{name}: {len(chosen)} utterances, {sum(s[1] for _, s in chosen) / 3600:.3f} h")
    elapsed = time.time() - start
    print(f"made {n_new} new utterance(s) ({n_festival} by festival in {festival_seconds:.1f} s), "
          f"{len(jobs) - n_new} already present; {elapsed:.1f} s elapsed"
          + (f", {elapsed / n_new:.3f} s per new utterance" if n_new else ""))


if __name__ == "__main__":
    main()
