"""The systems wav2prompt-eval scores, behind one interface.

Speech systems hear the audio through a checkpoint (`wav2prompt`, `encoder_llm`); text systems put text
at the template's {speech} for the same frozen LLM and decoder (`text_topline`: the reference transcript;
`cascade`: an ASR model's hypotheses by utterance id). For rows of a manifest each gives the LLM's answers
under a template and how many LLM positions its prompt takes; Wav2Prompt alone `transcribes`, with a
confidence and word times from its CIF prompt (Wav2PromptInference.transcribe).
"""
import csv
from typing import Dict, List, Optional

from wav2prompt_plugin.llm.prompt_codec import encode_speech_texts
from wav2prompt_plugin.runtime.errors import InputError

SPEECH_SYSTEMS = ("wav2prompt", "encoder_llm")
TEXT_SYSTEMS = ("text_topline", "cascade")


def read_asr_hypotheses(path: str) -> Dict[str, str]:
    """id -> ASR hypothesis, from a TSV with columns id and hyp."""
    if not path:
        raise InputError("system 'cascade' needs --asr-hypotheses")
    with open(path, newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not {"id", "hyp"} <= set(reader.fieldnames or []):
            raise InputError(f"{path}: needs columns id and hyp (has {reader.fieldnames})")
        return {row["id"]: row["hyp"] or "" for row in reader}


class TextSystem:
    """The LLM with text at {speech}: the transcript (text topline) or an ASR hypothesis (cascade)."""

    speech, transcribes = False, False

    def __init__(self, kind: str, generator, transcript_column: str = "tgt_text",
                 hypotheses: Optional[Dict[str, str]] = None, hypotheses_path: str = ""):
        self.kind, self.generator, self.transcript_column = kind, generator, transcript_column
        self.hypotheses, self.hypotheses_path = hypotheses, hypotheses_path

    def texts(self, rows) -> List[str]:
        """What the system puts at {speech} for each row."""
        if self.hypotheses is None:
            return [r[self.transcript_column] for r in rows]
        missing = [r["id"] for r in rows if r["id"] not in self.hypotheses]
        if missing:
            raise InputError(f"{self.hypotheses_path}: no hypothesis for id {missing[0]!r} "
                             f"({len(missing)} test ids missing)")
        return [self.hypotheses[r["id"]] for r in rows]

    def answer(self, rows, template: str) -> List[str]:
        return self.generator.generate_from_text(self.texts(rows), template, rows)

    def prompt_lengths(self, rows) -> List[int]:
        """LLM positions at {speech}: the text's tokens as the model's training template writes them."""
        template = self.generator.task.train_template
        return [len(x) for x in encode_speech_texts(self.generator.task.tokenizer, template, self.texts(rows))]

    def training_cost(self) -> Dict[str, float]:
        return {}


class SpeechSystem:
    """A trained checkpoint (Wav2PromptInference) that hears each row's audio."""

    speech = True

    def __init__(self, kind: str, inference):
        self.kind, self.generator = kind, inference
        self.transcribes = kind == "wav2prompt"

    def answer(self, rows, template: str) -> List[str]:
        return self.generator.generate([r["audio"] for r in rows], template, rows)

    def prompts(self, rows):
        """Each row's speech prompt (E_s for Wav2Prompt, stacked frames for the Encoder-LLM)."""
        return self.generator.speech_prompts([r["audio"] for r in rows])

    def prompt_lengths(self, rows) -> List[int]:
        return self.generator.prompt_lengths([r["audio"] for r in rows])

    def transcribe(self, rows, template: Optional[str], timestamps: bool = False) -> List[dict]:
        return self.generator.transcribe([r["audio"] for r in rows], template, timestamps=timestamps)

    def training_cost(self) -> Dict[str, float]:
        from wav2prompt_plugin.evaluation.training_cost import training_cost

        return training_cost(self.generator.model, self.generator.training_counts)


def build_system(kind: str, config, hypotheses: Optional[Dict[str, str]] = None):
    """The system `kind` as `config` (an EvaluationConfig) describes it; a cascade reads
    config.asr_hypotheses unless `hypotheses` are given."""
    from wav2prompt_plugin.inference import LLMGenerator, Wav2PromptInference

    decoding = dict(beam=config.beam, max_len_b=config.max_len_b, repetition_penalty=config.repetition_penalty,
                    stop_at_newline=config.stop_at_newline, device=config.device)
    if config.backend == "vllm":
        from wav2prompt_plugin.backends.vllm import VLLMBackend

        decoding["backend"] = VLLMBackend(config.vllm_url, concurrency=config.vllm_concurrency)
    if kind in SPEECH_SYSTEMS:
        if not config.checkpoint:
            raise InputError(f"system {kind!r} needs --checkpoint")
        return SpeechSystem(kind, Wav2PromptInference(config.checkpoint, llm_path=config.llm_path,
                                                      trim_silence=config.trim_silence, **decoding))
    if kind not in TEXT_SYSTEMS:
        raise InputError(f"unknown system {kind!r} (systems: {', '.join(SPEECH_SYSTEMS + TEXT_SYSTEMS)})")
    if kind == "cascade" and hypotheses is None:
        hypotheses = read_asr_hypotheses(config.asr_hypotheses)
    if not config.llm_path:
        raise InputError(f"system {kind!r} needs --llm-path")
    generator = LLMGenerator.from_llm_path(config.llm_path, llm_dtype=config.llm_dtype, **decoding)
    return TextSystem(kind, generator, config.transcript_column, hypotheses if kind == "cascade" else None,
                      config.asr_hypotheses)
