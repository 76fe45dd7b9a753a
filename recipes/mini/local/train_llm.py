#!/usr/bin/env python3
"""Train the mini recipe's LLM: a tiny LLaMA that does every task of the world from text.

Wav2Prompt later turns speech into a prompt for this LLM and keeps the LLM
frozen, so everything the LLM can do with speech it must first be able to do
with text.  It learns, as a plain causal LM:

* the six tasks of ``tasks.json`` (repeat, translation into French and Spanish,
  intent, QA with a text context, QA from memory), each with its template and
  the English sentence at ``{speech}``, the loss on the answer (and, with a
  smaller weight, on the prompt: see ``training_loss``);
* the world's facts (``facts.tsv``) as plain statements, so that it can answer a
  question about a fact in a wording it has never seen with that fact.

Prompts are built by ``text_prompt_ids``, the same function that builds the
text topline and, with the speech prompt in place of the sentence, the
Wav2Prompt input: the LLM sees at training time exactly the token layout that
Wav2Prompt must imitate.

Only TRAIN rows are used: the world's for the tokenizer, the world's and new
ones drawn by its generators (``fresh_rows``) for the model.  The test split
scores generalisation to unseen sentences (and unseen speakers later), so no
dev or test sentence may be seen anywhere.  At the end the text topline is
scored on the test split (BLEU for translation, exact match otherwise).

Writes LLM_DIR with the model and tokenizer (``from_pretrained`` loads them like
any LLaMA), ``training_log.json`` and ``text_eval.json``.

``--eval-split new`` scores the LLM on new sentences and passages drawn by the
world's generators with another seed (``new_text_rows``): hundreds of items
where the dev split has tens.  ``--eval-only`` scores the LLM already in LLM_DIR.

Usage:
    python train_llm.py --world DIR --tasks tasks.json --out LLM_DIR \
        [--size smoke|default] [--tokenizer spm|bpe] [--seed 1] [--steps N] [--threads 2]
        [--eval-split dev|test|new] [--eval-only]
"""
import argparse
import csv
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, Iterator, List, Sequence, Tuple

import torch

from wav2prompt_plugin.data.templates import PromptTemplate
from wav2prompt_plugin.llm.prompt_codec import encode_segment, leading_special_tokens, text_prompt_ids
from wav2prompt_plugin.llm.loading import load_llm_tokenizer
from wav2prompt_plugin.evaluation.metrics import METRICS
from wav2prompt_plugin.evaluation.tasks_file import TasksFile
from wav2prompt_plugin.llm.loading import load_frozen_llm

logger = logging.getLogger("train_llm")

SPLITS = ("train", "dev", "test")
TEXT_COLUMNS = ("en", "fr", "es", "intent", "answer", "context")
# The speech manifests call the English transcript tgt_text; in the world it is en.
COLUMN_ALIASES = {"tgt_text": "en"}
FACTS = "facts"
SPECIAL_IDS = dict(unk_id=0, bos_id=1, eos_id=2, pad_id=3)
# The LLM's tokenizer, of one of two kinds (--tokenizer):
# spm: SentencePiece BPE saved as LLaMA-2's (<s> added, a pad);
# bpe: byte-level BPE saved as LLaMA-3's (<|begin_of_text|> added, no pad, no unk):
#      a word's leading space is part of its token, as in GPT-2, BLOOM, Qwen.
TOKENIZERS = ("spm", "bpe")
BPE_SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>")
EXPECTED_SPECIALS = {"spm": {k[:-3]: v for k, v in SPECIAL_IDS.items()},
                     "bpe": {"unk": None, "bos": 0, "eos": 1, "pad": None}}

# Per size: training steps, the tokenizer's vocabulary per kind and the fresh
# rows.  A vocabulary near the number of distinct words keeps most words one
# token: shorter sequences train faster and the speech prompt has fewer
# positions to imitate.  Byte-level BPE spends 256 entries on bytes: at 1300 its
# test sentences were as long as SentencePiece's at 1000 (8.6 tokens; 9.0 at
# 1200, 10.0 at 1000), before the world gained the council's words.  With them,
# SentencePiece at 1000 wrote the general test sentences longer (English 7.7 ->
# 8.8 tokens, French 9.5 -> 11.4), at 1500 as before (8.0, 9.7); the BPE size is
# not re-measured.  Default steps: as many as end no later than speech synthesis
# and the CTC stage beside them (about 0.23 s a step of 32 examples on one core);
# 2000 x 32 beat 900 x 64; 2700 since the council's text is an eighth of the mix.
SIZES = {
    "smoke": {"steps": 120, "vocab_size": {"spm": 800, "bpe": 1100},
              "fresh": {"describe": 100, "command": 50, "context_question": 100}},
    "default": {"steps": 2700, "vocab_size": {"spm": 1500, "bpe": 1300},
                "fresh": {"describe": 3000, "command": 1000, "context_question": 3000}},
}
# New sentences, commands and passages drawn by the world's own generators
# (fresh_rows), beside the world's train rows: a text LLM learns from more text
# than the speech data holds.  On the world's rows alone the LLM learns them by
# heart (final loss 0.07) and, given a new sentence, repeats or translates a
# train sentence like it (`weather forecast for berlin` -> `prague`): dev
# repeat WER 4.2, and on 300 other new sentences 2.5 (0.3-0.6 with them).
# Copies of each task's world rows per epoch of the mixture.  Repeat and
# translation have a row per sentence (plus the fresh ones); intent has fewer;
# QA from memory and the facts must be learnt by heart, so they come back
# often: below ~7,000 answers and ~3,500 statements over the run the LLM stops
# recalling facts (dev QA from memory 100 -> 73 -> 5%).  The world's passages
# need no copies: the fresh ones teach reading.
REPEATS = {"asr": 1, "st_fr": 1, "st_es": 1, "intent": 2, "sqa": 1, "sqqa": 9, FACTS: 7}
MODEL = dict(hidden_size=256, num_hidden_layers=4, head_dim=32)
OPTIM = dict(lr=2e-3, warmup=60, min_lr_ratio=0.05, weight_decay=0.01, clip_norm=1.0)
# Smaller batches, more updates: at equal examples seen, 32 beat 64 and 16.
BATCH_SIZE = 32
# Batches are cut from pools of this many batches sorted by length, so that a
# batch holds examples of similar length (little padding) yet its make-up varies.
POOL_BATCHES = 16
MAX_NEW_TOKENS = 40
# Weight of the LM loss on the prompt's tokens, relative to the answer's.  The
# prompt holds three to four times as many tokens as the answer, so at 0.25 the
# answer still carries most of the gradient.  Over 150 steps it lowered the
# answers' own loss (2.18 against 2.27).
PROMPT_WEIGHT = 0.25
# The "new" evaluation split: this many rows of each kind, drawn by fresh_rows
# with this seed and none of them a training row.
NEW_TEXT = {"describe": 300, "context_question": 300}
NEW_TEXT_SEED = 12345


@dataclass
class Example:
    task: str
    text: str  # the sentence at {speech}, or the fact statement
    prompt: List[int]
    target: List[int]  # ends with eos

    def __len__(self):
        return len(self.prompt) + len(self.target)


# ---------------------------------------------------------------- the world


def read_tsv(path: str) -> List[Dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def with_aliases(row: Dict[str, str]) -> Dict[str, str]:
    return {**row, **{alias: row[column] for alias, column in COLUMN_ALIASES.items()}}


def read_world(world: str) -> Tuple[List[Dict[str, str]], List[str]]:
    rows = [with_aliases(row) for row in read_tsv(os.path.join(world, "sentences.tsv"))]
    facts = [r["fact"] for r in read_tsv(os.path.join(world, "facts.tsv"))]
    return rows, facts


def load_tasks(path: str) -> Dict[str, dict]:
    return TasksFile(path).tasks


def task_rows(rows: Sequence[Dict[str, str]], task: dict, split: str) -> List[Dict[str, str]]:
    kinds = set(task.get("kinds") or {r["kind"] for r in rows})
    return [r for r in rows if r["split"] == split and r["kind"] in kinds and r[task["target"]]]


# ---------------------------------------------------------------- tokenizer


def tokenizer_corpus(rows: Sequence[Dict[str, str]], facts: Sequence[str],
                     tasks: Dict[str, dict]) -> List[str]:
    """The tokenizer's training text: every text field of the TRAIN rows, the facts
    and the templates' own words, one text a line."""
    lines = [r[c] for r in rows if r["split"] == "train" for c in TEXT_COLUMNS if r[c]]
    lines += list(facts)
    # The templates' own words (capitals, colons) once per example that holds
    # them, as in the LLM's training text: seen once, "Answer:" stayed seven
    # pieces, and a "C" found only between fields was left out altogether.
    for task in tasks.values():
        lines += PromptTemplate(task["template"]).words * len(task_rows(rows, task, "train"))
    return lines


def train_tokenizer(lines: Sequence[str], out_dir: str, vocab_size: int, threads: int,
                    kind: str = "spm"):
    """A tokenizer of `kind` (TOKENIZERS) trained on `lines`, saved in out_dir."""
    if kind == "spm":
        tokenizer = train_sentencepiece(lines, out_dir, vocab_size, threads)
    elif kind == "bpe":
        tokenizer = train_byte_level_bpe(lines, out_dir, vocab_size)
    else:
        raise ValueError(f"unknown tokenizer kind {kind!r} ({'|'.join(TOKENIZERS)})")
    check_tokenizer(tokenizer, lines, kind)
    return tokenizer


def train_sentencepiece(lines: Sequence[str], out_dir: str, vocab_size: int, threads: int):
    """SentencePiece BPE saved as a LLaMA-2 tokenizer."""
    import sentencepiece as spm
    from transformers import AutoTokenizer, LlamaTokenizer

    with tempfile.TemporaryDirectory() as work:
        prefix = os.path.join(work, "sp")
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_prefix=prefix, vocab_size=vocab_size,
            model_type="bpe", character_coverage=1.0, num_threads=threads, minloglevel=2,
            **SPECIAL_IDS)
        os.makedirs(out_dir, exist_ok=True)
        shutil.copy(prefix + ".model", os.path.join(out_dir, "tokenizer.model"))
    # as LLaMA-2's tokenizer_config.json: <s> before every text
    LlamaTokenizer.from_pretrained(out_dir, pad_token="<pad>", add_bos_token=True).save_pretrained(out_dir)
    return AutoTokenizer.from_pretrained(out_dir, local_files_only=True)


def train_byte_level_bpe(lines: Sequence[str], out_dir: str, vocab_size: int):
    """Byte-level BPE (GPT-2's pre-tokenizer, no prefix space) with LLaMA-3's
    special tokens, <|begin_of_text|> added before every text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    bos, eos = BPE_SPECIALS
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(BPE_SPECIALS), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tok.token_to_id(bos))])
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos).save_pretrained(out_dir)
    return AutoTokenizer.from_pretrained(out_dir, local_files_only=True)


def check_tokenizer(tokenizer, lines: Sequence[str], kind: str = "spm") -> None:
    """The saved tokenizer must give back every text it was trained on, accents
    and the templates' words included."""
    ids = {name: getattr(tokenizer, name + "_token_id") for name in ("unk", "bos", "eos", "pad")}
    if ids != EXPECTED_SPECIALS[kind]:
        raise RuntimeError(f"special token ids {ids}, expected {EXPECTED_SPECIALS[kind]}")
    for line in sorted(set(lines)):
        decoded = tokenizer.decode(encode_segment(tokenizer, line, at_start=True))
        if decoded != line:
            raise RuntimeError(f"the tokenizer does not round-trip {line!r} (got {decoded!r})")


def filler_id(tokenizer) -> int:
    """The id that right-pads batches and generate's finished rows: the pad, or
    eos where the tokenizer has no pad (LLaMA-3's).  Never attended to or scored."""
    return tokenizer.eos_token_id if tokenizer.pad_token_id is None else tokenizer.pad_token_id


def fresh_rows(rows: Sequence[Dict[str, str]], counts: Dict[str, int], seed: int) -> List[Dict[str, str]]:
    """New TRAIN rows of the world's generators, `counts[kind]` of each kind
    (describe, command, context_question): none worded like a dev or test
    sentence, none a copy of a world row.  A question may come back with
    another passage; commands are drawn from those the world left unused."""
    from make_world import HEADER, context_question, describe, every_command

    rng, commands = random.Random(seed + 7919), every_command()
    unused = iter(rng.sample(commands, len(commands)))
    makers = {"describe": describe, "context_question": context_question,
              "command": lambda _: next(unused)}
    held_out = {r["en"] for r in rows if r["split"] != "train"}
    seen = {(r["en"], r["context"]) for r in rows}
    fresh = []
    for kind, n in counts.items():
        made = 0
        while made < n:
            try:
                row = with_aliases(dict(zip(HEADER[3:], makers[kind](rng))))
            except StopIteration:
                raise ValueError(f"the world has fewer than {n} unused {kind} rows") from None
            key = (row["en"], row["context"])
            if row["en"] not in held_out and key not in seen:
                seen.add(key)
                fresh.append({**row, "split": "train", "kind": kind})
                made += 1
    return fresh


def new_text_rows(rows: Sequence[Dict[str, str]], fresh: Sequence[Dict[str, str]],
                  counts: Dict[str, int] = None) -> List[Dict[str, str]]:
    """Rows of the "new" evaluation split: drawn like the fresh rows with
    another seed, none a world row or one of the `fresh` rows trained on."""
    drawn = fresh_rows(list(rows) + list(fresh), counts or NEW_TEXT, NEW_TEXT_SEED)
    return [{**row, "split": "new", "id": f"new-{i:05d}"} for i, row in enumerate(drawn)]


# ---------------------------------------------------------------- examples


def build_examples(tokenizer, rows: Sequence[Dict[str, str]], facts: Sequence[str],
                   tasks: Dict[str, dict], repeats: Dict[str, int] = None,
                   fresh: Sequence[Dict[str, str]] = ()) -> List[Example]:
    """One epoch of the training mixture, from TRAIN rows only, each task's rows
    repeated `repeats[task]` times, and once each `fresh` row for the tasks of
    its kind."""
    repeats = repeats or REPEATS
    start, eos = leading_special_tokens(tokenizer), tokenizer.eos_token_id
    examples = []
    for name, task in tasks.items():
        template = PromptTemplate(task["template"])
        world_rows = task_rows(rows, task, "train")
        extra = task_rows(fresh, task, "train")
        for i, row in enumerate(world_rows + extra):
            prompt = text_prompt_ids(tokenizer, template, row, row["en"])
            target = encode_segment(tokenizer, row[task["target"]]) + [eos]
            copies = repeats.get(name, 1) if i < len(world_rows) else 1
            examples += [Example(name, row["en"], prompt, target)] * copies
    for fact in facts:
        # plain LM: the whole statement is the target
        target = encode_segment(tokenizer, fact, at_start=True) + [eos]
        examples += [Example(FACTS, fact, start, target)] * repeats.get(FACTS, 1)
    return examples


def batch_stream(examples: Sequence[Example], batch_size: int, seed: int) -> Iterator[List[Example]]:
    """Endless batches: each epoch shuffled, batched by length within pools, and
    the batches shuffled; a pure function of the seed."""
    rng = random.Random(seed)
    pool = batch_size * POOL_BATCHES
    while True:
        order = list(examples)
        rng.shuffle(order)
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start:start + pool], key=len)
            batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        rng.shuffle(batches)
        yield from batches


def collate(batch: Sequence[Example], pad: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded input ids, their labels (-100 on padding) and whether each
    label is a target token (True) or a prompt token (False)."""
    width = max(map(len, batch))
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    is_target = torch.zeros((len(batch), width), dtype=torch.bool)
    for i, ex in enumerate(batch):
        seq = ex.prompt + ex.target
        ids[i, :len(seq)] = torch.tensor(seq)
        labels[i, :len(seq)] = torch.tensor(seq)
        is_target[i, len(ex.prompt):len(seq)] = True
    return ids, labels, is_target


# ---------------------------------------------------------------- model and training


def build_model(tokenizer, seed: int, **overrides):
    from transformers import LlamaConfig, LlamaForCausalLM

    sizes = {**MODEL, **overrides}
    d, heads = sizes["hidden_size"], sizes["hidden_size"] // sizes["head_dim"]
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=d, num_hidden_layers=sizes["num_hidden_layers"],
        # LLaMA's feed-forward width: 2/3 of 4d, rounded up to a multiple of 16
        intermediate_size=-(-8 * d // 3 // 16) * 16,
        num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=512, tie_word_embeddings=True,
        # Weights of std 1/sqrt(d) rather than LLaMA's 0.02: at this width the
        # small default leaves attention near uniform for hundreds of steps,
        # and learning took about three times as many steps.
        initializer_range=d ** -0.5,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


def lr_factor(step: int, steps: int, warmup: int, min_ratio: float) -> float:
    """Linear warmup, then cosine decay to min_ratio of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def training_loss(model, ids: torch.Tensor, labels: torch.Tensor, is_target: torch.Tensor,
                  prompt_weight: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """(loss, mean cross-entropy of the target tokens).  The loss is the target
    tokens' cross-entropy plus prompt_weight times the prompt tokens', both
    summed and divided by the number of target tokens.
    The prompt is English text (the sentence, a passage): predicting it teaches
    the language for almost no extra compute, the layers having run on it anyway.
    With a weight of 0 the output layer runs on the target positions only."""
    # No attention mask: padding is on the right, so causal attention never
    # lets a real token see a pad, and SDPA keeps its fast causal path.
    hidden = model.model(input_ids=ids).last_hidden_state[:, :-1]
    labels, is_target = labels[:, 1:], is_target[:, 1:]
    wanted = is_target if prompt_weight == 0 else labels != -100
    logits = model.lm_head(hidden[wanted])
    losses = torch.nn.functional.cross_entropy(logits.float(), labels[wanted], reduction="none")
    on_target = is_target[wanted]
    loss = (losses * torch.where(on_target, 1.0, prompt_weight)).sum() / on_target.sum()
    return loss, losses[on_target].mean()


def train(model, examples, steps: int, seed: int, batch_size: int, bf16: bool,
          log_interval: int, optim: dict, prompt_weight: float = PROMPT_WEIGHT) -> List[dict]:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": optim["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=optim["lr"], betas=(0.9, 0.98), eps=1e-8)
    warmup = min(optim["warmup"], max(1, steps // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, steps, warmup, optim["min_lr_ratio"]))
    pad = model.config.pad_token_id
    if pad is None:
        pad = model.config.eos_token_id
    stream = batch_stream(examples, batch_size, seed)
    log, total, count, start, cpu_start = [], 0.0, 0, time.time(), time.process_time()
    model.train()
    for step in range(1, steps + 1):
        batch = collate(next(stream), pad)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss, target_nll = training_loss(model, *batch, prompt_weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), optim["clip_norm"])
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        # the target tokens' loss is logged, comparable whatever prompt_weight
        total, count = total + target_nll.item(), count + 1
        if step == 1 or step % log_interval == 0 or step == steps:
            # CPU seconds too: on a shared machine they measure the cost, wall time the load
            entry = {"step": step, "loss": round(total / count, 4),
                     "lr": round(sched.get_last_lr()[0], 6), "seconds": round(time.time() - start, 1),
                     "cpu_seconds": round(time.process_time() - cpu_start, 1)}
            log.append(entry)
            logger.info("step %(step)d loss %(loss).4f lr %(lr).2e %(seconds).1fs (cpu %(cpu_seconds).1fs)",
                        entry)
            total, count = 0.0, 0
    model.eval()
    return log


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def greedy_decode(model, tokenizer, prompts: Sequence[List[int]], batch_size: int = 64) -> List[str]:
    """Greedy continuation of each prompt up to eos, as text."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    hyps = [""] * len(prompts)
    i = 0
    while i < len(order):
        # Prompts of one length share a batch: no padding, so no position or
        # mask difference from how the LLM was trained.
        length = len(prompts[order[i]])
        group = [j for j in order[i:i + batch_size] if len(prompts[j]) == length]
        ids = torch.tensor([prompts[j] for j in group])
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                             max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                             eos_token_id=tokenizer.eos_token_id, pad_token_id=filler_id(tokenizer))
        for j, seq in zip(group, out[:, length:].tolist()):
            if tokenizer.eos_token_id in seq:
                seq = seq[:seq.index(tokenizer.eos_token_id)]
            hyps[j] = tokenizer.decode(seq, skip_special_tokens=True).strip()
        i += len(group)
    return hyps


def evaluate(model, tokenizer, rows, tasks: Dict[str, dict], split: str) -> Tuple[dict, dict]:
    """(figures, hypotheses) of the text topline on `split`: the metric of
    tasks.json, plus exact match where that metric is not already one."""
    figures, outputs = {}, {}
    for name, task in tasks.items():
        chosen = task_rows(rows, task, split)
        if not chosen:
            continue
        template = PromptTemplate(task["template"])
        prompts = [text_prompt_ids(tokenizer, template, r, r["en"])
                   for r in chosen]
        hyps = greedy_decode(model, tokenizer, prompts)
        refs = [r[task["target"]] for r in chosen]
        figures[f"{name}_{task['metric']}"] = round(METRICS[task["metric"]](refs, hyps), 2)
        if task["metric"] == "wer":
            figures[f"{name}_exact"] = round(METRICS["acc"](refs, hyps), 2)
        outputs[name] = [{"id": r["id"], "ref": ref, "hyp": hyp}
                         for r, ref, hyp in zip(chosen, refs, hyps)]
    return figures, outputs


def write_text_eval(path: str, split: str, figures: dict, outputs: dict):
    with open(path, "w") as f:
        json.dump({"split": split, "metrics": figures, "hypotheses": outputs}, f,
                  indent=1, ensure_ascii=False)


def metrics_table(figures: Dict[str, float]) -> str:
    width = max(map(len, figures))
    return "\n".join(f"{key.ljust(width)}  {value:7.2f}" for key, value in figures.items())


# ---------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", required=True, help="directory of make_world.py's output")
    parser.add_argument("--tasks", required=True, help="tasks.json")
    parser.add_argument("--out", required=True, help="LLM directory to write")
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, help="training steps (default: per --size)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=float, default=OPTIM["lr"])
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="bf16 autocast while training (default: where the CPU has bf16 instructions; "
                             "elsewhere bf16 is emulated, 20x slower than fp32)")
    parser.add_argument("--hidden-size", type=int, default=MODEL["hidden_size"])
    parser.add_argument("--layers", type=int, default=MODEL["num_hidden_layers"])
    parser.add_argument("--head-dim", type=int, default=MODEL["head_dim"])
    parser.add_argument("--warmup", type=int, default=OPTIM["warmup"])
    parser.add_argument("--tokenizer", choices=TOKENIZERS, default="spm",
                        help="spm: SentencePiece as LLaMA-2's; bpe: byte-level BPE as LLaMA-3's")
    parser.add_argument("--vocab-size", type=int, help="default: per --size and --tokenizer")
    parser.add_argument("--prompt-weight", type=float, default=PROMPT_WEIGHT,
                        help="weight of the LM loss on prompt tokens (answer tokens: 1)")
    parser.add_argument("--mixture", default="", help="task=copies,... over the default mixture")
    parser.add_argument("--fresh-sentences", type=int,
                        help="new descriptive sentences (repeat and translation); default: per --size")
    parser.add_argument("--fresh-commands", type=int,
                        help="commands the world left unused (repeat, translation, intent); default: per --size")
    parser.add_argument("--fresh-passages", type=int,
                        help="new passages with a question, for every task of that kind; default: per --size")
    parser.add_argument("--log-interval", type=int, default=50)
    parser.add_argument("--eval-split", choices=SPLITS[1:] + ("new",), default="test",
                        help="new: 300 new sentences and 300 new passages (new_text_rows)")
    parser.add_argument("--eval-only", action="store_true",
                        help="score the LLM already in --out (same world, seed and fresh counts)")
    args = parser.parse_args(argv)
    if args.bf16 is None:
        args.bf16 = cpu_has_bf16()
    return args


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bf16 natively (as run.sh's --bf16 auto decides)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(name)s | %(message)s")
    torch.set_num_threads(args.threads)
    size = SIZES[args.size]
    steps = args.steps or size["steps"]
    seconds = {}

    start = time.time()
    rows, facts = read_world(args.world)
    tasks = load_tasks(args.tasks)
    asked = {"describe": args.fresh_sentences, "command": args.fresh_commands,
             "context_question": args.fresh_passages}
    counts = {kind: size["fresh"][kind] if n is None else n for kind, n in asked.items()}
    fresh = fresh_rows(rows, counts, args.seed)
    eval_rows = new_text_rows(rows, fresh) if args.eval_split == "new" else rows
    if args.eval_only:
        # the plugin's loaders: a missing or broken LLM_DIR gets an error naming it
        tokenizer, model = load_llm_tokenizer(args.out), load_frozen_llm(args.out)
        figures, outputs = evaluate(model, tokenizer, eval_rows, tasks, args.eval_split)
        write_text_eval(os.path.join(args.out, f"text_eval_{args.eval_split}.json"),
                        args.eval_split, figures, outputs)
        print(f"text topline on {args.eval_split}")
        print(metrics_table(figures))
        return
    tokenizer = train_tokenizer(tokenizer_corpus(rows, facts, tasks), args.out,
                                args.vocab_size or size["vocab_size"][args.tokenizer], args.threads,
                                args.tokenizer)
    repeats = {**REPEATS, **{k: int(v) for k, v in (p.split("=") for p in args.mixture.split(",") if p)}}
    examples = build_examples(tokenizer, rows, facts, tasks, repeats, fresh)
    seconds["tokenizer_and_data"] = round(time.time() - start, 1)
    mixture = {name: sum(e.task == name for e in examples) for name in list(tasks) + [FACTS]}
    logger.info("vocabulary %d, %d examples an epoch %s", len(tokenizer), len(examples), mixture)

    start = time.time()
    model = build_model(tokenizer, args.seed, hidden_size=args.hidden_size,
                        num_hidden_layers=args.layers, head_dim=args.head_dim)
    # config.json beside the tokenizer now: the speech stages need both, not the weights, and
    # run.sh starts them as soon as these exist (the weights' model.safetensors marks the end)
    model.config.save_pretrained(args.out)
    params = sum(p.numel() for p in model.parameters())
    logger.info("LLaMA of %.2fM parameters, %d steps of %d examples", params / 1e6, steps, args.batch_size)
    optim = {**OPTIM, "lr": args.lr, "warmup": args.warmup}
    log = train(model, examples, steps, args.seed, args.batch_size, args.bf16, args.log_interval,
                optim, args.prompt_weight)
    seconds["train"] = round(time.time() - start, 1)
    model.generation_config.update(do_sample=False, max_new_tokens=MAX_NEW_TOKENS,
                                   pad_token_id=filler_id(tokenizer))
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)

    start = time.time()
    figures, outputs = evaluate(model, tokenizer, eval_rows, tasks, args.eval_split)
    seconds["eval"] = round(time.time() - start, 1)
    write_text_eval(os.path.join(args.out, "text_eval.json"), args.eval_split, figures, outputs)
    with open(os.path.join(args.out, "training_log.json"), "w") as f:
        json.dump({"parameters": params, "steps": steps, "batch_size": args.batch_size,
                   "epoch_examples": len(examples), "mixture": mixture, "bf16": args.bf16,
                   "threads": args.threads, "seed": args.seed, "optimizer": optim,
                   "prompt_weight": args.prompt_weight, "fresh": counts,
                   "model_config": model.config.to_diff_dict(), "seconds": seconds, "log": log},
                  f, indent=1)
    print(f"text topline on {args.eval_split} ({sum(seconds.values()):.0f}s: {seconds})")
    print(metrics_table(figures))


if __name__ == "__main__":
    main()
