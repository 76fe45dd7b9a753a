"""Tiny random LLMs of six families, each with a real tokenizer of its family's
kind, saved with save_pretrained so that AutoTokenizer / AutoModelForCausalLM
load them as they load the real ones. Built offline in seconds.

| family | tokenizer | bos | pad | model |
|---|---|---|---|---|
| llama2 | SentencePiece (dummy prefix) | <s>, added | none (unk) | LLaMA, RoPE |
| bloom | byte-level BPE | <s>, defined, not added | <pad> | BLOOM, ALiBi |
| gpt2 | byte-level BPE | = eos, not added | none | GPT-2, learned positions |
| qwen2 | byte-level BPE, Qwen's split | none | = eos | Qwen2 |
| llama3 | byte-level BPE, LLaMA-3's split | <|begin_of_text|>, added | none | LLaMA |
| gemma2 | SentencePiece-style BPE, byte fallback, no dummy prefix | <bos>, added | <pad> | Gemma-2: tied embeddings, sliding-window layers |
"""
import os

import torch

from conftest import CONTEXTS, SENTENCES, build_tiny_llm

FAMILIES = ("llama2", "bloom", "gpt2", "qwen2", "llama3", "gemma2")
FRENCH = ["le chat dort dans la cuisine", "où habite tom", "ouvre la fenêtre s'il te plaît",
          "la boîte est verte", "l'enfant joue à côté du café"]
CORPUS = (SENTENCES * 3 + CONTEXTS + FRENCH * 2
          + ["Repeat the English text. Text: Repeat: Translate the English text into French: French:",
             "Context: Question: Answer: 12 345"])
# the pre-tokenizer splits of the real tokenizers (tokenizer.json of Qwen2 and LLaMA-3)
QWEN2_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
LLAMA3_SPLIT = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def byte_level_bpe(specials, split=None, vocab_size=420):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    if split is None:  # GPT-2 and BLOOM: ByteLevel's own regex
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(split), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def with_bos(tok, bos):
    from tokenizers import processors

    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
    return tok


def gemma_bpe(vocab_size=420):
    """Gemma's kind: spaces as ▁ kept on the following piece, no dummy prefix,
    byte fallback, <bos> added."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"] + [f"<0x{i:02X}>" for i in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    alphabet = sorted(set("".join(CORPUS).replace(" ", "▁")))
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=len(specials) + vocab_size - 256, special_tokens=specials, show_progress=False,
        initial_alphabet=alphabet))
    return with_bos(tok, "<bos>")


def build_family(family: str, out_dir: str, seed: int = 0) -> str:
    from transformers import (
        BloomConfig,
        BloomForCausalLM,
        Gemma2Config,
        Gemma2ForCausalLM,
        GemmaTokenizer,
        GPT2Config,
        GPT2LMHeadModel,
        GPT2Tokenizer,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
        Qwen2Config,
        Qwen2ForCausalLM,
        Qwen2Tokenizer,
    )

    if os.path.exists(os.path.join(out_dir, "config.json")):
        return out_dir
    if family == "llama2":
        return build_tiny_llm(out_dir, seed=seed, corpus=CORPUS, vocab_size=160, pad_token=None)
    if family == "bloom":
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=byte_level_bpe(["<unk>", "<s>", "</s>", "<pad>"]),
            unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>")
        ids = dict(bos_token_id=1, eos_token_id=2, pad_token_id=3)
        config = BloomConfig(vocab_size=len(tokenizer), hidden_size=48, n_layer=2, n_head=3, **ids)
        model_cls = BloomForCausalLM
    elif family == "gpt2":
        tokenizer = GPT2Tokenizer(tokenizer_object=byte_level_bpe(["<|endoftext|>"]), bos_token="<|endoftext|>",
                                  eos_token="<|endoftext|>", unk_token="<|endoftext|>")
        config = GPT2Config(vocab_size=len(tokenizer), n_embd=48, n_layer=2, n_head=3, n_positions=256,
                            bos_token_id=0, eos_token_id=0)
        model_cls = GPT2LMHeadModel
    elif family == "qwen2":
        tokenizer = Qwen2Tokenizer(tokenizer_object=byte_level_bpe(["<|endoftext|>"], QWEN2_SPLIT),
                                   eos_token="<|endoftext|>", pad_token="<|endoftext|>", unk_token=None,
                                   bos_token=None)
        # like the real ones, the embedding has rows the tokenizer never uses
        config = Qwen2Config(vocab_size=len(tokenizer) + 8, hidden_size=48, intermediate_size=96,
                             num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=1,
                             max_position_embeddings=256, bos_token_id=None, eos_token_id=0,
                             tie_word_embeddings=False)
        model_cls = Qwen2ForCausalLM
    elif family == "llama3":
        bos, eos = "<|begin_of_text|>", "<|end_of_text|>"
        tok = with_bos(byte_level_bpe([bos, eos], LLAMA3_SPLIT), bos)
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos)
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=48, intermediate_size=96,
                             num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=1,
                             max_position_embeddings=256, bos_token_id=0, eos_token_id=1,
                             tie_word_embeddings=False)
        model_cls = LlamaForCausalLM
    elif family == "gemma2":
        tokenizer = GemmaTokenizer(tokenizer_object=gemma_bpe())
        # 2 layers: one sliding-window (4 positions, shorter than any prompt) and one full
        config = Gemma2Config(vocab_size=len(tokenizer), hidden_size=48, intermediate_size=96,
                              num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=1, head_dim=16,
                              max_position_embeddings=256, sliding_window=4, pad_token_id=0, eos_token_id=1,
                              bos_token_id=2, tie_word_embeddings=True, query_pre_attn_scalar=16)
        model_cls = Gemma2ForCausalLM
    else:
        raise ValueError(f"unknown family {family!r}")
    os.makedirs(out_dir, exist_ok=True)
    tokenizer.save_pretrained(out_dir)
    torch.manual_seed(seed)
    config.initializer_range = 0.3  # a random LLM whose outputs differ from token to token
    model_cls(config).save_pretrained(out_dir)
    return out_dir
