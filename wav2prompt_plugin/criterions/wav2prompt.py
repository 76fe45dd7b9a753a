"""Criterion `wav2prompt`: L = L_CE + mse_weight * L_MSE + qua_weight * L_QUA (paper §3).

- L_CE: the frozen LLM's cross-entropy on the target tokens, with E_s in place
  of the text; gradients flow through the LLM into E_s.
- L_MSE: distance between E_s and the LLM's own embeddings of the transcript,
  Emb(y) — what keeps the speech prompt in the text-embedding space, so any
  text template keeps working. "plain" is the paper's mean squared error;
  "normalized" divides it by the mean squared norm of Emb(y)/D, which makes the
  weight independent of the LLM's embedding scale (a tiny LLM and LLaMA-2 differ
  by orders of magnitude).
- L_QUA: |sum_t alpha_t - U|, U = transcript tokens, on the unscaled weights.

Two optional terms are our addition, not the paper's (both need the model's
`--ctc-head`): `ctc_weight` * CTC over the transcript's LLM tokens on the
encoder output, which keeps the encoder's frames token-discriminative while
L_CE pulls on them through the LLM; `cif_align_weight` * sum_t (alpha_t -
(1 - p_blank(t)))^2, which keeps CIF firing on CTC's token spikes (the loss
that trains the predictor beside CTC in `speech_encoder_ctc`).

`llm_free_updates` trains the first N updates without the LLM (no forward,
no backward): L_MSE, L_QUA and the auxiliary terms against the LLM's input
embedding table alone, L_CE from update N on. `cos_weight` adds 1 - cosine
between E_s and Emb(y) per vector (an option of the LLM-free stage; neither is
the paper's).

Each term is computed per target token, per prompt vector, per utterance
respectively, and the total is scaled by `sample_size` so fairseq's
normalisation yields these means.
"""
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import ChoiceEnum, FairseqDataclass

from wav2prompt_plugin.criterions.speech_encoder_ctc import cif_spike_alignment, ctc_loss
from wav2prompt_plugin.runtime.errors import InputError
from wav2prompt_plugin.modules.cif import fired_count


COMPUTE_COUNTS = ("batches", "llm_free_batches", "llm_positions", "llm_positions_sq", "llm_logits",
                  "speech_frames", "speech_frames_sq", "prompt_vectors")


class MissingTranscriptError(InputError):
    pass


@dataclass
class Wav2PromptCriterionConfig(FairseqDataclass):
    mse_weight: float = field(default=1.0, metadata={"help": "weight of L_MSE (0 disables it)"})
    qua_weight: float = field(default=1.0, metadata={"help": "weight of L_QUA (0 disables it)"})
    mse_type: ChoiceEnum(["plain", "normalized"]) = field(
        default="normalized",
        metadata={"help": "plain: the paper's MSE; normalized: MSE / mean squared embedding "
                  "norm per dimension (independent of the LLM's embedding scale)"},
    )
    ctc_weight: float = field(
        default=0.0, metadata={"help": "weight of an auxiliary CTC loss on the transcript (needs the "
                               "model's --ctc-head; not in the paper)"}
    )
    cif_align_weight: float = field(
        default=0.0, metadata={"help": "weight of the CIF weights' alignment to CTC's token spikes "
                               "(needs --ctc-head; not in the paper)"}
    )
    cos_weight: float = field(
        default=0.0, metadata={"help": "weight of 1 - cosine(E_s, Emb(y)) per prompt vector (not in the paper)"}
    )
    llm_free_updates: int = field(
        default=0, metadata={"help": "the first N training updates run no LLM: L_CE is left out, the "
                             "transcript terms (--mse-weight > 0 needed) train E_s against the LLM's "
                             "embedding table alone (not in the paper)"}
    )


@register_criterion("wav2prompt", dataclass=Wav2PromptCriterionConfig)
class Wav2PromptCriterion(FairseqCriterion):
    def __init__(self, task, mse_weight=1.0, qua_weight=1.0, mse_type="normalized",
                 ctc_weight=0.0, cif_align_weight=0.0, cos_weight=0.0, llm_free_updates=0):
        super().__init__(task)
        if llm_free_updates > 0 and mse_weight <= 0 and cos_weight <= 0:
            raise ValueError(
                f"--llm-free-updates {llm_free_updates} needs --mse-weight or --cos-weight > 0: "
                "without the LLM nothing else pulls E_s towards its embeddings"
            )
        self.mse_weight = mse_weight
        self.qua_weight = qua_weight
        self.mse_type = mse_type
        self.ctc_weight = ctc_weight
        self.cif_align_weight = cif_align_weight
        self.cos_weight = cos_weight
        self.llm_free_updates = llm_free_updates

    @property
    def uses_ctc(self):
        return self.ctc_weight > 0 or self.cif_align_weight > 0

    @property
    def uses_transcript(self):
        return self.mse_weight > 0 or self.qua_weight > 0 or self.cos_weight > 0 or self.uses_ctc

    def runs_llm(self, model) -> bool:
        """False in the LLM-free training updates; evaluation always runs the LLM."""
        return not getattr(model, "training", True) or getattr(model, "num_updates", 0) >= self.llm_free_updates

    def forward(self, model, sample, reduce=True):
        transcript_lengths = sample.get("transcript_lengths")
        if self.uses_transcript and transcript_lengths is None:
            raise MissingTranscriptError(
                "--mse-weight/--qua-weight/--ctc-weight/--cif-align-weight need a transcript, but "
                "the manifest has no --transcript-column; set them to 0 to train on CE alone"
            )
        run_llm = self.runs_llm(model)
        logits, extra = model(**sample["net_input"], transcript_lengths=transcript_lengths, run_llm=run_llm)
        encoder_out = extra["encoder_out"]
        has_cif = "cif_weight_sum" in encoder_out  # the Encoder-LLM trains on L_CE alone
        if self.uses_transcript and not has_cif:
            raise ValueError(
                f"--mse-weight/--qua-weight need a CIF model; {type(model).__name__} has none, "
                "set both weights to 0"
            )
        if self.uses_ctc and "ctc_logits" not in encoder_out:
            raise ValueError(
                "--ctc-weight/--cif-align-weight need a CTC head on the encoder: train with --ctc-head"
            )
        target = sample["target"]
        ntokens = sample["ntokens"]
        nsentences = sample["nsentences"]
        log = {"ntokens": ntokens, "nsentences": nsentences, "sample_size": ntokens,
               **self.compute_counts(sample, extra if run_llm else None)}
        loss = 0.0
        if run_llm:
            ce = F.cross_entropy(
                logits.float().transpose(1, 2), target, ignore_index=self.padding_idx, reduction="sum"
            )
            correct = (logits.argmax(-1).eq(target) & target.ne(self.padding_idx)).sum()
            loss = ce / ntokens
            log.update(ce=ce.detach(), correct=correct.detach(), ce_tokens=ntokens)
        if transcript_lengths is not None and has_cif:
            mse, cos, num_vectors = self.distance(model, encoder_out, sample["transcript"], transcript_lengths)
            weight_sum = encoder_out["cif_weight_sum"][0].float()
            qua = (weight_sum - transcript_lengths.to(weight_sum)).abs().sum()
            predicted = self.predicted_lengths(model, weight_sum)
            length_error = (predicted - transcript_lengths).abs()
            loss = loss + (self.mse_weight * mse + self.cos_weight * cos) / num_vectors \
                + self.qua_weight * qua / nsentences
            log.update(
                mse=mse.detach(), mse_vectors=num_vectors, qua=qua.detach(),
                cif_len_exact=int(length_error.eq(0).sum()),
                cif_len_abs_err=int(length_error.sum()),
            )
            if self.cos_weight > 0:
                log["cos"] = cos.detach()
        if self.uses_ctc:
            lprobs = encoder_out["ctc_logits"][0].float().log_softmax(-1).transpose(0, 1)  # T x B x V+1
            blank = lprobs.size(-1) - 1
            frame_lengths = encoder_out["frame_lengths"][0]
            ctc = ctc_loss(lprobs, frame_lengths, sample["transcript"], transcript_lengths, blank)
            padding = (torch.arange(lprobs.size(0), device=lprobs.device).unsqueeze(0)
                       >= frame_lengths.unsqueeze(1))
            align = cif_spike_alignment(encoder_out["cif_alpha"][0], lprobs, padding, blank)
            loss = loss + (self.ctc_weight * ctc + self.cif_align_weight * align) / ntokens
            log.update(ctc=ctc.detach(), cif_align=align.detach())
        log["loss"] = loss.detach() * ntokens
        return loss * ntokens, ntokens, log

    @staticmethod
    def compute_counts(sample, llm_extra) -> dict:
        """What this batch ran, summed over the run by reduce_metrics: the LLM's input positions
        (padding included) and their squares (attention), its logits, the fbank frames and their
        squares, and whether the batch ran the LLM at all."""
        counts = {"batches": 1, "llm_free_batches": int(llm_extra is None)}
        frames = sample["net_input"].get("src_lengths")
        if frames is not None:
            frames = frames.double()
            counts.update(speech_frames=float(frames.sum()), speech_frames_sq=float(frames.pow(2).sum()))
        if sample.get("transcript_lengths") is not None:
            counts["prompt_vectors"] = int(sample["transcript_lengths"].sum())
        if llm_extra is not None and "llm_input_shape" in llm_extra:
            rows, width = llm_extra["llm_input_shape"]
            counts.update(llm_positions=rows * width, llm_positions_sq=rows * width ** 2,
                          llm_logits=int(sample["target"].numel()))
        return counts

    def distance(self, model, encoder_out, transcript, transcript_lengths):
        """Summed squared error between E_s and Emb(y), over valid vectors (per dim mean),
        and summed 1 - cosine; with the number of valid vectors."""
        speech_prompt = encoder_out["speech_prompt"][0].float()  # B x U x D
        with torch.no_grad():
            text = model.decoder.embed_tokens(transcript).float()  # B x U x D
        mask = (
            torch.arange(transcript.size(1), device=transcript.device).unsqueeze(0)
            < transcript_lengths.unsqueeze(1)
        )
        width = min(speech_prompt.size(1), text.size(1))
        diff = (speech_prompt[:, :width] - text[:, :width]).pow(2).mean(-1)  # B x U
        m = mask[:, :width].to(diff)
        error = (diff * m).sum()
        if self.mse_type == "normalized":
            scale = (text.pow(2).mean(-1) * mask.to(diff)).sum() / mask.sum().clamp(min=1)
            error = error / scale.clamp(min=1e-8)
        cos = error.new_zeros(())
        if self.cos_weight > 0:
            similarity = F.cosine_similarity(speech_prompt[:, :width], text[:, :width], dim=-1)
            cos = ((1 - similarity) * m).sum()
        return error, cos, int(mask.sum())

    @staticmethod
    def predicted_lengths(model, weight_sum):
        """The number of vectors inference would fire from these weights."""
        cfg = model.encoder.cfg
        return fired_count(weight_sum, cfg.cif_threshold, cfg.cif_tail_threshold)

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        def total(key):
            return sum(float(log.get(key, 0)) for log in logging_outputs)

        ntokens, nsentences = total("ntokens"), total("nsentences")
        metrics.log_scalar("loss", total("loss") / max(ntokens, 1) / math.log(2), ntokens, round=3)
        ce_tokens = total("ce_tokens")
        if ce_tokens:  # not in the LLM-free updates
            metrics.log_scalar("ce", total("ce") / ce_tokens / math.log(2), ce_tokens, round=3)
            metrics.log_scalar("acc", 100 * total("correct") / ce_tokens, ce_tokens, round=2)
        # sums: the "default" aggregator (saved in the checkpoint) holds them for the whole run
        for key in COMPUTE_COUNTS:
            metrics.log_scalar_sum(key, total(key), priority=900)
        if any("mse" in log for log in logging_outputs):
            vectors = total("mse_vectors")
            metrics.log_scalar("mse", total("mse") / max(vectors, 1), vectors, round=4)
            metrics.log_scalar("qua", total("qua") / max(nsentences, 1), nsentences, round=3)
            metrics.log_scalar(
                "cif_len_exact", 100 * total("cif_len_exact") / max(nsentences, 1), nsentences, round=2
            )
            metrics.log_scalar(
                "cif_len_err", total("cif_len_abs_err") / max(nsentences, 1), nsentences, round=3
            )
        if any("cos" in log for log in logging_outputs):
            metrics.log_scalar("cos", total("cos") / max(total("mse_vectors"), 1), round=4)
        if any("ctc" in log for log in logging_outputs):
            metrics.log_scalar("ctc", total("ctc") / max(ntokens, 1), ntokens, round=3)
            metrics.log_scalar("cif_align", total("cif_align") / max(ntokens, 1), ntokens, round=3)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
