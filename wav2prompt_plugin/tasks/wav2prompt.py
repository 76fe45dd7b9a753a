"""Task `wav2prompt`: speech manifests, the LLM's tokenizer and prompt templates."""
import logging
import os
from dataclasses import dataclass, field
from typing import List, Optional

from fairseq.dataclass import FairseqDataclass
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II

from wav2prompt_plugin.bpe.llm_tokenizer import LLMTokenizerBPE
from wav2prompt_plugin.data.llm_dictionary import LLMDictionary, check_llm_dir, load_llm_tokenizer
from wav2prompt_plugin.data.manifest import (
    ManifestError,
    check_audio_exists,
    check_nonempty,
    read_manifest,
)
from wav2prompt_plugin.data.templates import PromptTemplate, encode_prompt_segments
from wav2prompt_plugin.data.wav2prompt_dataset import Wav2PromptDataset
from wav2prompt_plugin.modules.repetition_penalty import RepetitionPenalty

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
        default="tgt_text",
        metadata={"help": "manifest column holding the transcript for L_MSE and L_QUA; "
                  "ignored when the manifest lacks it"},
    )
    max_source_positions: int = field(
        default=6000, metadata={"help": "longest utterance in fbank frames (10 ms); longer ones are skipped"}
    )
    max_target_positions: int = field(
        default=512, metadata={"help": "longest target in LLM tokens; longer ones are skipped"}
    )
    utterance_cmvn: bool = field(
        default=True, metadata={"help": "normalise each utterance's features to zero mean, unit variance"}
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
    train_subset: str = II("dataset.train_subset")
    seed: int = II("common.seed")


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
class Wav2PromptTask(FairseqTask):
    def __init__(self, cfg: Wav2PromptTaskConfig, tokenizer, dictionary: LLMDictionary):
        super().__init__(cfg)
        self.tokenizer = tokenizer
        self.dictionary = dictionary
        self.train_template = PromptTemplate(cfg.train_template)
        self.gen_template = PromptTemplate(cfg.gen_template or cfg.train_template)
        self.manifests = {}
        self.generating = False

    @classmethod
    def setup_task(cls, cfg: Wav2PromptTaskConfig, **kwargs):
        from transformers import AutoConfig

        tokenizer = load_llm_tokenizer(cfg.llm_path)
        vocab_size = AutoConfig.from_pretrained(check_llm_dir(cfg.llm_path)).vocab_size
        dictionary = LLMDictionary(tokenizer, max(vocab_size, len(tokenizer)))
        PromptTemplate(cfg.train_template)  # fail at start-up, not at the first batch
        PromptTemplate(cfg.gen_template or cfg.train_template)
        logger.info(f"LLM vocabulary: {len(dictionary)} tokens from {cfg.llm_path}")
        return cls(cfg, tokenizer, dictionary)

    @property
    def source_dictionary(self):
        return None

    @property
    def target_dictionary(self):
        return self.dictionary

    def max_positions(self):
        return None  # over-long utterances are dropped in load_dataset, with a count

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
        check_nonempty(manifest, self.cfg.target_column)
        has_transcript = bool(self.cfg.transcript_column) and (
            self.cfg.transcript_column in manifest.columns
        )
        if has_transcript:
            check_nonempty(manifest, self.cfg.transcript_column)
        check_audio_exists(manifest)

        targets = self.encode_column(manifest, self.cfg.target_column)
        transcripts = self.encode_column(manifest, self.cfg.transcript_column) if has_transcript else None
        keep = [
            i for i, row in enumerate(manifest.rows)
            if int(row["n_frames"]) <= self.cfg.max_source_positions
            and len(targets[i]) + 1 <= self.cfg.max_target_positions
        ]
        if len(keep) < len(manifest):
            logger.warning(
                f"{path}: skipped {len(manifest) - len(keep)} of {len(manifest)} utterances over "
                f"--max-source-positions {self.cfg.max_source_positions} frames or "
                f"--max-target-positions {self.cfg.max_target_positions} tokens"
            )
        manifest.rows = [manifest.rows[i] for i in keep]
        manifest.line_numbers = [manifest.line_numbers[i] for i in keep]
        self.manifests[split] = manifest
        is_train = split == self.cfg.train_subset
        self.datasets[split] = Wav2PromptDataset(
            audio=[r["audio"] for r in manifest.rows],
            n_frames=[int(r["n_frames"]) for r in manifest.rows],
            targets=[targets[i] for i in keep],
            transcripts=None if transcripts is None else [transcripts[i] for i in keep],
            prompts=self.encode_prompts(manifest.rows, self.template),
            dictionary=self.dictionary,
            shuffle=is_train,
            utterance_cmvn=self.cfg.utterance_cmvn,
            feature_transform=spec_augment(self.cfg.spec_augment) if is_train else None,
        )
        logger.info(f"{path}: {len(keep)} utterances, template {self.template.text!r}")

    def encode_column(self, manifest, column: str) -> List[List[int]]:
        texts = [row[column].strip() for row in manifest.rows]
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        empty = [i for i, x in enumerate(ids) if len(x) == 0]
        if empty:
            raise ManifestError(
                f"{manifest.where(empty[0])}: {column!r} of id {manifest.rows[empty[0]]['id']!r} "
                "tokenizes to nothing"
            )
        return [list(x) for x in ids]

    def encode_prompts(self, rows, template: PromptTemplate):
        """(prefix, postfix) token ids per row; rows that fill the template alike share them."""
        cache = {}
        prompts = []
        for row in rows:
            key = template.split(row)
            if key not in cache:
                cache[key] = encode_prompt_segments(self.tokenizer, self.dictionary.llm_bos, *key)
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
        for model in models:
            model.decoder.repetition_penalty = penalty
        return super().build_generator(
            models, args, seq_gen_cls=seq_gen_cls, extra_gen_cls_kwargs=extra_gen_cls_kwargs, **kwargs
        )

    def build_model(self, cfg, from_checkpoint=False):
        model = super().build_model(cfg, from_checkpoint)
        if not from_checkpoint and getattr(cfg, "encoder_init_checkpoint", None):
            model.encoder.load_speech_encoder(cfg.encoder_init_checkpoint)
        return model

    def build_bpe(self, cfg):
        if cfg is None or getattr(cfg, "_name", None) in (None, "llm_tokenizer"):
            return LLMTokenizerBPE(tokenizer=self.tokenizer, dictionary=self.dictionary)
        return super().build_bpe(cfg)
