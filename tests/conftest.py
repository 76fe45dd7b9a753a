"""Shared fixtures: a tiny random LLaMA with a SentencePiece tokenizer, and a
handful of espeak-ng utterances with manifests, all built in a temp directory."""
import csv
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTENCES = [
    "the cat sleeps in the kitchen",
    "a red dog runs in the park",
    "anna reads a green book",
    "please turn on the light",
    "where does tom live",
    "the old man sees two birds",
    "close the door in the bedroom",
    "marc has a small blue car",
    "the children play in the garden",
    "what colour is the box",
    "open the window please",
    "the black horse drinks water",
]
CONTEXTS = ["the box is green", "tom lives in paris", "the ball is under the table"]


def build_tiny_llm(out_dir, seed=0, corpus=SENTENCES, vocab_size=120, family="llama", pad_token="<pad>"):
    """A causal LM of odd sizes (LLaMA, or BLOOM with ALiBi) and a SentencePiece
    tokenizer, saved like a real LLM (`pad_token=None`: none, as LLaMA-2's)."""
    import sentencepiece as spm
    from transformers import BloomConfig, BloomForCausalLM, LlamaConfig, LlamaForCausalLM, LlamaTokenizer

    work = os.path.join(out_dir, "_spm")
    os.makedirs(work, exist_ok=True)
    text = os.path.join(work, "corpus.txt")
    with open(text, "w") as f:
        f.write("\n".join(list(corpus) * 3 + CONTEXTS + ["translate into french intent answer"]))
    spm.SentencePieceTrainer.train(
        input=text, model_prefix=os.path.join(work, "sp"), vocab_size=vocab_size,
        model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=3 if pad_token else -1,
        hard_vocab_limit=False, minloglevel=2,
    )
    os.makedirs(out_dir, exist_ok=True)
    shutil.copy(os.path.join(work, "sp.model"), os.path.join(out_dir, "tokenizer.model"))
    # LLaMA-2's tokenizer_config.json: add_bos_token true
    tokenizer = LlamaTokenizer.from_pretrained(out_dir, pad_token=pad_token, add_bos_token=True)
    tokenizer.save_pretrained(out_dir)
    torch.manual_seed(seed)
    if family == "bloom":
        config = BloomConfig(vocab_size=len(tokenizer), hidden_size=48, n_layer=2, n_head=3,
                             bos_token_id=1, eos_token_id=2, pad_token_id=3, initializer_range=0.3)
        BloomForCausalLM(config).save_pretrained(out_dir)
        shutil.rmtree(work)
        return out_dir
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=72, intermediate_size=148,
        num_hidden_layers=3, num_attention_heads=3, num_key_value_heads=3,
        max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=3 if pad_token else None,
        tie_word_embeddings=False, initializer_range=0.3,
    )
    LlamaForCausalLM(config).save_pretrained(out_dir)
    shutil.rmtree(work)
    return out_dir


def synthesize(text, path, voice="en-us", rate=16000):
    from scipy.signal import resample_poly

    raw = path + ".22k.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", raw, "--", text], check=True)
    audio, sr = sf.read(raw, dtype="float32")
    os.remove(raw)
    assert sr == 22050
    if rate == 16000:
        audio = resample_poly(audio, 320, 441).astype(np.float32)
    sf.write(path, audio, rate, subtype="PCM_16")
    return len(audio)


def write_manifest(path, rows, columns=("id", "audio", "n_frames", "tgt_text", "context")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[c] for c in columns])


@pytest.fixture(scope="session")
def smoke_world(tmp_path_factory):
    """The mini recipe's world at smoke size (make_world.py's sentences.tsv and facts.tsv)."""
    world = tmp_path_factory.mktemp("smoke_world")
    script = os.path.join(os.path.dirname(__file__), "..", "recipes", "mini", "local", "make_world.py")
    subprocess.run([sys.executable, script, "--out", str(world), "--size", "smoke"],
                   check=True, capture_output=True)
    return world


@pytest.fixture(scope="session")
def tiny_llm(tmp_path_factory):
    return build_tiny_llm(str(tmp_path_factory.mktemp("llm")), seed=0)


@pytest.fixture(scope="session")
def bloom_llm(tmp_path_factory):
    return build_tiny_llm(str(tmp_path_factory.mktemp("bloom")), seed=2, family="bloom")


@pytest.fixture(scope="session")
def other_llm(tmp_path_factory):
    return build_tiny_llm(str(tmp_path_factory.mktemp("other_llm")), seed=1)


@pytest.fixture(scope="session")
def speech_data(tmp_path_factory):
    """train.tsv (all sentences, two voices) and dev.tsv (four, a third voice)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (apt-get install espeak-ng); .ci/run installs it")
    from wav2prompt_plugin.data.audio_features import num_frames

    root = tmp_path_factory.mktemp("speech")
    os.makedirs(root / "wav")
    splits = {"train": [(s, v) for v in ("en-us", "en-gb") for s in SENTENCES],
              "dev": [(s, "en-us+f2") for s in SENTENCES[:4]]}
    for split, items in splits.items():
        rows = []
        for i, (text, voice) in enumerate(items):
            name = f"{split}_{i}"
            samples = synthesize(text, str(root / "wav" / f"{name}.wav"), voice)
            rows.append({"id": name, "audio": f"wav/{name}.wav", "n_frames": num_frames(samples),
                         "tgt_text": text, "context": CONTEXTS[i % len(CONTEXTS)]})
        write_manifest(str(root / f"{split}.tsv"), rows)
    return str(root)


def run_cli(args, cwd=None, check=True):
    """Run a console script of this venv (fairseq-train, ...) as a user would."""
    exe = os.path.join(os.path.dirname(sys.executable), args[0])
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="2")
    proc = subprocess.run([exe] + list(args[1:]), cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc
