"""Each benchmark runs in --quick mode and prints its table and one JSON object
(the figures themselves are measured by running the benchmarks, not here)."""
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

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
    # torch-cif is a test dependency: the comparison runs, and agrees where both define the same thing
    assert result["torch_cif_installed"] is True
    for key in ("speedup_vs_torch_cif", "speedup_vs_torch_cif_fwd_bwd"):
        assert set(result[key]) == {"40", "80"}
    for time in (40, 80):
        for mode in ("train", "infer"):
            assert result[f"counts_equal_loop_{mode}_T{time}"] is True
            assert result[f"counts_equal_torch_cif_{mode}_T{time}"] is True
            assert result[f"max_abs_diff_vs_loop_{mode}_T{time}"] < 1e-4
        # training: torch-cif scales the weights to U + 1e-4, ours to U exactly
        assert result[f"max_abs_diff_vs_torch_cif_train_T{time}"] < 1e-2
        assert result[f"max_abs_diff_vs_torch_cif_infer_T{time}"] < 1e-4


def test_generate_benchmark(tmp_path):
    lines, result = run_benchmark("generate.py", "--work-dir", str(tmp_path), tmp_path=tmp_path)
    assert "tokens/s" in table_header(lines, "decoder")
    # what the benchmark claims beside its timings: the plugin decodes what HF decodes
    assert result["greedy_identical"] is True and result["beam4_shared_prefill_identical"] is True


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


def test_flops_model(tmp_path):
    measured = tmp_path / "gpu_check.json"
    measured.write_text(json.dumps({"device": "cuda", "variants": {"plain": {"audio_s_per_s": 1000.0, "mfu": 0.3}}}))
    lines, result = run_benchmark("flops_model.py", "--measured", str(measured), tmp_path=tmp_path)
    assert "fwd+bwd GFLOP" in table_header(lines, "part")
    assert "counted GFLOP" in table_header(lines, "pass")
    # LLaMA-2-7B: 6.48e9 non-embedding parameters; one utterance of 12.3 s puts ~96 positions through it
    assert result["llm_params"] == 32 * (4 * 4096 ** 2 + 3 * 4096 * 11008)
    assert result["assumptions"]["utterances_per_batch"] == 20000 // result["assumptions"]["frames"]
    assert 0.9 < result["llm_share"] < result["llm_share_checkpointing"] < 0.99
    # the analytic model agrees with torch's FlopCounterMode on the plugin's own modules
    checks = {k: v for k, v in result["count"].items() if isinstance(v, dict) and "ratio" in v}
    assert len(checks) == 5
    for name, check in checks.items():
        assert check["ratio"] == pytest.approx(1.0, abs=0.01), name
    # the default projection, the mini recipe's schedule: 1.5x the updates, 84% of them LLM-free, each
    # costing the trained part alone
    lf = result["llm_free"]
    assert lf["update_share"] == pytest.approx(1 - result["llm_share"], abs=1e-4)
    assert lf["schedule_share"] == pytest.approx(1.5 * (0.16 + 0.84 * lf["update_share"]), abs=1e-4)
    assert lf["llm_positions_share"] == pytest.approx(0.24)
    assert lf["epoch_gpu_hours"] == pytest.approx(result["epoch_minutes"] * 8 / 60, rel=0.02)
    # 960.9 h on 8 GPUs at 1000 audio s/s each
    assert result["measured"]["plain"]["epoch_minutes"] == pytest.approx(960.9 * 3600 / 8000 / 60, abs=0.1)


def test_gpu_check_quick(tmp_path):
    """benchmarks/gpu_check.sh --quick: every step of the GPU check on CPU (tiny LLM, 4 updates)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="2")
    env.pop("OUT", None)
    proc = subprocess.run(
        ["bash", os.path.join(ROOT, "benchmarks", "gpu_check.sh"), "--quick", "--work-dir", str(tmp_path / "work")],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert "s/update" in table_header(lines, "variant") and "tokens/s" in table_header(lines, "decoding")
    assert result["ok"] is True and result["device"] == "cpu"
    assert result["llm"]["vocab"] == 32000 and result["llm"]["d"] == 64
    assert (result["encoder"]["layers"], result["encoder"]["d"], result["encoder"]["depthwise_kernel"]) == (2, 128, 31)
    train = result["data"]["train"]
    assert 1.0 <= train["mean_seconds"] <= 2.0 and train["utterances"] == 40
    for name in ("plain", "checkpointing"):
        v = result["variants"][name]
        assert v["status"] == "ok"
        assert v["updates"] == result["updates_requested"] == 4
        assert v["timed_updates"] == 2  # the first of two log intervals is left out
        # a batch holds at most --max-tokens 1000 frames = 10 s, and the 2-6 utterances of 1-2 s it fits
        assert 2 <= v["utterances_per_update"] <= 10
        assert v["utterances_per_update"] <= v["audio_s_per_update"] <= 10.0
        assert v["audio_s_per_s"] == pytest.approx(v["audio_s_per_update"] / v["s_per_update"], rel=0.02)
        assert v["model_tflop_per_update"] == pytest.approx(v["achieved_tflops"] * v["s_per_update"], rel=0.05)
        # the 64-wide LLM's 32,000-way logits beside a 2-layer Conformer of width 128: a quarter of the
        # FLOPs for 1-2 s utterances (flops_model.py: 0.30 at 1 s, 0.25 at 1.5-2 s)
        assert 0.2 < v["llm_share"] < 0.35
        assert v["peak_gpu_allocated_gib"] is None and v["peak_rss_gib"] > 0.2
    # the same seed gives both variants the same batches, so the same model FLOPs; recompute is extra
    plain, ckpt = result["variants"]["plain"], result["variants"]["checkpointing"]
    assert ckpt["target_tokens_per_update"] == plain["target_tokens_per_update"]
    assert ckpt["model_tflop_per_update"] == plain["model_tflop_per_update"]
    assert ckpt["hfu"] >= ckpt["mfu"] and plain["hfu"] == plain["mfu"]
    gen = result["generate"]
    assert gen["status"] == "ok" and gen["hypotheses"] == gen["sentences"] == gen["requested"] == 3
    assert 3 <= gen["tokens"] <= 3 * 9  # --max-len-b 8, + eos
    # fairseq prints the seconds to 0.1 s
    assert abs(gen["tokens_per_s"] * gen["seconds"] - gen["tokens"]) <= 0.051 * gen["tokens_per_s"] + 0.5
    import shutil

    shutil.rmtree(tmp_path / "work")  # the checkpoint (encoder + Adam state) is ~1 GB


def test_llm_load_benchmark(tmp_path):
    lines, result = run_benchmark("llm_load.py", "--work-dir", str(tmp_path), tmp_path=tmp_path)
    assert "added once read MiB" in table_header(lines, "loader")
    loaders = result["loaders"]
    assert set(loaders) == {"plugin", "plain", "fp32"}
    # the plugin keeps the bf16 the LLM was saved in; the pre-auto default was fp32
    assert loaders["plugin"]["dtype"] == "bfloat16" and loaders["fp32"]["dtype"] == "float32"
    # the quick LLaMA: width 64, 2 layers, 4 heads of 16 (2 for k/v), FFN 172, vocabulary 1,000, untied
    layer = 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 172 + 2 * 64
    assert loaders["plugin"]["params"] == loaders["fp32"]["params"] == result["params"] == (
        2 * 1000 * 64 + 2 * layer + 64)
    assert result["weights_mb"] == pytest.approx(result["params"] * 2 / 2 ** 20, rel=0.02)  # bf16 on disk
    assert loaders["plugin"]["device"] == "cpu"
    assert result["bar_met"] is (result["plugin_read_rss_over_weights"] <= 1.3)


def test_manifest_startup_benchmark(tmp_path):
    lines, result = run_benchmark("manifest_startup.py", "--work-dir", str(tmp_path), tmp_path=tmp_path)
    assert "load_dataset s" in table_header(lines, "start")
    assert "padded fill" in table_header(lines, "multiple")
    assert result["rows"] == 2000
    # the later starts read the row checks the first one wrote beside the manifest
    assert [p.name for p in tmp_path.glob("startup_2000_50/*.row_checks.npz")] == ["train.tsv.row_checks.npz"]
    # without the multiple of 8 a batch holds more utterances, and no row is left out
    assert result["batches"]["1"]["fill"] > result["batches"]["8"]["fill"]
    assert all(b["rows_batched"] == 2000 for b in result["batches"].values())
    assert result["dataset_mb_per_100k_rows"] < result["old_layout_mb_per_100k_rows"]


def test_epoch_loader_benchmark(tmp_path):
    lines, result = run_benchmark("epoch_loader.py", "--work-dir", str(tmp_path), tmp_path=tmp_path)
    assert "s per epoch" in table_header(lines, "loader")
    assert set(result["s_per_epoch"]) == {"plugin (not persistent)", "fairseq default (persistent)"}
    assert result["epochs"] == 2
