#!/usr/bin/env python3
"""Test sentences whose word boundaries are known: espeak-ng says where each word starts.

Every row of a split of the corpus (default: test) is spoken again by its held-out voice, as the
corpus speaks it (one random speed and pitch, 16 kHz, silence trimmed to 50 ms), through
libespeak-ng's own API: its synthesis callback reports a word event at the output sample where each
word's synthesis starts. A word ends where the next one starts (the sentences have no punctuation,
so espeak-ng puts no pause between words); the last one where the loud part of the audio ends.
These are the reference for CIF's word timestamps (`wav2prompt-eval --timestamps`), exact by
construction of the audio, which no forced aligner would give.

Why ctypes: the espeak-ng command line prints no word times (only mbrola voices write phoneme
files), and no maintained Python binding of the library exposes its events.

Writes OUT/wav/, OUT/fbank/, the manifests <split>.tsv (fbank) and <split>_wav.tsv (wav) with the
split's columns plus `word_times` ("start-end" in seconds per word, space separated; "?" where
espeak-ng gave no boundary). Every random
choice is seeded by (--seed, utterance id); espeak-ng's own randomness runs on through the process, so
an utterance's samples depend on those spoken before it, and a run from nothing writes the same files
(a test checks it). Kept if <split>.tsv exists.

Usage:
    python make_word_times.py --speech data/default/speech --out data/default/word_times [--split test]
"""
import argparse
import bisect
import csv
import ctypes
import random
import re
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from synthesize import ESPEAK_RATE, MANIFEST_COLUMNS, PITCH, SAMPLE_RATE, SPEED_WPM, TRIM_MARGIN, fbank, \
    loud_bounds, to_16k, write_manifest

# speak_lib.h: AUDIO_OUTPUT_SYNCHRONOUS, espeakRATE, espeakPITCH, POS_CHARACTER, espeakEVENT_LIST_TERMINATED,
# espeakEVENT_WORD
SYNCHRONOUS, RATE, PITCH_PARAMETER, POS_CHARACTER, EVENT_END, EVENT_WORD = 2, 1, 3, 1, 0, 1
# espeak-ng finds some voices by language where the library looks them up by file name
VOICE_FILES = {"en-gb": "en"}


class Event(ctypes.Structure):  # espeak_EVENT
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event))


class Espeak:
    """libespeak-ng in synchronous mode: samples and the sample at which each word starts."""

    def __init__(self):
        try:
            self.lib = ctypes.CDLL("libespeak-ng.so.1")
        except OSError:
            raise SystemExit("error: libespeak-ng.so.1 not found (apt-get install espeak-ng)") from None
        if self.lib.espeak_Initialize(SYNCHRONOUS, 0, None, 0) != ESPEAK_RATE:
            raise SystemExit(f"error: libespeak-ng does not synthesise at {ESPEAK_RATE} Hz")
        self.chunks, self.words = [], []  # words: (character offset, first sample) of each word event
        self.callback = CALLBACK(self._collect)  # kept: the library holds only a pointer
        self.lib.espeak_SetSynthCallback(self.callback)

    def _collect(self, wav, n, events):
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != EVENT_END:
            if events[i].type == EVENT_WORD and events[i].text_position > 0:  # 0: after the last word
                self.words.append((events[i].text_position - 1, events[i].sample))
            i += 1
        return 0

    def speak(self, text, voice, speed, pitch):
        accent, _, variant = voice.partition("+")
        name = f"{VOICE_FILES.get(accent, accent)}+{variant}" if variant else VOICE_FILES.get(accent, accent)
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise SystemExit(f"error: libespeak-ng has no voice {name!r} (for {voice!r})")
        self.lib.espeak_SetParameter(RATE, speed, 0)
        self.lib.espeak_SetParameter(PITCH_PARAMETER, pitch, 0)
        self.chunks, self.words = [], []
        data = text.encode()
        if self.lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, 0, None, None) != 0:
            raise RuntimeError(f"libespeak-ng failed on {text!r}")
        return np.concatenate(self.chunks), list(self.words)


def spoken_with_times(espeak, row, seed):
    """The row's sentence at 16 kHz, trimmed as the corpus is, and each word's (start, end) in seconds,
    None where espeak-ng gave no boundary: it speaks some unstressed words with their neighbour as one
    word ("in the"), and reports one event for both."""
    rng = random.Random(f"{seed}/word_times/{row['id']}")
    speed, pitch = rng.randint(*SPEED_WPM), rng.randint(*PITCH)
    text = row["tgt_text"]
    samples, events = espeak.speak(text, row["speaker"], speed, pitch)
    audio = to_16k(samples)
    first, last = loud_bounds(audio)
    begin, end = max(0, first - TRIM_MARGIN), min(len(audio), last + TRIM_MARGIN)
    offsets = [m.start() for m in re.finditer(r"\S+", text)]
    starts = [None] * len(offsets)
    for offset, sample in events:  # the first event inside each word (espeak-ng splits a few words in two)
        word = bisect.bisect_right(offsets, offset) - 1
        if word >= 0 and starts[word] is None:
            starts[word] = max(sample * SAMPLE_RATE / ESPEAK_RATE - begin, 0.0) / SAMPLE_RATE
    if starts[0] is None:
        raise RuntimeError(f"{row['id']}: espeak-ng reported no event for the first word of {text!r}")
    # the first word's event is where synthesis starts, silence before it included
    starts[0] = max(starts[0], (first - begin) / SAMPLE_RATE)
    # a word ends where the next word event is, if that event is the next word's
    ends = starts[1:] + [(last - begin) / SAMPLE_RATE]
    ends = [e if s_next is not None or i == len(starts) - 1 else None
            for i, (e, s_next) in enumerate(zip(ends, starts[1:] + [0.0]))]
    return audio[begin:end], list(zip(starts, ends))


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speech", required=True, help="the corpus' speech directory (its <split>.tsv)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    if (out / f"{args.split}.tsv").exists():
        return
    start = time.time()
    for sub in ("wav", "fbank"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    espeak = Espeak()
    feats_rows, wav_rows = [], []
    for row in read_rows(Path(args.speech) / f"{args.split}.tsv"):
        audio, times = spoken_with_times(espeak, row, args.seed)
        wav, npy = out / "wav" / f"{row['id']}.wav", out / "fbank" / f"{row['id']}.npy"
        sf.write(wav, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        feats = fbank(audio)
        np.save(npy, feats)
        base = {c: row.get(c, "") for c in MANIFEST_COLUMNS}
        base.update(n_frames=feats.shape[0], word_times=" ".join(
            "-".join("?" if t is None else f"{t:.4f}" for t in span) for span in times))
        feats_rows.append(dict(base, audio=str(npy)))
        wav_rows.append(dict(base, audio=str(wav)))
    columns = MANIFEST_COLUMNS + ("word_times",)
    write_manifest(out / f"{args.split}_wav.tsv", wav_rows, columns)
    write_manifest(out / f"{args.split}.tsv", feats_rows, columns)  # last: the set is whole
    print(f"word times: {len(feats_rows)} {args.split} utterances in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
