"""The paper's claims, checked on the recipe's results (not assumed): the shared code of
wav2prompt_plugin/evaluation/paper_claims.py, which recipes/librispeech reports too.

(a) zero-shot Wav2Prompt within 10% of the ASR-LLM cascade on every task;
(b) the Encoder-LLM, trained on ASR alone, below 30% of the cascade on translation;
(c) few-shot fine-tuned Wav2Prompt above the cascade on the fine-tuned task;
(d) without L_MSE (`wav2prompt_no_mse`), the zero-shot figures of every task but ASR fall
    (paper: En→Es BLEU 13.8 → 5.4, 39%), against `wav2prompt_all_ce` where the recipe's
    Wav2Prompt has an LLM-free stage.
"""
from wav2prompt_plugin.evaluation.paper_claims import TRANSLATION, _relative, check_claims, claims, task_metrics  # noqa: F401
