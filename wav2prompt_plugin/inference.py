"""Python entry points: text for audio (Wav2Prompt) or for text (topline, cascade).

    from wav2prompt_plugin.inference import Wav2PromptInference
    w2p = Wav2PromptInference("checkpoint_best.pt", llm_path="/models/llama-2-7b")
    w2p.generate(["a.wav"], "Translate the English text into French: {speech} French:")
    w2p.transcribe(["a.wav"])  # [{"text": ..., "confidence": ..., ...}]: what it heard, how sure

Audio files are cut of their leading and trailing silence first (`trim_silence=True`, the default:
people start recording before they speak; data/voice_activity.py), and normalised as the checkpoint
trained (its task config's `utterance_cmvn` and `feature_norm`). Timestamps stay in the file's time.

Generation options are fairseq's (`beam`, `max_len_b`, ...) plus
`repetition_penalty` (Hugging Face's semantics, see modules/repetition_penalty.py)
and `stop_at_newline` (end each hypothesis at its first line break, see
modules/newline_stop.py).

Both go through the task's collater and fairseq's SequenceGenerator over the
plugin's frozen-LLM decoder, as `fairseq-generate` does, so all give the same
hypotheses for the same input.

Longer than the house's 250 lines: it is the whole Python API (text generation, speech generation
with transcripts, confidence and timestamps, CTC transcription), which users read in one place;
what it computes lives in analysis/ and llm/.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
from fairseq import checkpoint_utils, utils
from fairseq.data import data_utils
from fairseq.dataclass.configs import GenerationConfig
from fairseq.dataclass.utils import overwrite_args_by_name

from wav2prompt_plugin.analysis.confidence import confidence, prompt_closeness, transcript_certainty
from wav2prompt_plugin.data.templates import PromptTemplate
from wav2prompt_plugin.llm.prompt_codec import encode_speech_texts
from wav2prompt_plugin.data.wav2prompt_dataset import Wav2PromptDataset
from wav2prompt_plugin.runtime.errors import InputError
from wav2prompt_plugin.training.run_counts import run_counts
from wav2prompt_plugin.models.text_prompt import TextPromptModel
from wav2prompt_plugin.models.speech_prompt import decode_llm_identity

Fields = Union[None, Dict[str, str], Sequence[Dict[str, str]]]


def stored_llm_path(checkpoint_state) -> str:
    if "llm_identity_bytes" not in checkpoint_state["model"]:  # a CTC encoder: its tokens are the LLM's
        return checkpoint_state["cfg"]["task"]["llm_path"]
    return decode_llm_identity(checkpoint_state["model"]["llm_identity_bytes"])["path"]


def load_trained(checkpoint: str, llm_path: Optional[str], device: str, llm_weights: str = "all"):
    """(model in eval mode on `device`, its task, the checkpoint's state) of a checkpoint trained
    with the wav2prompt task, against its own LLM or `llm_path`; `llm_weights="embeddings"`: with the
    LLM's input embeddings only (the LLM runs on a serving backend)."""
    from omegaconf import open_dict

    state = checkpoint_utils.load_checkpoint_to_cpu(checkpoint)
    llm_path = llm_path or stored_llm_path(state)
    # fairseq applies arg_overrides only when it reads the file itself; `cpu`
    # (the training run's --cpu) decides where the model builds its LLM
    overrides = {"llm_path": llm_path, "cpu": torch.device(device).type == "cpu"}
    overwrite_args_by_name(state["cfg"], overrides)
    if llm_weights != "all":
        with open_dict(state["cfg"]):  # checkpoints saved before the option lack it
            state["cfg"]["model"]["llm_weights"] = llm_weights
    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        [checkpoint], arg_overrides=overrides, state=state
    )
    return models[0].to(device).eval(), task, state


def speech_batch(task, audio: Sequence[str], template: PromptTemplate, rows, trim_silence: bool = False):
    """One collated batch of audio files with `template`'s prompt around each, features as the
    checkpoint's task computes them (its normalisation)."""
    dataset = Wav2PromptDataset(
        audio=list(audio),
        n_frames=[0] * len(audio),
        targets=[[] for _ in audio],
        transcripts=None,
        prompts=task.encode_prompts(rows, template),
        dictionary=task.target_dictionary,
        shuffle=False,
        trim_silence=trim_silence,
        **feature_options(task),
    )
    return dataset.collater([dataset[i] for i in range(len(dataset))])


def _rows(template: PromptTemplate, fields: Fields, count: int):
    if fields is None or isinstance(fields, dict):
        fields = [fields or {}] * count
    for row in fields:
        template.check_columns(row.keys(), "the fields given")
    return list(fields)


class LLMGenerator:
    """The frozen LLM with text where the speech prompt would be. With a `backend` (backends/vllm.py)
    the LLM decodes there: this process computes the prompts' embeddings and writes the answers."""

    def __init__(self, task, decoder, device="cpu", beam=1, max_len_b=200, repetition_penalty=1.0,
                 stop_at_newline=False, backend=None, **generation):
        import wav2prompt_plugin  # noqa: F401  (registers task, model, bpe)

        self.backend = backend
        if backend is not None:
            from wav2prompt_plugin.backends.vllm import refuse_unsupported

            refuse_unsupported(beam, repetition_penalty)

        # read by task.build_generator and task.build_bpe
        task.cfg.repetition_penalty = repetition_penalty
        task.cfg.stop_at_newline = stop_at_newline
        self.task = task
        self.device = device
        self.config = GenerationConfig(beam=beam, max_len_b=max_len_b, **generation)
        self.text_model = TextPromptModel.from_decoder(decoder).to(device).eval()
        self.text_generator = task.build_generator([self.text_model], self.config)
        self.bpe = task.build_bpe(None)

    @classmethod
    def from_llm_path(cls, llm_path: str, llm_dtype: str = "auto", **kwargs):
        from wav2prompt_plugin.llm.decoder import FrozenLLMDecoder
        from wav2prompt_plugin.llm.loading import llm_fingerprint, load_frozen_llm
        from wav2prompt_plugin.tasks.wav2prompt import Wav2PromptTask, Wav2PromptTaskConfig

        task = Wav2PromptTask.setup_task(Wav2PromptTaskConfig(llm_path=llm_path))
        backend = kwargs.get("backend")
        if backend is None:
            llm = load_frozen_llm(llm_path, llm_dtype, kwargs.get("device", "cpu"))
        else:
            from wav2prompt_plugin.llm.embeddings_only import load_llm_embeddings

            llm = load_llm_embeddings(llm_path, llm_dtype, kwargs.get("device", "cpu"))
            backend.check_llm(task.tokenizer, llm_fingerprint(llm), llm_path)
        decoder = FrozenLLMDecoder(task.target_dictionary, llm)
        return cls(task, decoder, **kwargs)

    def _hypotheses(self, generator, model, sample) -> List[dict]:
        """The best hypothesis of each input, in input order (fairseq's dict: tokens, positional_scores)."""
        if self.device != "cpu":
            sample = utils.move_to_cuda(sample)
        if self.backend is not None:
            return self._remote_hypotheses(model, sample)
        return [h[0] for h in self.task.inference_step(generator, [model], sample)]

    @torch.no_grad()
    def _remote_hypotheses(self, model, sample) -> List[dict]:
        """fairseq's greedy hypotheses, decoded by the backend from the prompts' embeddings, scores
        included: tokens end with eos, as fairseq's do (after a line-break token under stop_at_newline
        one of score 0, as the rule forces it; after max_len_b tokens the one fairseq forces there, of
        the LLM's score for eos at that step)."""
        net_input = {k: v for k, v in sample["net_input"].items() if k != "prev_output_tokens"}
        prompt, mask = model.decoder.build_prompt(model.encoder.forward_torchscript(net_input))
        prompts = [p[m.bool()] for p, m in zip(prompt, mask)]
        dictionary, llm_vocab = self.task.target_dictionary, model.decoder.embed_tokens_count
        stop = self.task.newline_stop().line_break_ids.tolist() if self.task.cfg.stop_at_newline else ()
        pad = dictionary.pad() if dictionary.pad() < llm_vocab else None
        out, eos, limit = [], dictionary.eos(), self.config.max_len_b
        for ids, scores, eos_scores in self.backend.complete(prompts, limit + 1, eos, pad=pad, stop_token_ids=stop):
            if len(ids) > limit:  # fairseq forces eos after max_len_b tokens
                ids, scores = ids[:limit] + [eos], scores[:limit] + [eos_scores[limit]]
            elif ids[-1] != eos:  # a line break under stop_at_newline: the rule forces eos
                ids, scores = ids + [eos], scores + [0.0]
            out.append({"tokens": torch.tensor(ids), "positional_scores": torch.tensor(scores)})
        return out

    def _text(self, hypothesis) -> str:
        return self.bpe.decode(self.task.target_dictionary.string(hypothesis["tokens"].int().cpu()))

    def _decode(self, generator, model, sample) -> List[str]:
        return [self._text(h) for h in self._hypotheses(generator, model, sample)]

    def _prompt_input(self, template, rows):
        dictionary = self.task.target_dictionary
        prompts = self.task.encode_prompts(rows, template)
        pieces = {}
        for key, position in (("prefix", 0), ("postfix", 1)):
            values = [torch.tensor(p[position], dtype=torch.long) for p in prompts]
            lengths = torch.tensor([v.numel() for v in values])
            tokens = (data_utils.collate_tokens(values, dictionary.pad()) if lengths.max() > 0
                      else torch.full((len(values), 0), dictionary.pad()))
            pieces[f"prompt_{key}_tokens"], pieces[f"prompt_{key}_lengths"] = tokens, lengths
        pieces["prev_output_tokens"] = torch.full((len(rows), 1), dictionary.eos())
        return pieces

    @torch.no_grad()
    def generate_from_text(self, texts: Sequence[str], template: str, fields: Fields = None) -> List[str]:
        """The LLM's output with each text at {speech} (text topline, cascade)."""
        if not texts:
            return []
        return self._decode(self.text_generator, self.text_model, self.text_sample(texts, template, fields))

    def text_sample(self, texts: Sequence[str], template: str, fields: Fields = None) -> Dict:
        """A batch for the text model: each text's tokens at {speech}."""
        template = PromptTemplate(template)
        rows = _rows(template, fields, len(texts))
        ids = [torch.tensor(x, dtype=torch.long) for x in encode_speech_texts(self.task.tokenizer, template, texts)]
        pad = self.task.target_dictionary.pad()
        net_input = self._prompt_input(template, rows)
        net_input["src_lengths"] = torch.tensor([x.numel() for x in ids])
        net_input["src_tokens"] = data_utils.collate_tokens(ids, pad) if max(
            x.numel() for x in ids) > 0 else torch.full((len(ids), 0), pad)
        return {"id": torch.arange(len(texts)), "net_input": net_input, "target": None}


def feature_options(task) -> Dict:
    """How a checkpoint's task config normalises features (a checkpoint older than `feature_norm`
    trained with utterance CMVN over all frames, the default)."""
    return {"utterance_cmvn": task.cfg.utterance_cmvn,
            "feature_norm": str(getattr(task.cfg, "feature_norm", "utterance"))}


class Wav2PromptInference(LLMGenerator):
    """A trained Wav2Prompt checkpoint and its LLM; `trim_silence` cuts each audio file's leading
    and trailing silence before its features are computed (.npy features are used as they are).
    With `backend` (a backends.vllm.VLLMBackend) only the LLM's input embeddings load here, the
    server must serve the checkpoint's LLM, and answers decode there (greedy)."""

    def __init__(self, checkpoint: str, llm_path: Optional[str] = None, device: str = "cpu",
                 trim_silence: bool = True, backend=None, **generation):
        import wav2prompt_plugin  # noqa: F401

        self.trim_silence = trim_silence
        self.model, task, state = load_trained(checkpoint, llm_path, device,
                                               "all" if backend is None else "embeddings")
        if backend is not None:
            backend.check_llm(task.tokenizer, self.model.llm_identity["fingerprint"], task.cfg.llm_path)
        self.training_counts = run_counts(state)  # what its training computed (training/run_counts)
        super().__init__(task, self.model.decoder, device=device, backend=backend, **generation)
        self.generator = task.build_generator([self.model], self.config)
        self._unit_table = None  # the LLM's input embeddings at unit length, for transcribe()
        self._words = None  # which tokens start a word, for timestamps

    def speech_batch(self, audio: Sequence[str], template: PromptTemplate, rows):
        return speech_batch(self.task, audio, template, rows, trim_silence=self.trim_silence)

    @torch.no_grad()
    def generate(self, audio: Union[str, Sequence[str]], template: str, fields: Fields = None) -> List[str]:
        """Text for each audio file; `fields` fills the template's {column} fields."""
        audio = [audio] if isinstance(audio, str) else list(audio)
        if not audio:
            return []
        template = PromptTemplate(template)
        sample = self.speech_batch(audio, template, _rows(template, fields, len(audio)))
        return self._decode(self.generator, self.model, sample)

    @torch.no_grad()
    def _encode(self, audio: Sequence[str]) -> List[Dict[str, torch.Tensor]]:
        """Per utterance, on the CPU: `prompt`, the vectors it puts before the LLM (E_s: U' x D_llm;
        for the Encoder-LLM its stacked frames); for Wav2Prompt also `alpha`, CIF's weights over its
        encoder frames."""
        if not audio:
            return []
        template = PromptTemplate("{speech}")
        sample = self.speech_batch(audio, template, [{}] * len(audio))
        if self.device != "cpu":
            sample = utils.move_to_cuda(sample)
        net_input = {k: v for k, v in sample["net_input"].items() if k != "prev_output_tokens"}
        out = self.model.encoder(**net_input)
        prompts, lengths = out["speech_prompt"][0].float().cpu(), out["speech_prompt_lengths"][0].tolist()
        encoded = [{"prompt": p[:n]} for p, n in zip(prompts, lengths)]
        if "cif_alpha" in out:
            frames = self.model.encoder.speech_encoder.subsample.get_out_seq_lens_tensor(
                net_input["src_lengths"]).tolist()
            for item, alpha, n in zip(encoded, out["cif_alpha"][0].float().cpu(), frames):
                item["alpha"] = alpha[:n]
        return encoded

    def speech_prompts(self, audio: Sequence[str]) -> List[torch.Tensor]:
        """The prompt vectors each utterance puts before the LLM (E_s: U' x D_llm;
        for the Encoder-LLM its stacked frames), on the CPU."""
        return [item["prompt"] for item in self._encode(audio)]

    def unit_table(self) -> torch.Tensor:
        """The LLM's input embeddings at unit length (V x D, CPU)."""
        if self._unit_table is None:
            table = self.model.decoder.llm.get_input_embeddings().weight.detach().float().cpu()
            self._unit_table = torch.nn.functional.normalize(table, dim=-1)
        return self._unit_table

    @torch.no_grad()
    def transcribe(self, audio: Union[str, Sequence[str]], template: Optional[str] = None,
                   fields: Fields = None, timestamps: bool = False) -> List[Dict]:
        """What the model heard, and how sure it is: per utterance the LLM's output (`text`) under a
        transcription template (default: the one the model trained with; any other template gives
        that task's answer instead), `confidence` and its two factors (analysis/confidence.py).

        With `timestamps`, also what the LLM read and when (analysis/timestamps.py): `tokens`, one per
        vector of E_s (its nearest LLM token, `id`, `cosine` to it, `start`, `end` and `fire` in
        seconds), `words` (text, start, end), the audio's `duration` and, per encoder frame,
        CIF's weights `alpha` and `frame_seconds`."""
        audio = [audio] if isinstance(audio, str) else list(audio)
        if not audio:
            return []
        template = PromptTemplate(template) if template else self.task.train_template
        hypotheses = self._hypotheses(self.generator, self.model,
                                      self.speech_batch(audio, template, _rows(template, fields, len(audio))))
        out = []
        for path, hypothesis, encoded in zip(audio, hypotheses, self._encode(audio)):
            scores, prompt = hypothesis["positional_scores"].cpu(), encoded["prompt"]
            out.append({"text": self._text(hypothesis),
                        "confidence": confidence(scores, prompt, self.unit_table()),
                        "transcript_certainty": transcript_certainty(scores),
                        "prompt_closeness": prompt_closeness(prompt, self.unit_table())})
            if timestamps:
                out[-1].update(self._timeline(path, encoded))
        return out

    def _timeline(self, path: str, encoded: Dict[str, torch.Tensor]) -> Dict:
        from wav2prompt_plugin.data.audio_features import header_num_frames
        from wav2prompt_plugin.analysis.timestamps import covered_seconds, frame_seconds, to_seconds, token_spans
        from wav2prompt_plugin.llm.prompt_codec import WordBoundaries

        if "alpha" not in encoded:
            raise InputError("timestamps and pictures need a model with CIF (wav2prompt), not an Encoder-LLM "
                             "checkpoint")
        if self._words is None:
            self._words = WordBoundaries(self.task.tokenizer)
        subsampling = 2 ** self.model.encoder.speech_encoder.subsample.n_layers
        cosine = torch.nn.functional.normalize(encoded["prompt"], dim=-1) @ self.unit_table().T
        best, ids = cosine.max(dim=-1) if cosine.numel() else (torch.zeros(0), torch.zeros(0, dtype=torch.long))
        ids = ids.tolist()
        duration = covered_seconds(header_num_frames(path, resample=True))
        offset, heard = self._heard_part(path, duration)
        spans = to_seconds(token_spans(encoded["alpha"], len(ids), self.model.encoder.cfg.cif_threshold),
                           subsampling, heard)
        spans = [{k: round(v + offset, 4) for k, v in span.items()} for span in spans]  # the file's time
        pieces = self.task.tokenizer.convert_ids_to_tokens(ids)
        tokens = [dict(token=piece, id=i, cosine=round(float(c), 4), **span)
                  for piece, i, c, span in zip(pieces, ids, best, spans)]
        return {"duration": duration, "tokens": tokens, "words": self._words.words(ids, spans),
                "frame_seconds": frame_seconds(subsampling)[0],
                "alpha": [round(float(a), 4) for a in encoded["alpha"]]}

    def _heard_part(self, path: str, duration: float):
        """(where in the file the audio the model heard starts, how long it is), in seconds."""
        from wav2prompt_plugin.data.audio_features import SAMPLE_RATE, load_waveform, num_frames
        from wav2prompt_plugin.data.voice_activity import speech_bounds
        from wav2prompt_plugin.analysis.timestamps import covered_seconds

        waveform = load_waveform(path) if self.trim_silence else None
        if waveform is None:
            return 0.0, duration
        first, end = speech_bounds(waveform, SAMPLE_RATE)
        return first / SAMPLE_RATE, covered_seconds(num_frames(end - first))

    def prompt_lengths(self, audio: Sequence[str]) -> List[int]:
        """Number of vectors CIF fires for each utterance (the length of E_s)."""
        return [p.size(0) for p in self.speech_prompts(audio)]


class CtcTranscriber:
    """A CTC encoder checkpoint (`speech_encoder_ctc`, the recipes' initialisation stage) as an ASR
    system: greedy CTC over the LLM's tokens, written as text by the LLM's tokenizer. The cascade a
    user holding that model would try first, with no ASR training of its own. (fairseq's CTC
    decoders live in its examples/, which the installed package does not ship.)"""

    def __init__(self, checkpoint: str, llm_path: Optional[str] = None, device: str = "cpu"):
        import wav2prompt_plugin  # noqa: F401

        self.model, self.task, _ = load_trained(checkpoint, llm_path, device)
        if not hasattr(self.model, "ctc_proj"):
            raise InputError(f"{checkpoint}: not a CTC encoder checkpoint (speech_encoder_ctc), "
                             f"but a {type(self.model).__name__}")
        self.device = device

    @torch.no_grad()
    def transcribe(self, audio: Union[str, Sequence[str]]) -> List[str]:
        audio = [audio] if isinstance(audio, str) else list(audio)
        if not audio:
            return []
        sample = speech_batch(self.task, audio, PromptTemplate("{speech}"), [{}] * len(audio))
        if self.device != "cpu":
            sample = utils.move_to_cuda(sample)
        out = self.model(sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"])
        best = out["logits"].argmax(-1).t()  # B x T
        padding = out["padding_mask"]
        lengths = (~padding).sum(-1).tolist() if padding is not None else [best.size(1)] * best.size(0)
        texts = []
        for path, n in zip(best, lengths):
            tokens = path[:n].unique_consecutive()
            ids = tokens[tokens.ne(self.model.blank)].tolist()
            texts.append(self.task.tokenizer.decode(ids, skip_special_tokens=True).strip())
        return texts
