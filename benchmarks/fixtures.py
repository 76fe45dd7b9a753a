"""What the benchmarks run on: a small random LLaMA (save_pretrained layout,
SentencePiece tokenizer) and fbank-feature manifests, built in a directory."""
import csv
import os
import random
import shutil

import numpy as np
import torch

WORDS = ("the a cat dog bird horse man woman child red green blue old small big sleeps runs reads "
         "sees has plays drinks in on under park kitchen garden house table book car door window "
         "light please open close turn where what does is two three four ten").split()


def sentence(rng: random.Random, low=5, high=12) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def make_llm(out_dir: str, hidden=256, layers=4, heads=4, vocab=2048, seed=0) -> str:
    """LLaMA of the given size, random weights (init range 0.3: peaked outputs),
    embedding table padded to `vocab` entries as real LLMs pad theirs."""
    import sentencepiece as spm
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

    if os.path.exists(os.path.join(out_dir, "config.json")):
        return out_dir
    rng = random.Random(seed)
    work = os.path.join(out_dir, "_spm")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "corpus.txt"), "w") as f:
        f.write("\n".join(sentence(rng) for _ in range(2000)))
    spm.SentencePieceTrainer.train(
        input=os.path.join(work, "corpus.txt"), model_prefix=os.path.join(work, "sp"),
        vocab_size=200, model_type="bpe", unk_id=0, bos_id=1, eos_id=2, pad_id=3,
        hard_vocab_limit=False, minloglevel=2,
    )
    shutil.copy(os.path.join(work, "sp.model"), os.path.join(out_dir, "tokenizer.model"))
    tokenizer = LlamaTokenizer.from_pretrained(out_dir, pad_token="<pad>", add_bos_token=True)
    tokenizer.save_pretrained(out_dir)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=max(vocab, len(tokenizer)), hidden_size=hidden, intermediate_size=hidden * 8 // 3,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=2048, bos_token_id=1, eos_token_id=2, pad_token_id=3,
        tie_word_embeddings=False, initializer_range=0.3,
    )
    LlamaForCausalLM(config).save_pretrained(out_dir)
    shutil.rmtree(work)
    return out_dir


def make_speech_manifest(out_dir: str, split: str, frames, seed=0) -> str:
    """A manifest of random 80-dim fbank features (.npy) with the given frame
    counts and random transcripts of about 3 words per second of audio."""
    rng = random.Random(seed)
    os.makedirs(os.path.join(out_dir, "fbank"), exist_ok=True)
    path = os.path.join(out_dir, f"{split}.tsv")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None)
        writer.writerow(["id", "audio", "n_frames", "tgt_text"])
        for i, n in enumerate(frames):
            name = f"{split}_{i}"
            feats = np.random.RandomState(seed + i).randn(int(n), 80).astype(np.float32)
            np.save(os.path.join(out_dir, "fbank", f"{name}.npy"), feats)
            words = max(1, round(3 * n / 100))
            writer.writerow([name, f"fbank/{name}.npy", int(n), sentence(rng, words, words)])
    return path
