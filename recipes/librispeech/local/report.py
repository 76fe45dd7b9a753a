#!/usr/bin/env python3
"""Collect the recipe's figures into <exp>/results.{json,md} with the shared
report code (wav2prompt_plugin.evaluation.report), as the miniature recipe does.

Merges the evaluation (wav2prompt-eval's results.json: zero-shot and few-shot
systems, every test set), the stage times, the trained parameter counts and the
training curves, and checks the paper's claims on them (wav2prompt_plugin.evaluation.paper_claims,
as the miniature recipe does): `paper_claims` in results.json, a table in results.md; a claim whose
systems or tasks were not run says "not measured".
"""
import argparse
import json
import os

import torch

from wav2prompt_plugin.evaluation.paper_claims import check_claims, claims
from wav2prompt_plugin.evaluation.report import load_results, metrics_table, save_results
from wav2prompt_plugin.evaluation.training_curves import plot_experiment_curves

CURVES = {"ctc": ["loss"], "wav2prompt": ["loss", "ce", "mse", "qua"], "encoder_llm": ["loss"], "asr": ["loss"]}


def trained_parameters(checkpoint: str) -> int:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"]
    return sum(v.numel() for v in state.values() if v.is_floating_point())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exp", required=True)
    parser.add_argument("--eval", required=True, help="wav2prompt-eval's output directory")
    parser.add_argument("--llm-family", required=True)
    parser.add_argument("--ft-metric", default="st_fr_bleu",
                        help="the figure claim (c) compares (paper: En→Fr, +8.5 BLEU over the cascade, BLOOMZ-7B1)")
    args = parser.parse_args()

    results = load_results(args.eval)
    results["title"] = (f"LibriSpeech 960 h recipe, LLM family `{args.llm_family}`. Wav2Prompt is trained on "
                        "ASR data only; every other task is zero-shot through the LLM's text templates, "
                        "except the `_ft<N>` systems (few-shot end-to-end fine-tuning on N utterances).")
    systems = results.get("systems", {})
    results["paper_claims"] = claims(systems, args.ft_metric, not_measured=True)
    results["notes"] = "\n".join(["## The paper's claims", ""] + check_claims(systems, args.ft_metric, True) + [""])
    stage_file = os.path.join(args.exp, "stage_seconds.json")
    if os.path.isfile(stage_file):
        with open(stage_file) as f:
            results["stage_seconds"] = json.load(f)
    params = {}
    for run, label in (("ctc", "CTC encoder (initialisation)"), ("wav2prompt", "Wav2Prompt (trained)"),
                       ("encoder_llm", "Encoder-LLM (trained)"), ("asr", "cascade ASR (trained)")):
        checkpoint = os.path.join(args.exp, run, "checkpoint_last.pt")
        if os.path.isfile(checkpoint):
            params[label] = trained_parameters(checkpoint)
    results["parameters"] = params
    curves = plot_experiment_curves(args.exp, CURVES)
    if curves:
        results["training_curves"] = curves
    save_results(args.exp, results)
    print(metrics_table(results.get("systems", {}), results.get("metric_labels")))
    print(f"\nfull report: {os.path.join(args.exp, 'results.md')}")


if __name__ == "__main__":
    main()
