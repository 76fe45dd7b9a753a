"""Task `wav2prompt`: speech manifests, the LLM's tokenizer and prompt templates.

Longer than the house's 250 lines: its config is the task's whole command line (some 90 lines of
options and their help), and what the task does with fairseq's hooks (datasets with their row checks,
prompts, the generator, model and criterion set-up) reads best in one class. What stands on its own is
elsewhere: rows and templates in data/, the LLM and how its tokenizer writes prompts in llm/, the
training rules in training/.
"""
import logging
import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II, OmegaConf, open_dict

from wav2prompt_plugin.bpe.llm_tokenizer import LLMTokenizerBPE
from wav2prompt_plugin.data.audio_features import FEATURE_NORMS
from wav2prompt_plugin.data.manifest import ManifestError, read_manifest, report_bad_rows
from wav2prompt_plugin.data.row_checks import RowFacts, row_facts, spec_column, text_spec
from wav2prompt_plugin.data.templates import PromptTemplate
from wav2prompt_plugin.llm.prompt_codec import encode_prompt_segments, leading_special_tokens, speech_at_start
from wav2prompt_plugin.data.wav2prompt_dataset import Wav2PromptDataset
from wav2prompt_plugin.llm.dictionary import LLMDictionary
from wav2prompt_plugin.llm.loading import (
    check_tokenizer_matches,
    llm_config,
    llm_max_positions,
    load_llm_tokenizer,
    model_llm_dtype,
)
from wav2prompt_plugin.modules.newline_stop import NewlineStop
from wav2prompt_plugin.modules.repetition_penalty import RepetitionPenalty
from wav2prompt_plugin.runtime.errors import InputError
from wav2prompt_plugin.training.nonfinite_loss import SkipNonFiniteLoss
from wav2prompt_plugin.training.precision import check_fairseq_precision, check_model_precision
from wav2prompt_plugin.training.unused_parameters import prepare_for_ddp

logger = logging.getLogger(__name__)


@dataclass
class Wav2PromptTaskConfig(FairseqDataclass):
    data: str = field(default="", metadata={"help": "directory holding <split>.tsv manifests"})
    llm_path: str = field(
        default="",
        metadata={"help": "local directory of the frozen LLM (save_pretrained layout); "
                  "at generate time it overrides the path stored in the checkpoint"},
    )
    train_template: str = field(
        default="{speech}",
        metadata={"help": "prompt template for training and validation: one {speech} "
                  "placeholder, optional {column} fields from the manifest"},
    )
    gen_template: Optional[str] = field(
        default=None,
        metadata={"help": "prompt template for generation (default: the template the "
                  "checkpoint was trained with)"},
    )
    target_column: str = field(
        default="tgt_text", metadata={"help": "manifest column the LLM must produce"}
    )
    transcript_column: Optional[str] = field(
        default=None,
        metadata={"help": "manifest column holding the utterance's transcript (L_MSE, L_QUA and CIF's "
                  "count U); default: tgt_text when it is also the target and the manifest has no "
                  "src_text (ASR data), else it must be named; '' trains without it (CE only)"},
    )
    max_source_positions: int = field(
        default=6000, metadata={"help": "longest utterance in fbank frames (10 ms); a longer one is a bad row"}
    )
    max_target_positions: int = field(
        default=512, metadata={"help": "longest training target in LLM tokens; a longer one is a bad row"}
    )
    skip_bad_rows: bool = field(
        default=False,
        metadata={"help": "skip manifest rows with bad audio or text, with a logged count, instead of "
                  "stopping at start-up with the list of them"},
    )
    resample_audio: bool = field(
        default=False,
        metadata={"help": "resample audio of any sample rate to 16 kHz; without it a rate other "
                  "than 16 kHz is a bad row"},
    )
    utterance_cmvn: bool = field(
        default=True, metadata={"help": "normalise each utterance's features to zero mean, unit variance"}
    )
    # saved with the task config in every checkpoint, so inference normalises as training did; a
    # checkpoint from before this option has none and loads with the default, which is what it trained with
    feature_norm: ChoiceEnum(FEATURE_NORMS) = field(
        default="utterance",
        metadata={"help": "with --utterance-cmvn, the frames whose mean and variance normalise the utterance: "
                  "utterance (all of them: silence around the speech sets the scale) or speech-frames "
                  "(those within 30 dB of its loudest frames: silence added before, after or inside "
                  "changes nothing; data/audio_features.py)"},
    )
    spec_augment: str = field(
        default="",
        metadata={"help": "SpecAugment on the training split, as fairseq's SpecAugmentTransform "
                  "settings, e.g. 'freq_mask_N=2,freq_mask_F=15,time_mask_N=2,time_mask_T=20'"},
    )
    repetition_penalty: float = field(
        default=1.0,
        metadata={"help": "generation: Hugging Face's repetition_penalty on the tokens generated so "
                  "far (the paper decodes with 1.5); 1.0 disables it"},
    )
    stop_at_newline: bool = field(
        default=False,
        metadata={"help": "generation: end each hypothesis at its first line break (for base LLMs, "
                  "which go on after a one-line answer): after a token holding a line break only "
                  "eos may follow, and the text is cut at the break"},
    )
    # fairseq's get_batch_iterator reads this field (default True there). fairseq builds this task's
    # data loader anew every epoch and every validation (its datasets do not declare
    # can_reuse_epoch_itr_across_epochs), so a persistent worker is never reused; it is only shut
    # down when the old loader is garbage collected, and that shutdown waited torch's 5 s status
    # interval for the worker each epoch (a 10-update fine-tuning of one batch an epoch: 55 s, 6 s
    # without). Batches and worker seeds are the same either way.
    persistent_workers: bool = field(
        default=False,
        metadata={"help": "keep data loader workers alive between epochs (fairseq rebuilds this "
                  "task's loader every epoch, so they would not be reused)"},
    )
    train_subset: str = II("dataset.train_subset")
    seed: int = II("common.seed")
    # fairseq's precision switches, read to refuse the ones that cast the LLM (training/precision.py)
    fp16: bool = II("common.fp16")
    memory_efficient_fp16: bool = II("common.memory_efficient_fp16")
    bf16: bool = II("common.bf16")
    memory_efficient_bf16: bool = II("common.memory_efficient_bf16")
    amp: bool = II("common.amp")


class TranscriptColumnError(InputError):
    pass


def spec_augment(settings: str):
    """fairseq's SpecAugment from 'name=value,...' (its config-dict names)."""
    if not settings:
        return None
    from fairseq.data.audio.feature_transforms.specaugment import SpecAugmentTransform

    config = {}
    for item in settings.split(","):
        name, _, value = item.partition("=")
        config[name.strip()] = float(value) if "." in value else int(value)
    return SpecAugmentTransform.from_config_dict(config)


@register_task("wav2prompt", dataclass=Wav2PromptTaskConfig)
class Wav2PromptTask(SkipNonFiniteLoss, FairseqTask):
    def __init__(self, cfg: Wav2PromptTaskConfig, tokenizer, dictionary: LLMDictionary,
                 llm_max_positions: Optional[int] = None):
        super().__init__(cfg)
        self.tokenizer = tokenizer
        self.dictionary = dictionary
        self.llm_max_positions = llm_max_positions
        self.train_template = PromptTemplate(cfg.train_template)
        self.gen_template = PromptTemplate(cfg.gen_template or cfg.train_template)
        self.manifests = {}
        self.generating = False
        self._newline_stop = None  # built on first use: it decodes the whole vocabulary
        # what the tokenizer puts before plain text leads every prompt (templates.py)
        self.leading_specials = leading_special_tokens(tokenizer)

    @classmethod
    def setup_task(cls, cfg: Wav2PromptTaskConfig, **kwargs):
        check_fairseq_precision(cfg)  # before a 7B LLM is loaded
        tokenizer = load_llm_tokenizer(cfg.llm_path)
        config = llm_config(cfg.llm_path)
        check_tokenizer_matches(tokenizer, config, cfg.llm_path)
        dictionary = LLMDictionary(tokenizer, config.vocab_size)
        PromptTemplate(cfg.train_template)  # fail at start-up, not at the first batch
        PromptTemplate(cfg.gen_template or cfg.train_template)
        logger.info(f"LLM vocabulary: {len(dictionary)} tokens from {cfg.llm_path}")
        return cls(cfg, tokenizer, dictionary, llm_max_positions(config))

    @property
    def source_dictionary(self):
        return None

    @property
    def target_dictionary(self):
        return self.dictionary

    def max_positions(self):
        return None  # over-long utterances are bad rows in load_dataset

    @property
    def template(self) -> PromptTemplate:
        return self.gen_template if self.generating else self.train_template

    def load_dataset(self, split: str, epoch=1, combine=False, task_cfg=None, **kwargs):
        if task_cfg is not None and not self.cfg.gen_template:
            # fairseq-generate passes the checkpoint's task config
            self.gen_template = PromptTemplate(
                task_cfg.get("gen_template") or task_cfg.get("train_template") or "{speech}"
            )
        path = split if split.endswith(".tsv") else os.path.join(self.cfg.data, f"{split}.tsv")
        manifest = read_manifest(path, required=[self.cfg.target_column])
        for template in (self.train_template, self.gen_template):
            template.check_columns(manifest.columns, f"manifest {path}")
        # fairseq-generate passes task_cfg; its targets are references, not trained on
        training = task_cfg is None
        transcript_column = self.transcript_column(manifest, path) if training else None
        # targets follow the prompt; the transcript stands where E_s does
        target = text_spec(self.cfg.target_column)
        transcript = transcript_column and text_spec(transcript_column, speech_at_start(self.train_template))
        columns = [target] + ([transcript] if transcript else [])
        facts = row_facts(manifest, self.tokenizer, columns, self.cfg.resample_audio)
        n_frames = np.array([int(r["n_frames"]) for r in manifest.rows], dtype=np.int64)
        prompts = self.encode_prompts(manifest.rows, self.template)
        problems = self.bad_rows(manifest, facts, n_frames, prompts, training, target, transcript)
        keep = report_bad_rows(manifest, problems, self.cfg.skip_bad_rows)
        if not keep:
            raise ManifestError(f"manifest {path} has no usable rows")
        manifest.rows = [manifest.rows[i] for i in keep]
        manifest.line_numbers = [manifest.line_numbers[i] for i in keep]
        self.manifests[split] = manifest
        is_train = split == self.cfg.train_subset
        targets = facts.tokens[target].select(keep)
        if not transcript:
            transcripts = None
        elif transcript == target:
            transcripts = targets  # one column written alike: one copy of its ids
        else:
            transcripts = facts.tokens[transcript].select(keep)
        self.datasets[split] = Wav2PromptDataset(
            audio=[r["audio"] for r in manifest.rows],
            n_frames=n_frames[keep],
            targets=targets,
            transcripts=transcripts,
            prompts=[prompts[i] for i in keep],
            dictionary=self.dictionary,
            shuffle=is_train,
            utterance_cmvn=self.cfg.utterance_cmvn,
            feature_norm=str(self.cfg.feature_norm),
            feature_transform=spec_augment(self.cfg.spec_augment) if is_train else None,
            names=[f"{manifest.where(i)}: id {r['id']!r}" for i, r in enumerate(manifest.rows)],
            skip_bad_rows=self.cfg.skip_bad_rows,
            resample_audio=self.cfg.resample_audio,
            seed=self.cfg.seed,
        )
        logger.info(f"{path}: {len(keep)} utterances, template {self.template.text!r}")

    def transcript_column(self, manifest, path: str) -> Optional[str]:
        """The column L_MSE and L_QUA train against; see --transcript-column."""
        named = self.cfg.transcript_column
        if named == "":
            return None
        if named is not None:
            if named not in manifest.columns:
                raise TranscriptColumnError(
                    f"--transcript-column {named!r}: manifest {path} has no such column "
                    f"(columns: {', '.join(manifest.columns)}); '' trains without a transcript"
                )
            return named
        if self.cfg.target_column != "tgt_text":
            raise TranscriptColumnError(
                f"--target-column {self.cfg.target_column!r} is not the transcript: name the column of "
                f"the utterances' transcripts in manifest {path} with --transcript-column (e.g. tgt_text), "
                "or --transcript-column '' to train on the target alone"
            )
        if "src_text" in manifest.columns:
            raise TranscriptColumnError(
                f"manifest {path} has a src_text column, as fairseq's speech-translation manifests do, "
                "where tgt_text is the translation: name the transcript with --transcript-column "
                "(src_text, or tgt_text if it is the transcript)"
            )
        return "tgt_text"

    def bad_rows(self, manifest, facts: RowFacts, n_frames: np.ndarray, prompts, training: bool,
                 target: str, transcript: Optional[str]) -> Dict[int, List[str]]:
        """Reasons, per row index, why a row cannot be used: what the row checks
        found (header reads and tokenization, cached across starts) against this
        run's limits. Masks over all rows; reasons are spelled out for flagged rows only."""
        cfg = self.cfg
        column_of = {spec: spec_column(spec)[0] for spec in facts.tokens}
        empty = {c: np.array([not row[column_of[c]].strip() for row in manifest.rows], dtype=bool)
                 for c in facts.tokens}
        frames = facts.header_frames
        mismatch = (frames >= 0) & (np.abs(frames - n_frames) > np.maximum(2, n_frames // 100))
        flagged = mismatch | (n_frames > cfg.max_source_positions)
        for column in facts.tokens:
            flagged |= empty[column] | facts.no_text[column]
        flagged[list(facts.audio_errors)] = True
        targets = facts.tokens[target]
        transcripts = facts.tokens[transcript] if transcript else None
        target_lengths = targets.lengths + 1  # with eos
        llm_lengths = None
        if training:
            flagged |= target_lengths > cfg.max_target_positions
            if transcripts is not None and self.llm_max_positions:
                # in training E_s has exactly as many vectors as the transcript has tokens
                prompt_lengths = np.array([len(pre) + len(post) for pre, post in prompts], dtype=np.int64)
                llm_lengths = prompt_lengths + transcripts.lengths + targets.lengths
                flagged |= llm_lengths > self.llm_max_positions
        problems = {}
        for i in np.flatnonzero(flagged).tolist():
            row, reasons = manifest.rows[i], []
            for spec, column in column_of.items():
                if empty[spec][i]:
                    reason = f"empty {column!r}"
                elif facts.no_text[spec][i]:
                    reason = f"{column!r} {row[column]!r} tokenizes to no text"
                else:
                    continue
                if reason not in reasons:  # a column written in two places
                    reasons.append(reason)
            listed = int(n_frames[i])
            if i in facts.audio_errors:
                reasons.append(facts.audio_errors[i])
            elif mismatch[i]:
                reasons.append(
                    f"n_frames {listed}, but the audio has {frames[i]} frames "
                    "(truncated audio, or n_frames not in 10 ms frames)"
                )
            if listed > cfg.max_source_positions:
                reasons.append(f"{listed} frames > --max-source-positions {cfg.max_source_positions}")
            if training and target_lengths[i] > cfg.max_target_positions:
                reasons.append(
                    f"{target_lengths[i]} target tokens > --max-target-positions {cfg.max_target_positions}"
                )
            if llm_lengths is not None and llm_lengths[i] > self.llm_max_positions:
                reasons.append(
                    f"LLM input of {llm_lengths[i]} positions > the LLM's maximum {self.llm_max_positions}"
                )
            problems[i] = reasons
        return problems

    def encode_prompts(self, rows, template: PromptTemplate):
        """(prefix, postfix) token ids per row; rows that fill the template alike share them."""
        cache = {}
        prompts = []
        for row in rows:
            key = template.split(row)
            if key not in cache:
                cache[key] = encode_prompt_segments(self.tokenizer, *key, specials=self.leading_specials)
            prompts.append(cache[key])
        return prompts

    def use_generation_template(self):
        """Switch loaded datasets to --gen-template (fairseq-generate loads data first)."""
        self.generating = True
        for split, dataset in self.datasets.items():
            dataset.set_prompts(self.encode_prompts(self.manifests[split].rows, self.gen_template))

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, **kwargs):
        self.use_generation_template()
        penalty = getattr(self.cfg, "repetition_penalty", 1.0)
        penalty = RepetitionPenalty(penalty, getattr(args, "beam", 1)) if penalty != 1.0 else None
        stop = self.newline_stop() if getattr(self.cfg, "stop_at_newline", False) else None
        for model in models:
            model.decoder.repetition_penalty = penalty
            model.decoder.newline_stop = stop
        return super().build_generator(
            models, args, seq_gen_cls=seq_gen_cls, extra_gen_cls_kwargs=extra_gen_cls_kwargs, **kwargs
        )

    def newline_stop(self) -> NewlineStop:
        if self._newline_stop is None:
            self._newline_stop = NewlineStop(self.tokenizer, self.dictionary.eos())
        return self._newline_stop

    def build_model(self, cfg, from_checkpoint=False):
        if getattr(cfg, "llm_dtype", None) == "auto":
            # the checkpoint then records the dtype the LLM trained in, and
            # the precision rules judge that dtype, not the word `auto`
            with open_dict(cfg) if OmegaConf.is_config(cfg) else nullcontext():
                cfg.llm_dtype = model_llm_dtype(cfg, self.cfg.llm_path)
        check_model_precision(self.cfg, cfg, training=not from_checkpoint)
        model = super().build_model(cfg, from_checkpoint)
        if not from_checkpoint and getattr(cfg, "encoder_init_checkpoint", None):
            model.encoder.load_speech_encoder(cfg.encoder_init_checkpoint)
        self._model_to_prepare = (model, cfg)
        return model

    def build_criterion(self, cfg, from_checkpoint=False):
        criterion = super().build_criterion(cfg, from_checkpoint)
        if getattr(self, "_model_to_prepare", None) is not None:
            model, model_cfg = self._model_to_prepare
            self._model_to_prepare = None  # the task keeps no model
            prepare_for_ddp(model, model_cfg, criterion, cfg)
        return criterion

    def build_bpe(self, cfg):
        if cfg is None or getattr(cfg, "_name", None) in (None, "llm_tokenizer"):
            return LLMTokenizerBPE(tokenizer=self.tokenizer, dictionary=self.dictionary,
                                   stop_at_newline=getattr(self.cfg, "stop_at_newline", False))
        return super().build_bpe(cfg)
