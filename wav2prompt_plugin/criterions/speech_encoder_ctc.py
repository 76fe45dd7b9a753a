"""Criterion `speech_encoder_ctc`: CTC over LLM tokens, with greedy token errors.

fairseq's own `ctc` criterion takes the CTC input lengths from `src_lengths`,
i.e. before the conv subsampler of S2T encoders; here they come from the
encoder's padding mask.
"""
from dataclasses import dataclass

import editdistance
import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass


@dataclass
class SpeechEncoderCtcConfig(FairseqDataclass):
    pass


@register_criterion("speech_encoder_ctc", dataclass=SpeechEncoderCtcConfig)
class SpeechEncoderCtcCriterion(FairseqCriterion):
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
        loss = F.ctc_loss(
            lprobs, target[valid], input_lengths, target_lengths,
            blank=model.blank, reduction="sum", zero_infinity=True,
        )
        ntokens = int(target_lengths.sum())
        log = {"loss": loss.detach(), "ntokens": ntokens, "nsentences": sample["nsentences"],
               "sample_size": ntokens}
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
        if any("token_errors" in log for log in logging_outputs):
            errors = sum(log.get("token_errors", 0) for log in logging_outputs)
            metrics.log_scalar("token_error_rate", 100 * errors / max(ntokens, 1), ntokens, round=2)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
