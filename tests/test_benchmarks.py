"""Each benchmark runs in --quick mode and prints its table and one JSON object
(the figures themselves are measured by running the benchmarks, not here)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_benchmark(name, *args, tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", name), "--quick", "--json", *args],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    return lines, json.loads(lines[-1])


def table_header(lines, first_column):
    header = next(i for i, line in enumerate(lines) if line.split() and line.split()[0] == first_column)
    assert set(lines[header + 1].replace(" ", "")) == {"-"}, "header rule missing"
    return lines[header]


def test_cif_benchmark(tmp_path):
    lines, result = run_benchmark("cif.py", tmp_path=tmp_path)
    assert "x vs torch-cif" in table_header(lines, "T")
    assert set(result["speedup_vs_loop"]) == {"40", "80"}
    for key in ("speedup_vs_torch_cif", "speedup_vs_torch_cif_fwd_bwd"):
        assert result["torch_cif_installed"] is False or set(result[key]) == {"40", "80"}
    assert result["counts_equal_loop_train_T40"] and result["max_abs_diff_vs_loop_infer_T80"] < 1e-4


def test_generate_benchmark(tmp_path):
    lines, result = run_benchmark("generate.py", "--work-dir", str(tmp_path), tmp_path=tmp_path)
    assert "tokens/s" in table_header(lines, "decoder")
    assert result["greedy_identical"] is True and result["beam4_shared_prefill_identical"] is True
    assert result["greedy_speed_ratio_vs_hf"] > 0


def test_train_step_benchmark(tmp_path):
    lines, result = run_benchmark("train_step.py", "--work-dir", str(tmp_path), tmp_path=tmp_path)
    assert "outside LLM" in table_header(lines, "encoder")
    tiny = result["sizes"]["tiny"]
    assert {"fp32", "checkpointing", "bf16 autocast"} <= set(tiny)
    # activation checkpointing keeps far less inside the LLM
    assert tiny["checkpointing"]["llm_activation_mb"] < 0.5 * tiny["fp32"]["llm_activation_mb"]


def test_prompt_length_benchmark(tmp_path, tiny_llm, speech_data):
    lines, result = run_benchmark("prompt_length.py", "--manifest", os.path.join(speech_data, "train.tsv"),
                                  "--llm-path", tiny_llm, tmp_path=tmp_path)
    assert "LLM positions / s" in table_header(lines, "system")
    stack2, stack4 = (result["systems"][f"Encoder-LLM, stack {k}"] for k in (2, 4))
    assert stack2["positions_per_s"] == pytest.approx(2 * stack4["positions_per_s"], rel=0.1)
