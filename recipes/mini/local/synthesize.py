#!/usr/bin/env python3
"""Synthesise the mini corpus with espeak-ng and festival and extract Kaldi fbank features.

Reads ``sentences.tsv`` (columns ``id split kind en fr es intent answer
context``, and ``domain``) and, for every sentence of the general domain (the
target domain's are never in the ASR data: synthesize_target.py speaks them),
speaks the English transcript ``en``:

* train sentences get ``n_train_voices`` utterances (``--size default``: 3,
  ``smoke``: 1), each with a different train voice; with ``--variety``, a
  quarter of them from festival (two voices, each shifted in pitch), the rest
  from espeak-ng, and each train utterance augmented as a speech toolkit would
  (speed perturbation, additive noise at a random SNR, reverberation:
  audio_variety.py);
* with ``--recorded-speech``, train utterances are made as people record
  speech (the test split's audio is not): half with silence before and after
  (0.1-0.4 s each: what the inference trim leaves of longer ones) over a noise floor of -90 to -45 dBFS, a fifth of them digital
  zero; a third of the espeak-ng ones with 1-3 pauses of 0.2-1 s between words
  (SSML breaks, where espeak-ng ends a word), over a noise floor too; 15%
  through a telephone line's band (300-3400 Hz, resampled through 8 kHz). Drawn
  from each utterance's own generator, so the voices and augmentation of the
  corpus without it stay as they are;
* dev and test sentences get one clean espeak-ng utterance with a held-out
  voice: a variant that train never uses, in one of the train accents or in an
  accent train never hears, so evaluation measures generalisation to unseen
  speakers. (Test conditions with other voices and noise: make_conditions.py.)

Each espeak-ng utterance gets a random speed and pitch. All random choices come from
generators seeded by ``(--seed, sentence id[, utterance index])``, so they do
not depend on row order, on ``--jobs``, or on ``--size`` (utterance ``_0`` of
a sentence is the same in both sizes).

For each utterance the synthesizer's output is resampled to 16 kHz,
trimmed of leading/trailing silence, saved as ``OUTDIR/wav/<utt>.wav`` (int16)
and as 80-dim Kaldi fbank ``OUTDIR/fbank/<utt>.npy`` (float32, T x 80).
Utterances whose ``.npy`` exists are not synthesised again.

Writes fairseq speech-to-text manifests ``OUTDIR/<split>.tsv`` (audio = the
``.npy``) and ``OUTDIR/<split>_wav.tsv`` (audio = the ``.wav``) with columns
``id audio n_frames tgt_text speaker kind fr es intent answer context``.

Usage:
    python synthesize.py --sentences DIR/sentences.tsv --out OUTDIR \
        [--size smoke|default] [--seed 1] [--jobs 2] [--variety] [--recorded-speech]
"""
import argparse
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf

from xml.sax.saxutils import escape

from audio_variety import (TELEPHONE_BAND_HZ, TELEPHONE_RATE, festival_batch, festival_voices, mix_at_snr, noise,
                           read_16k, require, resample_16k, sox_effects, telephone, with_silence)
from wav2prompt_plugin.data.audio_features import kaldi_fbank

# espeak-ng accents (language voices). "en" is an alias of en-gb, so only
# en-gb is listed. The mbrola voices (en-uk, mb-*) need the separate mbrola
# binary and are not used.
TRAIN_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbcwmd")
# Never heard in training. Held-out voices speak every accent with variants
# train never uses, so one test voice in seven has an unheard accent too.
HELDOUT_ACCENTS = ("en-gb-x-gbclan",)

# espeak-ng voice variants (the "+name" suffix, a file of espeak-ng-data/voices/!v),
# disjoint between the sets. Train uses every variant that sounds like a person
# (robot, whisper, croak and effect voices left out): speaker variety is what
# lets the encoder generalise to unheard variants; with m1-m6 and f1-f3 only,
# m8 (the one with a spectral tilt, "tone") had 2-3x the WER of the others.
TRAIN_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "adam", "Alex", "Alicia", "Andrea",
    "Andy", "Annie", "AnxiousAndy", "antonio", "aunty", "belinda", "benjamin", "boris", "david",
    "Denis", "Diogo", "ed", "edward", "edward2", "Gene", "Gene2", "grandma", "grandpa", "gustave",
    "Henrique", "Hugo", "iven", "iven2", "iven3", "iven4", "Jacky", "john", "klatt", "klatt2",
    "klatt3", "Lee", "linda", "marcelo", "Marco", "Mario", "max", "Michael", "michel", "miguel",
    "Mike", "Nguyen", "norbert", "pablo", "paul", "pedro", "quincy", "rob", "robert", "sandro",
    "shelby", "steph", "steph2", "steph3", "travis", "victor", "zac", "anika",
)
HELDOUT_VARIANTS = ("m7", "m8", "f4", "f5")

TRAIN_VOICES = tuple(f"{a}+{v}" for a in TRAIN_ACCENTS for v in TRAIN_VARIANTS)
HELDOUT_VOICES = tuple(f"{a}+{v}" for a in TRAIN_ACCENTS + HELDOUT_ACCENTS for v in HELDOUT_VARIANTS)

SPEED_WPM = (140, 190)  # espeak-ng -s, words per minute
PITCH = (30, 70)  # espeak-ng -p, 0..99 (50 is the default)

# festival: a share of the train utterances, from two voices of Debian's packages (a diphone male
# voice and an HTS female one), each shifted by up to 3 semitones (sox pitch) for more speakers.
# ked_diphone, a third voice, is never heard in training: it speaks a test condition.
TRAIN_FESTIVAL_VOICES = ("kal_diphone", "cmu_us_slt_arctic_hts")
HELDOUT_FESTIVAL_VOICES = ("ked_diphone",)
FESTIVAL_PACKAGES = "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts"
FESTIVAL_SHARE = 0.25
FESTIVAL_PITCH_CENTS = (-300, 300)
# Augmentation of every train utterance: speed 0.9 / 1.0 / 1.1, a third each (Kaldi's speed
# perturbation); white or brown noise for 30% at 5-25 dB SNR; reverberation for 20% (sox reverb:
# reverberance and room scale, %).
SPEEDS = (0.9, 1.0, 1.1)
NOISE_SHARE, NOISE_SNR_DB, NOISE_KINDS = 0.3, (5.0, 25.0), ("white", "brown")
REVERB_SHARE, REVERBERANCE, ROOM_SCALE = 0.2, (20, 80), (30, 100)

# --recorded-speech: train audio as people record it. Silence before and after the speech for half of
# the utterances, over a noise floor drawn from a microphone's range (digital zero for a fifth: a
# recording cut out of a file); pauses between words for a third of the espeak-ng ones; a telephone
# line for 15%. The rest stays trimmed, as the test split is. The silence is short: longer silence is
# cut at inference (wav2prompt_plugin/data/voice_activity.py, margins of 0.15 s), and 0.2-2 s made the
# train utterances 77% longer and the encoder slower to learn at equal updates (RESULTS.md).
SILENCE_SHARE, SILENCE_SECONDS = 0.5, (0.1, 0.4)
FLOOR_DBFS, DIGITAL_ZERO_SHARE = (-90.0, -45.0), 0.2
PAUSE_SHARE, PAUSES, PAUSE_SECONDS = 1 / 3, (1, 3), (0.2, 1.0)
TELEPHONE_SHARE = 0.15

N_TRAIN_VOICES = {"smoke": 1, "default": 3}

SPLITS = ("train", "dev", "test")
INPUT_COLUMNS = ("id", "split", "kind", "en", "fr", "es", "intent", "answer", "context")
PASSTHROUGH = ("kind", "fr", "es", "intent", "answer", "context")
MANIFEST_COLUMNS = ("id", "audio", "n_frames", "tgt_text", "speaker") + PASSTHROUGH

SAMPLE_RATE = 16000
ESPEAK_RATE = 22050

TRIM_WINDOW = 160  # 10 ms energy frames
TRIM_DB = 40.0  # a frame is speech if within this many dB of the loudest one
TRIM_MARGIN = 800  # keep 50 ms of silence on either side


# Written to OUTDIR so that a rerun with other random settings cannot silently
# reuse utterances synthesised with different voices.
CONFIG_FILE = "synthesis_config.json"


# --------------------------------------------------------------------------- #
# espeak-ng voices
# --------------------------------------------------------------------------- #
def espeak_binary():
    path = shutil.which("espeak-ng")
    if path is None:
        sys.exit("error: espeak-ng not found on PATH (install it: apt-get install espeak-ng)")
    return path


def installed_voices(espeak):
    """Return (accent languages, variant names) that espeak-ng knows.

    Checked explicitly because espeak-ng silently falls back to another voice
    for an unknown accent (e.g. "en-xx" speaks as "en") and ignores an unknown
    "+variant", exiting 0 in both cases.
    """
    def listing(arg):
        out = subprocess.run([espeak, f"--voices={arg}"], capture_output=True, text=True, check=True)
        return out.stdout.splitlines()[1:]  # drop the header

    accents = {line.split()[1] for line in listing("en") if len(line.split()) > 1}
    variants = set()
    for line in listing("variant"):
        match = re.search(r"!v/(\S+)", line)
        if match:
            variants.add(match.group(1))
    return accents, variants


def check_voices(espeak):
    accents, variants = installed_voices(espeak)
    for voice in TRAIN_VOICES + HELDOUT_VOICES:
        accent, variant = voice.split("+")
        if accent not in accents:
            sys.exit(f"error: espeak-ng has no accent '{accent}' (voice '{voice}'); "
                     f"see `espeak-ng --voices=en`")
        if variant not in variants:
            sys.exit(f"error: espeak-ng has no variant '{variant}' (voice '{voice}'); "
                     f"see `espeak-ng --voices=variant`")


# --------------------------------------------------------------------------- #
# Planning: which utterances, with which voice
# --------------------------------------------------------------------------- #
def read_sentences(path, domain="general", splits=SPLITS):
    """The rows of `domain` (a file without a domain column is all general)."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in INPUT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"error: {path} lacks column(s) {', '.join(missing)}")
        rows = [r for r in reader if (r.get("domain") or "general") == domain]
    seen = set()
    for row in rows:
        if row["id"] in seen:
            sys.exit(f"error: duplicate sentence id '{row['id']}' in {path}")
        seen.add(row["id"])
        if row["split"] not in splits:
            sys.exit(f"error: sentence '{row['id']}' has split '{row['split']}', "
                     f"expected one of {', '.join(splits)}")
        # espeak-ng reads stdin when given no text, so an empty one would hang.
        if not row["en"].strip():
            sys.exit(f"error: sentence '{row['id']}' has an empty 'en' transcript")
    return rows


def plan_utterances(rows, n_train_voices, seed, variety=False, recorded=False):
    """List one task dict per utterance, in input order."""
    if n_train_voices > len(TRAIN_VOICES):
        sys.exit(f"error: {n_train_voices} voices per sentence but only {len(TRAIN_VOICES)} train voices")
    tasks = []
    for row in rows:
        rng = random.Random(f"{seed}/{row['id']}")
        if row["split"] == "train":
            # A full shuffle (not a sample of n) keeps voice k the same
            # whatever n is.
            order = list(TRAIN_VOICES)
            rng.shuffle(order)
            voices = order[:n_train_voices]
        else:
            voices = [rng.choice(HELDOUT_VOICES)]
        for k, voice in enumerate(voices):
            jitter = random.Random(f"{seed}/{row['id']}/{k}")
            task = {
                "utt_id": f"{row['id']}_{k}",
                "row": row,
                "voice": voice,
                "speed": jitter.randint(*SPEED_WPM),
                "pitch": jitter.randint(*PITCH),
            }
            if variety and row["split"] == "train":
                task.update(train_variety(jitter))
            if recorded and row["split"] == "train":
                task.update(recorded_speech(random.Random(f"{seed}/{row['id']}/{k}/recorded"), task,
                                            len(row["en"].split())))
            tasks.append(task)
    return tasks


def train_variety(rng):
    """A train utterance's synthesizer (when festival) and augmentation, drawn from its own generator."""
    variety = {"speed_factor": rng.choice(SPEEDS), "noise": None, "reverb": None}
    if rng.random() < FESTIVAL_SHARE:
        variety.update(festival_voice=rng.choice(TRAIN_FESTIVAL_VOICES),
                       cents=rng.randint(*FESTIVAL_PITCH_CENTS))
        variety["voice"] = f"festival:{variety['festival_voice']}"
    if rng.random() < NOISE_SHARE:
        variety["noise"] = (rng.choice(NOISE_KINDS), round(rng.uniform(*NOISE_SNR_DB), 1), rng.getrandbits(32))
    if rng.random() < REVERB_SHARE:
        variety["reverb"] = (rng.randint(*REVERBERANCE), rng.randint(*ROOM_SCALE))
    return variety


def recorded_speech(rng, task, n_words):
    """A train utterance's silence, pauses, noise floor and line (--recorded-speech), from its own generator."""
    out = {"silence": None, "pauses": [], "telephone": False}
    if rng.random() < SILENCE_SHARE:
        out["silence"] = (round(rng.uniform(*SILENCE_SECONDS), 2), round(rng.uniform(*SILENCE_SECONDS), 2))
    if rng.random() < PAUSE_SHARE and n_words > 1 and "festival_voice" not in task:
        gaps = sorted(rng.sample(range(1, n_words), min(rng.randint(*PAUSES), n_words - 1)))
        out["pauses"] = [(gap, round(rng.uniform(*PAUSE_SECONDS), 2)) for gap in gaps]  # before word `gap`
    out["floor"] = None if rng.random() < DIGITAL_ZERO_SHARE else round(rng.uniform(*FLOOR_DBFS), 1)
    out["floor_seed"] = rng.getrandbits(32)
    out["telephone"] = rng.random() < TELEPHONE_SHARE
    return out


def check_config(out_dir, seed, variety, write=True, recorded=False):
    """Refuse to mix utterances made with different random settings (or, with write=False, a
    directory that does not say how it was made)."""
    config = {
        "seed": seed,
        "train_voices": list(TRAIN_VOICES),
        "heldout_voices": list(HELDOUT_VOICES),
        "speed_wpm": list(SPEED_WPM),
        "pitch": list(PITCH),
    }
    if variety:
        config["festival"] = {"voices": list(TRAIN_FESTIVAL_VOICES), "share": FESTIVAL_SHARE,
                              "pitch_cents": list(FESTIVAL_PITCH_CENTS)}
        config["augmentation"] = {"speeds": list(SPEEDS), "noise": [NOISE_SHARE, list(NOISE_SNR_DB), list(NOISE_KINDS)],
                                  "reverb": [REVERB_SHARE, list(REVERBERANCE), list(ROOM_SCALE)]}
    if recorded:
        config["recorded_speech"] = {
            "silence": [SILENCE_SHARE, list(SILENCE_SECONDS)], "floor_dbfs": [list(FLOOR_DBFS), DIGITAL_ZERO_SHARE],
            "pauses": [PAUSE_SHARE, list(PAUSES), list(PAUSE_SECONDS)],
            "telephone": [TELEPHONE_SHARE, list(TELEPHONE_BAND_HZ), TELEPHONE_RATE]}
    path = out_dir / CONFIG_FILE
    if path.exists():
        old = json.loads(path.read_text())
        if old != config:
            differ = sorted(k for k in old.keys() | config.keys() if old.get(k) != config.get(k))
            sys.exit(f"error: {out_dir} holds utterances synthesised with other settings "
                     f"({path} differs in: {', '.join(differ)}); use a fresh --out directory")
    elif not write:
        sys.exit(f"error: {out_dir} has no {CONFIG_FILE} to say how it was synthesised; "
                 f"use a fresh --out directory")
    else:
        path.write_text(json.dumps(config, indent=1) + "\n")


# --------------------------------------------------------------------------- #
# Synthesis and features (run in worker processes)
# --------------------------------------------------------------------------- #
def with_pauses(text, pauses):
    """SSML for espeak-ng -m: the text with a break of the given seconds before each word index."""
    words = [escape(w) for w in text.split()]
    for gap, seconds in reversed(pauses):
        words.insert(gap, f'<break time="{round(seconds * 1000)}ms"/>')
    return f"<speak>{' '.join(words)}</speak>"


def speak(text, voice, speed, pitch, pauses=()):
    """Run espeak-ng; return its 22.05 kHz int16 samples. `pauses`: (word index, seconds) of silence
    before that word (SSML breaks)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "espeak.wav")
        markup = ["-m"] if pauses else []
        # "--" so that text can never be taken for an option.
        cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), *markup, "-w", wav, "--",
               with_pauses(text, pauses) if pauses else text]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(wav):
            raise RuntimeError(f"espeak-ng failed ({' '.join(cmd)}): {proc.stderr.strip()}")
        samples, rate = sf.read(wav, dtype="int16")
    if rate != ESPEAK_RATE or samples.ndim != 1:
        raise RuntimeError(f"unexpected espeak-ng output: {rate} Hz, shape {samples.shape}")
    return samples


def to_16k(samples):
    return resample_16k(samples, ESPEAK_RATE)


def loud_bounds(samples):
    """(first, last + 1) sample of the frames within TRIM_DB of the loudest frame."""
    n_win = len(samples) // TRIM_WINDOW
    if n_win == 0:
        raise RuntimeError("espeak-ng produced no audio")
    frames = samples[: n_win * TRIM_WINDOW].astype(np.float64).reshape(n_win, TRIM_WINDOW)
    energy_db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    loud = np.flatnonzero(energy_db > energy_db.max() - TRIM_DB)
    return loud[0] * TRIM_WINDOW, (loud[-1] + 1) * TRIM_WINDOW


def trim_silence(samples):
    """Cut leading/trailing frames more than TRIM_DB below the loudest frame, but TRIM_MARGIN samples."""
    first, last = loud_bounds(samples)
    return samples[max(0, first - TRIM_MARGIN):min(len(samples), last + TRIM_MARGIN)]


def fbank(samples):
    """80-dim Kaldi fbank of int16 samples, exactly as the plugin computes it from a wav."""
    return kaldi_fbank(samples.astype(np.float32) / 32768.0, SAMPLE_RATE)


def synthesize_one(job):
    """Make one utterance's wav and fbank unless its .npy already exists.

    The .npy is written last and renamed into place, so its existence means
    both files are complete.
    """
    task, wav_path, npy_path = job
    if not os.path.exists(npy_path):
        effects = []
        if "festival_voice" in task:
            audio = read_16k(task["festival_raw"])
            effects += ["pitch", task["cents"]]
        else:
            audio = to_16k(speak(task["row"]["en"], task["voice"], task["speed"], task["pitch"],
                                 task.get("pauses", ())))
        if task.get("speed_factor", 1.0) != 1.0:
            effects += ["speed", task["speed_factor"]]
        if task.get("reverb"):
            effects += ["reverb", task["reverb"][0], 50, task["reverb"][1]]
        audio = trim_silence(sox_effects(audio, effects))
        if task.get("noise"):
            kind, snr, seed = task["noise"]
            audio = mix_at_snr(audio, noise(kind, len(audio), np.random.default_rng(seed)), snr)
        if task.get("silence") or task.get("pauses"):
            before, after = (round(s * SAMPLE_RATE) for s in task["silence"] or (0, 0))
            audio = with_silence(audio, before, after, task["floor"], np.random.default_rng(task["floor_seed"]))
        if task.get("telephone"):
            audio = telephone(audio)
        save_utterance(audio, wav_path, npy_path)
        if "festival_raw" in task:
            os.remove(task["festival_raw"])
    return utterance_size(wav_path, npy_path)


def save_utterance(audio, wav_path, npy_path):
    """Write the wav, then its fbank .npy, each renamed into place: an .npy means both are whole."""
    tmp_wav, tmp_npy = wav_path + ".tmp", npy_path + ".tmp"
    sf.write(tmp_wav, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    os.replace(tmp_wav, wav_path)
    with open(tmp_npy, "wb") as f:
        np.save(f, fbank(audio))
    os.replace(tmp_npy, npy_path)


def utterance_size(wav_path, npy_path):
    """(fbank frames, seconds) of a saved utterance."""
    return np.load(npy_path, mmap_mode="r").shape[0], sf.info(wav_path).frames / SAMPLE_RATE


def repeatable_sox():
    """Make sox dither (its 16-bit output) with a fixed seed, for this process and its children:
    otherwise a rerun from nothing differs in the last bit of every sox-processed sample."""
    os.environ["SOX_OPTS"] = " ".join(filter(None, (os.environ.get("SOX_OPTS", ""), "-R")))


def festival_prepass(jobs, raw_dir, n_proc):
    """Speak every festival utterance still to make into RAW_DIR, many per festival process."""
    todo = {}
    for task, _, npy_path in jobs:
        if "festival_voice" in task:
            task["festival_raw"] = str(raw_dir / f"{task['utt_id']}.wav")
            if not os.path.exists(npy_path) and not os.path.exists(task["festival_raw"]):
                todo.setdefault(task["festival_voice"], []).append((task["row"]["en"], task["festival_raw"]))
    chunks = [(voice, items[i:i + 200]) for voice, items in todo.items() for i in range(0, len(items), 200)]
    if n_proc <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            festival_batch(*chunk)
    else:
        with Pool(n_proc) as pool:
            pool.starmap(festival_batch, chunks, chunksize=1)
    return sum(len(items) for _, items in chunks)


def run_jobs(jobs, n_proc):
    """Results in the order of `jobs`, whatever the number of processes."""
    if n_proc <= 1:
        return [synthesize_one(j) for j in jobs]
    with Pool(n_proc) as pool:
        return pool.map(synthesize_one, jobs, chunksize=max(1, min(16, len(jobs) // (4 * n_proc))))


# --------------------------------------------------------------------------- #
# Manifests
# --------------------------------------------------------------------------- #
def clean(value):
    """A field must not break the TSV: fold tabs and newlines into spaces."""
    return re.sub(r"[\t\r\n]+", " ", str(value))


def write_manifest(path, rows, columns=MANIFEST_COLUMNS):
    with open(path, "w", newline="", encoding="utf-8") as f:
        # quotechar=None: with QUOTE_NONE a '"' in a field would otherwise
        # need an escape character; fairseq reads these files unquoted.
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None,
                            escapechar=None, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([clean(row[c]) for c in columns])


def manifest_row(task, audio, n_frames):
    row = task["row"]
    out = {"id": task["utt_id"], "audio": audio, "n_frames": n_frames,
           "tgt_text": row["en"], "speaker": task["voice"]}
    out.update({c: row[c] for c in PASSTHROUGH})
    return out


# --------------------------------------------------------------------------- #
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sentences", required=True, type=Path, help="sentences.tsv")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--size", choices=sorted(N_TRAIN_VOICES), default="default",
                   help="smoke: 1 voice per train sentence, default: 2")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2, help="parallel synthesis processes")
    p.add_argument("--variety", action="store_true",
                   help="train speech from festival too, and augmented (speed, noise, reverberation)")
    p.add_argument("--recorded-speech", action="store_true",
                   help="train speech as people record it: silence around it over a noise floor, pauses "
                        "between words, a telephone line's band")
    p.add_argument("--check-only", action="store_true",
                   help="only check that --out was synthesised with these settings (or is new)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.check_only:
        check_config(args.out.resolve(), args.seed, args.variety, write=False, recorded=args.recorded_speech)
        return
    start = time.time()
    repeatable_sox()
    check_voices(espeak_binary())
    if args.variety or args.recorded_speech:
        require("sox", "sox")
    if args.variety:
        require("festival", FESTIVAL_PACKAGES)
        missing = set(TRAIN_FESTIVAL_VOICES) - festival_voices()
        if missing:
            sys.exit(f"error: festival has no voice {', '.join(sorted(missing))} "
                     f"(install: apt-get install {FESTIVAL_PACKAGES})")
    rows = read_sentences(args.sentences)
    tasks = plan_utterances(rows, N_TRAIN_VOICES[args.size], args.seed, args.variety, args.recorded_speech)

    out = args.out.resolve()
    (out / "fbank").mkdir(parents=True, exist_ok=True)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    check_config(out, args.seed, args.variety, recorded=args.recorded_speech)

    jobs = [(t, str(out / "wav" / f"{t['utt_id']}.wav"), str(out / "fbank" / f"{t['utt_id']}.npy"))
            for t in tasks]
    n_new = sum(not os.path.exists(j[2]) for j in jobs)
    (out / "festival_raw").mkdir(exist_ok=True)
    festival_start = time.time()
    n_festival = festival_prepass(jobs, out / "festival_raw", args.jobs)
    print(f"festival: {n_festival} utterance(s) in {time.time() - festival_start:.1f} s")
    results = run_jobs(jobs, args.jobs)

    total_seconds = 0.0
    print(f"synthesised {n_new} new utterance(s), {len(tasks) - n_new} already present")
    for split in SPLITS:
        feats_rows, wav_rows, voices, seconds = [], [], set(), 0.0
        for (task, wav_path, npy_path), (n_frames, dur) in zip(jobs, results):
            if task["row"]["split"] != split:
                continue
            feats_rows.append(manifest_row(task, npy_path, n_frames))
            wav_rows.append(manifest_row(task, wav_path, n_frames))
            voices.add(task["voice"])
            seconds += dur
        write_manifest(out / f"{split}.tsv", feats_rows)
        write_manifest(out / f"{split}_wav.tsv", wav_rows)
        total_seconds += seconds
        festival = sorted(v.split(":")[1] for v in voices if v.startswith("festival:"))
        voices = {v for v in voices if not v.startswith("festival:")}
        accents = sorted({v.split("+")[0] for v in voices})
        variants = sorted({v.split("+")[1] for v in voices})
        print(f"{split}: {len(feats_rows)} utterances, {seconds / 3600:.3f} h, {len(voices)} voices from "
              f"{len(accents)} accents ({' '.join(accents)}) and {len(variants)} variants"
              + (f" ({' '.join(variants)})" if len(variants) <= 10 else "")
              + (f"; festival: {' '.join(festival)}" if festival else ""))
    print(f"total: {len(tasks)} utterances, {total_seconds / 3600:.3f} h, "
          f"{time.time() - start:.1f} s elapsed")


if __name__ == "__main__":
    main()
