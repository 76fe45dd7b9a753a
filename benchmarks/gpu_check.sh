#!/usr/bin/env bash
# Paper-scale throughput of one Wav2Prompt training update, measured on one GPU:
# `wav2prompt_base` (12-layer Conformer, width 512) in front of a randomly initialised
# LLaMA-2-7B-shaped LLM (hidden 4096, 32 layers, 32 heads, FFN 11008, vocab 32000) frozen
# in bf16, trained with the LibriSpeech recipe's settings on fabricated 80-dim fbank
# features of LibriSpeech-like lengths (10-20 s), then decoded with beam 5 and
# repetition penalty 1.5. Prints s/update, audio seconds per second, peak GPU memory,
# MFU and decoding tokens/s as a table and one JSON line (also $OUT/gpu_check.json when
# OUT is set). Nothing is downloaded: the LLM, its tokenizer and the data are built here.
#
#   bash benchmarks/gpu_check.sh [--quick] [--work-dir DIR] [--wheels DIR] [--<variable> VALUE ...]
#   bash benchmarks/gpu_check.sh --prepare-wheels DIR     # where PyPI is reachable (see below)
#
# --quick: the same steps on CPU (--cpu) with a tiny LLM (width 64, 2 layers, vocab still
# 32000), the Conformer at 2 layers of width 128 and a few 1-2 s utterances, so the script
# is known to work before a GPU is lent
# (tests/test_benchmarks.py::test_gpu_check_quick runs it).
#
# Python: the first of --python, ./.venv/bin/python, python3 that has torch (with CUDA,
# unless --quick). Packages it lacks are installed from a local wheel folder (--wheels DIR,
# or $W2P_WHEELS, or ./.whl when it exists) with `pip install --no-index --no-deps --target
# WORK/site` put on PYTHONPATH (not a new venv: on the lent H200 image python3 is itself a
# venv holding torch, which a venv made from it would not see). fairseq-fixed has no wheel
# on PyPI: its sdist in that folder is unpacked and only its Cython/C extensions are built
# in place (seconds; needs a C++ compiler, Cython and numpy). `--prepare-wheels DIR` fills
# such a folder for Python 3.12 x86-64 (the H200 image's python3) with what that image
# lacks, about 13 MB.
#
# Figures and where they come from:
# - s/update: fairseq's own `ups` in its `--log-format json` train_inner lines (one every
#   log_interval updates), the first interval (start-up, kernel selection) left out:
#   s/update = updates / sum(updates_i / ups_i) over the remaining intervals;
# - audio s/s: each fabricated utterance has n_frames = 100 * U / tokens_per_s frames for
#   its U LLM tokens, so a batch holds (wpb - bsz) / tokens_per_s seconds of audio
#   (wpb: target tokens incl. eos per update, bsz: utterances per update, both logged);
# - MFU: model FLOPs of the measured mean update (benchmarks/flops_model.py, forward +
#   backward, without activation checkpointing's recompute) / s/update / peak_tflops;
#   peak_tflops 790 = the bf16 dense rate measured on the lent H200s (an 8192^3 GEMM ran
#   at 769-798 TFLOP/s; NVIDIA's datasheet says 989 for the H200 SXM);
# - peak GPU memory: torch.cuda.max_memory_allocated / max_memory_reserved of the
#   fairseq-train process (it runs in-process through fairseq_cli.train.cli_main, as the
#   fairseq-train console script does);
# - decoding tokens/s: fairseq-generate's closing "Translated N sentences (M tokens) in Xs"
#   (tokens of the best hypotheses, generation time only).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
script_start=$(date +%s)

quick=false
prepare_wheels=
work_dir=${TMPDIR:-/tmp}/w2p_gpu_check
python=
wheels=${W2P_WHEELS:-}
time_limit=540                      # seconds for the whole script; later steps are skipped past it
updates=50                          # training updates per variant
log_interval=10
variants="plain checkpointing"      # plain: as the recipe; checkpointing: + --llm-activation-checkpointing
train_utterances=1000               # more than updates x utterances per batch: one epoch, no epoch end
gen_utterances=24
gen_batch_size=8
min_seconds=10                      # utterance lengths, uniform
max_seconds=20
tokens_per_s=3.5                    # LLM tokens per second of audio: 2.7 words/s x 1.3 tokens/word
max_tokens=20000                    # the recipe's (fbank frames per batch)
batch_size_multiple=1               # fairseq's --required-batch-size-multiple, as the recipe sets it
lr=5e-4                             # the recipe's optimisation settings
warmup_updates=10000
clip_norm=5.0
mse_weight=1.0
qua_weight=1.0
mse_type=normalized
spec_augment="freq_mask_N=2,freq_mask_F=27,time_mask_N=2,time_mask_T=40,time_mask_p=1.0"
beam=5
repetition_penalty=1.5
max_len_b=60                        # a LibriSpeech transcript is ~45 LLaMA tokens
num_workers=4
peak_tflops=790
llm_hidden=4096
llm_layers=32
llm_heads=32
llm_ffn=11008
llm_vocab=32000
llm_max_positions=4096
tokenizer_pieces=3000               # the tokenizer is smaller than the LLM's vocab (the plugin accepts that)
encoder_layers=12                   # the speech encoder: wav2prompt_base's Conformer
encoder_dim=512
encoder_ffn=2048
encoder_heads=8
conv_channels=1024
wheel_python_version=3.12
wheel_packages="hydra-core==1.3.2 omegaconf==2.3.0 bitarray==3.12.3 editdistance==0.8.1 kaldi-native-fbank==1.23.0 soundfile==0.14.0"

for arg in "$@"; do if [ "$arg" = --quick ]; then quick=true; fi; done
if [ "$quick" = true ]; then  # CPU-sized defaults; options below still override them
  updates=4 log_interval=2 train_utterances=40 gen_utterances=3 gen_batch_size=3
  min_seconds=1 max_seconds=2 max_tokens=1000 max_len_b=8 num_workers=0 time_limit=780
  llm_hidden=64 llm_layers=2 llm_heads=2 llm_ffn=172 tokenizer_pieces=1000
  # wav2prompt_base's Conformer (rel_pos, kernel 31, 4x subsampling), at 2 layers of width 128
  encoder_layers=2 encoder_dim=128 encoder_ffn=256 encoder_heads=2 conv_channels=128
fi
while [ $# -gt 0 ]; do
  [ "$1" = --quick ] && { shift; continue; }
  name=${1#--}; name=${name//-/_}
  if [ "$name" = "$1" ] || [ $# -lt 2 ] || ! declare -p "$name" >/dev/null 2>&1; then
    echo "unknown option $1 (--quick, or any variable at the top of $0)" >&2; exit 1
  fi
  printf -v "$name" '%s' "$2"; shift 2
done

log() { echo "$(date '+%F %T') (gpu_check.sh:${BASH_LINENO[0]}, $(( $(date +%s) - script_start ))s) $*"; }
die() { log "ERROR: $*" >&2; exit 1; }
left() {  # seconds left of --time-limit (at least 1, for timeout)
  local s=$(( time_limit - ($(date +%s) - script_start) ))
  [ "$s" -gt 1 ] && echo "$s" || echo 1
}

# ---------------------------------------------------------------------------------
if [ -n "$prepare_wheels" ]; then  # run where PyPI is reachable; carry DIR to the GPU machine
  mkdir -p "$prepare_wheels"
  pip=(python3 -m pip)
  [ -x "$ROOT/.venv/bin/python" ] && pip=("$ROOT/.venv/bin/python" -m pip)
  # shellcheck disable=SC2086
  "${pip[@]}" download -q --no-deps --only-binary=:all: --python-version "$wheel_python_version" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d "$prepare_wheels" $wheel_packages
  "${pip[@]}" wheel -q --no-deps -w "$prepare_wheels" antlr4-python3-runtime==4.9.3  # sdist only: pure Python
  "${pip[@]}" download -q --no-deps --no-build-isolation -d "$prepare_wheels" fairseq-fixed==0.12.3.1  # sdist
  ls -l "$prepare_wheels"
  du -sh "$prepare_wheels"
  exit 0
fi

mkdir -p "$work_dir"
work_dir=$(cd "$work_dir" && pwd)
device=cuda; cpu_flag=()
if [ "$quick" = true ]; then device=cpu; cpu_flag=(--cpu); fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
declare -A step_seconds=()
step() {  # step NAME COMMAND...: timed; fails the script on failure
  local name=$1; shift
  local start; start=$(date +%s)
  log "step $name"
  "$@"
  step_seconds[$name]=$(( $(date +%s) - start ))
  log "step $name done in ${step_seconds[$name]}s"
}

# ---------------------------------------------------------------------------------
has_torch() {  # has_torch PY: torch importable (with CUDA unless --quick)
  "$1" -c "import torch, sys; sys.exit(0 if '$device' == 'cpu' or torch.cuda.is_available() else 1)" 2>/dev/null
}
missing_modules() {
  "$PY" - <<'PY' 2>/dev/null || echo "(python failed)"
import importlib
names = ["numpy", "transformers", "sentencepiece", "hydra", "omegaconf", "bitarray", "sacrebleu",
         "editdistance", "kaldi_native_fbank", "soundfile", "fairseq", "wav2prompt_plugin"]
missing = []
for name in names:
    try:
        importlib.import_module(name)
    except Exception as e:
        missing.append(f"{name}({type(e).__name__})")
print(" ".join(missing))
PY
}
build_fairseq() {  # fairseq from its sdist: its Python tree plus the 3 extensions fairseq-train needs
  local sdist=$1 src=$work_dir/fairseq_src
  rm -rf "$src"; mkdir -p "$src"
  tar xzf "$sdist" -C "$src" --strip-components=1
  (cd "$src" && timeout "$(left)" "$PY" - >"$work_dir/fairseq_build.log" 2>&1 <<'PY') \
    || { tail -n 30 "$work_dir/fairseq_build.log" >&2; die "building fairseq's extensions failed"; }
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
args = ["-std=c++11", "-O3"]
extensions = [
    Extension("fairseq.libbleu", ["fairseq/clib/libbleu/libbleu.cpp", "fairseq/clib/libbleu/module.cpp"],
              extra_compile_args=args),
    Extension("fairseq.data.data_utils_fast", ["fairseq/data/data_utils_fast.pyx"], language="c++",
              include_dirs=[numpy.get_include()], extra_compile_args=args),
    Extension("fairseq.data.token_block_utils_fast", ["fairseq/data/token_block_utils_fast.pyx"],
              language="c++", include_dirs=[numpy.get_include()], extra_compile_args=args),
]
setup(name="fairseq_extensions", ext_modules=cythonize(extensions, language_level=3, quiet=True),
      script_args=["build_ext", "--inplace", "-q"])
PY
  export PYTHONPATH="$src:$PYTHONPATH"
  log "fairseq from $sdist, extensions built in $src"
}
setup_python() {
  PY=
  for candidate in "$python" "$ROOT/.venv/bin/python" "$(command -v python3 || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && has_torch "$candidate"; then PY=$candidate; break; fi
  done
  [ -n "$PY" ] || die "no python with torch$([ $device = cuda ] && echo ' and CUDA') (tried --python, .venv/bin/python, python3)"
  log "python: $PY ($("$PY" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)'))"
  local missing; missing=$(missing_modules)
  if [ -n "$missing" ]; then
    [ -z "$wheels" ] && [ -d "$ROOT/.whl" ] && wheels=$ROOT/.whl
    [ -n "$wheels" ] || die "missing: $missing; give a wheel folder (--wheels DIR or W2P_WHEELS; --prepare-wheels DIR makes one)"
    log "missing: $missing; installing from $wheels"
    if compgen -G "$wheels/*.whl" >/dev/null; then
      "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$work_dir/site" "$wheels"/*.whl
      export PYTHONPATH="$work_dir/site:$PYTHONPATH"
    fi
    if ! "$PY" -c "import fairseq" 2>/dev/null; then
      local sdist; sdist=$(compgen -G "$wheels/fairseq_fixed-*.tar.gz" | head -1 || true)
      [ -n "$sdist" ] || die "no fairseq: put fairseq_fixed-0.12.3.1.tar.gz (or a wheel) in $wheels"
      build_fairseq "$sdist"
    fi
    missing=$(missing_modules)
    [ -z "$missing" ] || die "still missing after installing from $wheels: $missing"
  fi
  "$PY" -c "import fairseq, transformers; print('fairseq', fairseq.__version__, 'transformers', transformers.__version__)"
  if [ "$device" = cuda ]; then
    "$PY" -c "import torch; print(torch.cuda.get_device_name(), torch.version.cuda)"
    nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.sm --format=csv 2>/dev/null || true
  fi
}

# ---------------------------------------------------------------------------------
build_llm() {  # a random LLaMA of the given shape in bf16, built on the device (no fp32 copy)
  timeout "$(left)" "$PY" - "$work_dir/llm" "$device" "$llm_hidden" "$llm_layers" "$llm_heads" "$llm_ffn" "$llm_vocab" \
    "$llm_max_positions" "$tokenizer_pieces" <<'PY'
import json, os, random, shutil, sys, time
import sentencepiece as spm
import torch
from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

out, device = sys.argv[1], sys.argv[2]
hidden, layers, heads, ffn, vocab, positions, pieces = map(int, sys.argv[3:10])
shape = dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab, positions=positions, pieces=pieces)
stamp = os.path.join(out, "gpu_check_shape.json")
if os.path.exists(stamp) and json.load(open(stamp)) == shape:
    print(f"LLM already built in {out}")
    sys.exit(0)
shutil.rmtree(out, ignore_errors=True)
os.makedirs(os.path.join(out, "_spm"))
# a toy lexicon of pseudo-words with Zipf frequencies: with `pieces` BPE pieces, about 1.3
# pieces a word, as LLaMA-2's tokenizer gives on English
rng = random.Random(0)
cons = "b c d f g h j k l m n p r s t v w z ch sh th st tr pl".split()
vowels = "a e i o u ai ea ou".split()
lexicon = sorted({"".join(rng.choice(cons) + rng.choice(vowels) for _ in range(rng.choice([1, 1, 2, 2, 2, 3])))
                  + rng.choice(["", "", "n", "s", "t", "r"]) for _ in range(6000)})
rng.shuffle(lexicon)
json.dump(lexicon, open(os.path.join(out, "gpu_check_lexicon.json"), "w"))
weights = [1 / (i + 10) for i in range(len(lexicon))]
corpus = os.path.join(out, "_spm", "corpus.txt")
with open(corpus, "w") as f:
    for _ in range(3000):
        f.write(" ".join(rng.choices(lexicon, weights, k=30)) + "\n")
    f.write("Repeat the English text. Text: Repeat:\n" * 20)
spm.SentencePieceTrainer.train(
    input=corpus, model_prefix=os.path.join(out, "_spm", "sp"), vocab_size=pieces, model_type="bpe",
    unk_id=0, bos_id=1, eos_id=2, pad_id=-1, hard_vocab_limit=False, minloglevel=2)
shutil.copy(os.path.join(out, "_spm", "sp.model"), os.path.join(out, "tokenizer.model"))
shutil.rmtree(os.path.join(out, "_spm"))
tokenizer = LlamaTokenizer.from_pretrained(out, add_bos_token=True)  # LLaMA-2: unk 0, bos 1 (added), eos 2, no pad
tokenizer.save_pretrained(out)
assert len(tokenizer) <= vocab
config = LlamaConfig(
    vocab_size=vocab, hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
    num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=positions,
    rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, tie_word_embeddings=False, dtype="bfloat16")
start = time.time()
torch.manual_seed(0)
torch.set_default_dtype(torch.bfloat16)
with torch.device(device):
    model = LlamaForCausalLM(config)  # initialised in bf16 where it lives
if device == "cuda":
    torch.cuda.synchronize()
params = sum(p.numel() for p in model.parameters())
print(f"built {params / 1e9:.3f} B parameters ({next(model.parameters()).dtype}, {device}) "
      f"in {time.time() - start:.1f}s")
start = time.time()
model.save_pretrained(out)
print(f"saved in {time.time() - start:.1f}s; tokenizer {len(tokenizer)} pieces, LLM vocab {vocab}")
json.dump(shape, open(stamp, "w"))
PY
}

make_data() {  # fbank .npy features and manifests: train (train_utterances) and test (gen_utterances)
  timeout "$(left)" "$PY" - "$work_dir/data" "$work_dir/llm" "$train_utterances" "$gen_utterances" "$min_seconds" \
    "$max_seconds" "$tokens_per_s" <<'PY'
import csv, json, os, random, sys
import numpy as np
from wav2prompt_plugin.llm.loading import load_llm_tokenizer
from wav2prompt_plugin.llm.prompt_codec import encode_segment

out, llm = sys.argv[1], sys.argv[2]
n_train, n_test = int(sys.argv[3]), int(sys.argv[4])
low, high, rate = float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
tokenizer = load_llm_tokenizer(llm)  # what the plugin tokenizes transcripts with
lexicon = json.load(open(os.path.join(llm, "gpu_check_lexicon.json")))
weights = [1 / (i + 10) for i in range(len(lexicon))]
rng, nprng = random.Random(1), np.random.default_rng(1)
os.makedirs(os.path.join(out, "fbank"), exist_ok=True)
stats = {}
for split, count in (("train", n_train), ("test", n_test)):
    frames_all, tokens_all, words_all = [], [], []
    with open(os.path.join(out, f"{split}.tsv"), "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, quotechar=None)
        writer.writerow(["id", "audio", "n_frames", "tgt_text"])
        for i in range(count):
            goal = round(rng.uniform(low, high) * rate)  # LLM tokens of this utterance
            words = []
            while len(encode_segment(tokenizer, " ".join(words))) < goal:
                words += rng.choices(lexicon, weights)
            text = " ".join(words)
            tokens = len(encode_segment(tokenizer, text))
            frames = round(100 * tokens / rate)  # so that audio seconds = tokens / rate exactly
            name = f"{split}_{i}"
            feats = nprng.standard_normal((frames, 80), dtype=np.float32)
            np.save(os.path.join(out, "fbank", f"{name}.npy"), feats)
            writer.writerow([name, f"fbank/{name}.npy", frames, text])
            frames_all.append(frames); tokens_all.append(tokens); words_all.append(len(words))
    stats[split] = {"utterances": count, "mean_seconds": round(float(np.mean(frames_all)) / 100, 2),
                    "mean_tokens": round(float(np.mean(tokens_all)), 1),
                    "mean_words": round(float(np.mean(words_all)), 1), "hours": round(sum(frames_all) / 360000, 3)}
json.dump(stats, open(os.path.join(out, "stats.json"), "w"), indent=1)
print(json.dumps(stats))
PY
}

# fairseq-train / fairseq-generate in this process (as their console scripts run them), recording
# the process's peak memory when it exits
cat > "$work_dir/run_fairseq.py" <<'PY'
import atexit, json, resource, sys, time

which, report_path = sys.argv[1], sys.argv[2]
sys.argv = [f"fairseq-{which}"] + sys.argv[3:]
start = time.time()


def report():
    result = {"seconds": round(time.time() - start, 1),
              "max_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2)}
    try:
        import torch
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            result.update(device=torch.cuda.get_device_name(),
                          max_allocated_gib=round(torch.cuda.max_memory_allocated() / 2 ** 30, 2),
                          max_reserved_gib=round(torch.cuda.max_memory_reserved() / 2 ** 30, 2))
    except Exception as e:  # a report, not a failure
        result["error"] = repr(e)
    with open(report_path, "w") as f:
        json.dump(result, f)


atexit.register(report)
if which == "train":
    from fairseq_cli.train import cli_main
else:
    from fairseq_cli.generate import cli_main
cli_main()
PY

template() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['asr']['template'])" \
  "$ROOT/recipes/librispeech/conf/templates/llama2.json"; }

train_variant() {  # train_variant NAME [EXTRA ARGS...]: the recipe's wav2prompt stage, $updates updates
  local name=$1; shift
  local dir=$work_dir/exp_$name save=()
  rm -rf "$dir"; mkdir -p "$dir"
  [ "$name" = "$first_variant" ] || save=(--no-save)  # generation decodes the first variant's checkpoint
  local limit; limit=$(left)
  [ "$limit" -gt 30 ] || { log "variant $name skipped: ${limit}s left of --time-limit"; echo skipped >"$dir/status"; return 0; }
  if timeout "$limit" "$PY" "$work_dir/run_fairseq.py" train "$dir/memory.json" "$work_dir/data" \
      --user-dir "$ROOT/wav2prompt_plugin" --task wav2prompt --llm-path "$work_dir/llm" \
      --train-template "$(template)" --train-subset train --disable-validation "${cpu_flag[@]}" \
      --distributed-world-size 1 \
      --arch wav2prompt_base --encoder-layers "$encoder_layers" --encoder-embed-dim "$encoder_dim" \
      --encoder-ffn-embed-dim "$encoder_ffn" --encoder-attention-heads "$encoder_heads" \
      --conv-channels "$conv_channels" --llm-dtype bf16 --autocast-bf16 --spec-augment "$spec_augment" \
      --criterion wav2prompt --mse-weight "$mse_weight" --qua-weight "$qua_weight" --mse-type "$mse_type" \
      --optimizer adam --adam-betas "(0.9,0.98)" --lr "$lr" --lr-scheduler inverse_sqrt \
      --warmup-updates "$warmup_updates" --clip-norm "$clip_norm" --max-tokens "$max_tokens" \
      --required-batch-size-multiple "$batch_size_multiple" --max-update "$updates" --seed 1 \
      --save-dir "$dir" --no-epoch-checkpoints --save-interval-updates 0 \
      "${save[@]}" --log-format json --log-interval "$log_interval" --num-workers "$num_workers" "$@" \
      >"$dir/train.log" 2>&1; then
    echo ok >"$dir/status"
  else
    echo "failed (exit $?)" >"$dir/status"
    log "variant $name FAILED; the end of $dir/train.log:"; tail -n 25 "$dir/train.log" >&2
  fi
}

generate() {
  local dir=$work_dir/generate checkpoint=$work_dir/exp_$first_variant/checkpoint_last.pt
  rm -rf "$dir"; mkdir -p "$dir"
  [ -f "$checkpoint" ] || { log "generation skipped: no $checkpoint"; echo skipped >"$dir/status"; return 0; }
  local limit; limit=$(left)
  [ "$limit" -gt 20 ] || { log "generation skipped: ${limit}s left of --time-limit"; echo skipped >"$dir/status"; return 0; }
  if timeout "$limit" "$PY" "$work_dir/run_fairseq.py" generate "$dir/memory.json" "$work_dir/data" \
      --user-dir "$ROOT/wav2prompt_plugin" --task wav2prompt --llm-path "$work_dir/llm" \
      --path "$checkpoint" --gen-subset test "${cpu_flag[@]}" --beam "$beam" \
      --repetition-penalty "$repetition_penalty" --max-len-b "$max_len_b" --batch-size "$gen_batch_size" \
      --scoring wer --num-workers 0 >"$dir/generate.log" 2>&1; then
    echo ok >"$dir/status"
  else
    echo "failed (exit $?)" >"$dir/status"
    log "generation FAILED; the end of $dir/generate.log:"; tail -n 25 "$dir/generate.log" >&2
  fi
}

summarize() {
  local seconds_json="{"
  for k in "${!step_seconds[@]}"; do seconds_json+="\"$k\": ${step_seconds[$k]}, "; done
  seconds_json="${seconds_json%, }}"
  "$PY" - "$work_dir" "$ROOT/benchmarks" "$seconds_json" "$(( $(date +%s) - script_start ))" \
    "$updates" "$log_interval" "$tokens_per_s" "$peak_tflops" "$gen_utterances" "$device" "$variants" \
    "$encoder_layers $encoder_dim $encoder_ffn $conv_channels" <<'PY'
import json, os, re, sys

work, bench, step_seconds, total = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
updates, interval, rate, peak = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), float(sys.argv[8])
gen_requested, device, variants = int(sys.argv[9]), sys.argv[10], sys.argv[11].split()
sys.path.insert(0, bench)
sys.path.insert(0, os.path.dirname(bench))
from flops_model import BASE_ENCODER, llm_flops, utterance_flops

layers, width, ffn, channels = map(int, sys.argv[12].split())
encoder = dict(BASE_ENCODER, layers=layers, d=width, ffn=ffn, conv_channels=channels)
from wav2prompt_plugin.llm.loading import load_llm_tokenizer
from wav2prompt_plugin.data.templates import PromptTemplate
from wav2prompt_plugin.llm.prompt_codec import encode_prompt_segments


def read(path, default=None):
    return open(path).read().strip() if os.path.exists(path) else default


def log_lines(path, tag):
    out = []
    for line in (read(path, "") or "").splitlines():
        if f"| {tag} |" in line:
            try:
                out.append(json.loads(line.split(f"| {tag} |", 1)[1]))
            except ValueError:
                pass
    return out


llm_cfg = json.load(open(os.path.join(work, "llm", "config.json")))
llm = dict(d=llm_cfg["hidden_size"], layers=llm_cfg["num_hidden_layers"], heads=llm_cfg["num_attention_heads"],
           kv_heads=llm_cfg["num_key_value_heads"], ffn=llm_cfg["intermediate_size"], vocab=llm_cfg["vocab_size"])
tokenizer = load_llm_tokenizer(os.path.join(work, "llm"))
template = json.load(open(os.path.join(os.path.dirname(bench), "recipes/librispeech/conf/templates/llama2.json")))
prefix, postfix = PromptTemplate(template["asr"]["template"]).split({})
pre, post = encode_prompt_segments(tokenizer, prefix, postfix)
data = json.load(open(os.path.join(work, "data", "stats.json")))

result = {"device": device, "peak_tflops": peak, "updates_requested": updates, "variants": {},
          "data": data, "template_tokens": [len(pre), len(post)],
          "llm": dict(llm), "encoder": encoder, "step_seconds": step_seconds}
ok = True
for name in variants:
    exp = os.path.join(work, f"exp_{name}")
    status = read(os.path.join(exp, "status"), "not run")
    v = {"status": status}
    inner = log_lines(os.path.join(exp, "train.log"), "train_inner")
    summary = log_lines(os.path.join(exp, "train.log"), "train")
    counts = [int(r["num_updates"]) for r in inner]
    v["updates"] = int(summary[-1]["train_num_updates"]) if summary else (counts[-1] if counts else 0)
    timed = inner[1:]  # the first interval holds start-up and kernel selection
    if timed:
        steps = [b - a for a, b in zip(counts, counts[1:])]  # updates in each timed interval
        n = sum(steps)
        seconds = sum(k / float(r["ups"]) for k, r in zip(steps, timed))
        bsz = sum(float(r["bsz"]) for r in timed) / len(timed)
        wpb = sum(float(r["wpb"]) for r in timed) / len(timed)
        audio = (wpb - bsz) / rate  # audio seconds per update
        per_utt_s, tokens = audio / bsz, (wpb - bsz) / bsz
        parts = utterance_flops(round(100 * per_utt_s), round(tokens), llm=llm, enc=encoder, prefix=len(pre),
                                postfix=len(post), batch=bsz)
        names = ("subsampler", "conformer", "cif_predictor", "projector", "llm")
        model = bsz * sum(sum(parts[k]) for k in names)
        llm_part = bsz * sum(parts["llm"])
        recompute = bsz * parts["llm_recompute"][1] if name == "checkpointing" else 0.0
        s_per_update = seconds / n
        v.update(timed_updates=n, s_per_update=round(s_per_update, 4), utterances_per_update=round(bsz, 2),
                 target_tokens_per_update=round(wpb, 1), audio_s_per_update=round(audio, 1),
                 audio_s_per_s=float(f"{audio / s_per_update:.4g}"),
                 model_tflop_per_update=float(f"{model / 1e12:.4g}"), llm_share=round(llm_part / model, 4),
                 achieved_tflops=float(f"{model / s_per_update / 1e12:.4g}"),
                 mfu=float(f"{model / s_per_update / (peak * 1e12):.4g}"),
                 hfu=float(f"{(model + recompute) / s_per_update / (peak * 1e12):.4g}"),
                 final_loss=float(inner[-1].get("loss", "nan")))
    memory = json.loads(read(os.path.join(exp, "memory.json"), "{}"))
    v["peak_gpu_allocated_gib"] = memory.get("max_allocated_gib")
    v["peak_gpu_reserved_gib"] = memory.get("max_reserved_gib")
    v["peak_rss_gib"] = memory.get("max_rss_gib")
    v["process_seconds"] = memory.get("seconds")
    if memory.get("device"):
        result["gpu"] = memory["device"]
    ok &= status in ("ok", "skipped")
    result["variants"][name] = v

gen = {"status": read(os.path.join(work, "generate", "status"), "not run")}
text = read(os.path.join(work, "generate", "generate.log"), "") or ""
gen["hypotheses"] = sum(1 for line in text.splitlines() if line.startswith("H-"))
m = re.search(r"Translated ([\d,]+) sentences \(([\d,]+) tokens\) in ([\d.]+)s \(([\d.]+) sentences/s, "
              r"([\d.]+) tokens/s\)", text)
if m:
    gen.update(sentences=int(m.group(1).replace(",", "")), tokens=int(m.group(2).replace(",", "")),
               seconds=float(m.group(3)), sentences_per_s=float(m.group(4)), tokens_per_s=float(m.group(5)))
memory = json.loads(read(os.path.join(work, "generate", "memory.json"), "{}"))
gen["peak_gpu_allocated_gib"] = memory.get("max_allocated_gib")
gen["beam"], gen["requested"] = 5, gen_requested
ok &= gen["status"] in ("ok", "skipped")
result["generate"] = gen
result["total_seconds"] = total
result["ok"] = bool(ok)
result["llm"]["params"] = llm["layers"] * (4 * llm["d"] ** 2 + 3 * llm["d"] * llm["ffn"]) + 2 * llm["d"] * llm["vocab"]

print()
print(f"device {result.get('gpu', device)}; LLM {result['llm']['params'] / 1e9:.2f} B parameters, bf16; "
      f"train data {data['train']['utterances']} utterances, mean {data['train']['mean_seconds']} s, "
      f"{data['train']['mean_tokens']} tokens ({data['train']['mean_words']} words); MFU against {peak:.0f} TFLOP/s")
print()
header = ["variant", "status", "updates", "s/update", "utt/update", "audio s/s", "TFLOP/update", "TFLOP/s",
          "MFU", "peak alloc GiB", "peak reserved GiB"]
rows = [header]
for name, v in result["variants"].items():
    g = lambda k, f="{}": f.format(v[k]) if v.get(k) is not None else "-"  # noqa: E731
    rows.append([name, v["status"], str(v["updates"]), g("s_per_update", "{:.3f}"), g("utterances_per_update", "{:.1f}"),
                 g("audio_s_per_s", "{:.0f}"), g("model_tflop_per_update", "{:.2f}"), g("achieved_tflops", "{:.1f}"),
                 g("mfu", "{:.1%}"), g("peak_gpu_allocated_gib"), g("peak_gpu_reserved_gib")])
widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
for i, r in enumerate(rows):
    print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    if i == 0:
        print("  ".join("-" * w for w in widths))
print()
rows = [["decoding", "status", "hypotheses", "tokens", "seconds", "tokens/s", "peak alloc GiB"],
        [f"beam {gen['beam']}, rep. penalty 1.5", gen["status"], str(gen["hypotheses"]), str(gen.get("tokens", "-")),
         str(gen.get("seconds", "-")), str(gen.get("tokens_per_s", "-")), str(gen.get("peak_gpu_allocated_gib") or "-")]]
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for i, r in enumerate(rows):
    print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    if i == 0:
        print("  ".join("-" * w for w in widths))
print()
print("step seconds: " + ", ".join(f"{k} {v}" for k, v in step_seconds.items()) + f"; total {total}")
text = json.dumps(result, sort_keys=True)
if os.environ.get("OUT"):  # the device tool brings $OUT back: the figures and the logs
    with open(os.path.join(os.environ["OUT"], "gpu_check.json"), "w") as f:
        f.write(text + "\n")
    for name, path in [(f"train_{v}.log", os.path.join(work, f"exp_{v}", "train.log")) for v in variants] + [
            ("generate.log", os.path.join(work, "generate", "generate.log"))]:
        if os.path.exists(path):
            with open(path, errors="replace") as src, open(os.path.join(os.environ["OUT"], name), "w") as dst:
                dst.write(src.read()[-4_000_000:])
with open(os.path.join(work, "gpu_check.json"), "w") as f:
    f.write(text + "\n")
print(text)
sys.exit(0 if ok else 1)
PY
}

# ---------------------------------------------------------------------------------
log "work dir $work_dir; device $device; updates $updates; variants: $variants; time limit ${time_limit}s"
first_variant=${variants%% *}
step setup setup_python
step build_llm build_llm
step make_data make_data
for variant in $variants; do
  case "$variant" in
    plain) step "train_$variant" train_variant plain ;;
    checkpointing) step "train_$variant" train_variant checkpointing --llm-activation-checkpointing ;;
    *) die "unknown variant $variant (plain | checkpointing)" ;;
  esac
done
step generate generate
summarize
