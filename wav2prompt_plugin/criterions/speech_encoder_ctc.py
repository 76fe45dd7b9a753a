"""Criterion `speech_encoder_ctc`: CTC over LLM tokens, with greedy token errors.

Beside CTC, the model's CIF weight predictor learns to fire where CTC emits a
token: L_align = sum_t (alpha_t - (1 - p_blank(t)))^2 against the detached CTC
posteriors, plus the CIF quantity loss |sum_t alpha_t - U|. It shapes only the
predictor (the encoder output it reads is detached).

fairseq's own `ctc` criterion takes the CTC input lengths from `src_lengths`,
i.e. before the conv subsampler of S2T encoders; here they come from the
encoder's padding mask.
"""
from dataclasses import dataclass, field

import editdistance
import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass

from wav2prompt_plugin.modules.cif import fired_count


def ctc_loss(lprobs, input_lengths, tokens, token_lengths, blank):
    """Summed CTC. lprobs: T x B x V+1; tokens: B x U right-padded (beyond token_lengths)."""
    valid = torch.arange(tokens.size(1), device=tokens.device) < token_lengths.unsqueeze(1)
    return F.ctc_loss(lprobs.float(), tokens[valid], input_lengths, token_lengths,
                      blank=blank, reduction="sum", zero_infinity=True)


def cif_spike_alignment(alpha, lprobs, padding, blank):
    """sum_t (alpha_t - (1 - p_blank(t)))^2, against detached CTC posteriors.

    alpha: B x T (0 on padding); lprobs: T x B x V+1; padding: B x T or None.
    """
    spikes = 1 - lprobs[..., blank].detach().float().exp().t()  # B x T
    if padding is not None:
        spikes = spikes.masked_fill(padding, 0.0)
    return (alpha.float() - spikes).pow(2).sum()


@dataclass
class SpeechEncoderCtcCriterionConfig(FairseqDataclass):
    cif_align_weight: float = field(
        default=1.0, metadata={"help": "weight of the CIF weight predictor's alignment + quantity "
                               "loss (0: leave the predictor untrained)"}
    )


@register_criterion("speech_encoder_ctc", dataclass=SpeechEncoderCtcCriterionConfig)
class SpeechEncoderCtcCriterion(FairseqCriterion):
    def __init__(self, task, cif_align_weight=1.0):
        super().__init__(task)
        self.cif_align_weight = cif_align_weight

    def forward(self, model, sample, reduce=True):
        net_output = model(**sample["net_input"])
        lprobs = model.get_normalized_probs(net_output, log_probs=True)  # T x B x V+1
        padding = net_output["padding_mask"]
        input_lengths = (
            (~padding).long().sum(-1) if padding is not None
            else lprobs.new_full((lprobs.size(1),), lprobs.size(0), dtype=torch.long)
        )
        target = sample["target"]
        valid = target.ne(self.padding_idx) & target.ne(self.task.target_dictionary.eos())
        target_lengths = valid.long().sum(-1)
        # targets are right-padded and end in eos, so the first U of each row are its tokens
        loss = ctc_loss(lprobs, input_lengths, target, target_lengths, model.blank)
        ntokens = int(target_lengths.sum())
        log = {"ctc": loss.detach(), "ntokens": ntokens, "nsentences": sample["nsentences"],
               "sample_size": ntokens}
        if self.cif_align_weight > 0:
            alpha = net_output["cif_alpha"].float()  # B x T, 0 on padding
            weight_sum = alpha.sum(-1)
            align = (cif_spike_alignment(alpha, lprobs, padding, model.blank)
                     + (weight_sum - target_lengths.to(alpha)).abs().sum())
            loss = loss + self.cif_align_weight * align
            predicted = fired_count(weight_sum)  # what inference fires (Wav2Prompt's default thresholds)
            log.update(cif_align=align.detach(),
                       cif_len_exact=int(predicted.eq(target_lengths).sum()))
        log["loss"] = loss.detach()
        if not model.training:
            errors = 0
            best = lprobs.argmax(-1).t()  # B x T
            for b in range(best.size(0)):
                path = best[b, : input_lengths[b]].unique_consecutive()
                hyp = path[path.ne(model.blank)].tolist()
                errors += editdistance.eval(hyp, target[b][valid[b]].tolist())
            log["token_errors"] = errors
        return loss, ntokens, log

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        ntokens = sum(log.get("ntokens", 0) for log in logging_outputs)
        loss = sum(float(log.get("loss", 0)) for log in logging_outputs)
        metrics.log_scalar("loss", loss / max(ntokens, 1), ntokens, round=3)
        ctc = sum(float(log.get("ctc", 0)) for log in logging_outputs)
        metrics.log_scalar("ctc", ctc / max(ntokens, 1), ntokens, round=3)
        if any("cif_align" in log for log in logging_outputs):
            nsentences = sum(log.get("nsentences", 0) for log in logging_outputs)
            align = sum(float(log["cif_align"]) for log in logging_outputs)
            exact = sum(log["cif_len_exact"] for log in logging_outputs)
            metrics.log_scalar("cif_align", align / max(ntokens, 1), ntokens, round=3)
            metrics.log_scalar("cif_len_exact", 100 * exact / max(nsentences, 1), nsentences, round=2)
        if any("token_errors" in log for log in logging_outputs):
            errors = sum(log.get("token_errors", 0) for log in logging_outputs)
            metrics.log_scalar("token_error_rate", 100 * errors / max(ntokens, 1), ntokens, round=2)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
