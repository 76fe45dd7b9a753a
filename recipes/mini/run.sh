#!/usr/bin/env bash
# The Wav2Prompt paper in miniature, on a CPU: a text world, a tiny LLaMA trained
# on text only, espeak-ng speech, Wav2Prompt trained on ASR data only, and
# zero-shot evaluation of every task the LLM knows from text.
#
#   bash recipes/mini/run.sh [--size smoke|default] [--stage N] [--stop-stage N]
#
# Each stage skips work whose output exists (delete the output to redo it).
set -euo pipefail
cd "$(dirname "$0")"

size=default        # smoke: every stage end to end in minutes; default: the figures in README.md
stage=1
stop_stage=7
seed=1
jobs=2              # espeak-ng processes
init_encoder=true   # initialise the Wav2Prompt encoder from a CTC encoder trained on the same ASR data
# encoder: fairseq S2T Transformer, 3 conv layers (8x subsampling, 12.5 frames/s: a CPU budget)
encoder=(--conv-kernel-sizes 3,3,3)
spec_augment="freq_mask_N=2,freq_mask_F=12,time_mask_N=2,time_mask_T=15,time_mask_p=0.2"

while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --init-encoder) init_encoder=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done

case "$size" in
  smoke)   ctc_updates=60;   w2p_updates=80;   max_tokens=6000;  log_interval=5 ;;
  default) ctc_updates=700;  w2p_updates=900;  max_tokens=12000; log_interval=20 ;;
  *) echo "unknown --size $size (smoke|default)" >&2; exit 1 ;;
esac

data=data/$size
exp=exp/$size
tasks=conf/tasks.json
asr_template=$(python -c "import json; print(json.load(open('$tasks'))['asr']['template'])")
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2 PYTHONHASHSEED=$seed
mkdir -p "$data" "$exp"

log() { echo "$(date '+%F %T') (run.sh:${BASH_LINENO[0]}) $*"; }

run_stage() {  # run_stage N name command...: timed, recorded in $exp/stage_seconds.json
  local n=$1 name=$2; shift 2
  if [ "$stage" -le "$n" ] && [ "$stop_stage" -ge "$n" ]; then
    log "stage $n: $name"
    local start=$(date +%s.%N)
    "$@"
    local seconds=$(python -c "print(round($(date +%s.%N) - $start, 1))")
    python - "$exp/stage_seconds.json" "$n. $name" "$seconds" <<'PY'
import json, os, sys
path, name, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
times = json.load(open(path)) if os.path.exists(path) else {}
if seconds >= 1 or name not in times:  # a stage that found its output keeps its earlier time
    times[name] = seconds
json.dump(dict(sorted(times.items())), open(path, "w"), indent=2)
PY
    log "stage $n: $name done in ${seconds}s"
  fi
}

world() {
  [ -f "$data/world/sentences.tsv" ] || python local/make_world.py --out "$data/world" --size "$size" --seed "$seed"
}

llm() {
  [ -f "$exp/llm/model.safetensors" ] || python local/train_llm.py --world "$data/world" \
    --tasks "$tasks" --out "$exp/llm" --size "$size" --seed "$seed"
}

speech() {
  [ -f "$data/speech/test.tsv" ] || python local/synthesize.py --sentences "$data/world/sentences.tsv" \
    --out "$data/speech" --size "$size" --seed "$seed" --jobs "$jobs"
}

fairseq_train() {  # fairseq_train SAVE_DIR UPDATES ARGS...: skipped once SAVE_DIR/checkpoint_last.pt
  local save_dir=$1 updates=$2; shift 2
  [ -f "$save_dir/done" ] && return 0
  mkdir -p "$save_dir"
  fairseq-train "$data/speech" --user-dir ../../wav2prompt_plugin --task wav2prompt \
    --llm-path "$exp/llm" --train-subset train --valid-subset dev --seed "$seed" \
    --optimizer adam --adam-betas "(0.9,0.98)" --lr-scheduler inverse_sqrt --clip-norm 5.0 \
    --max-tokens "$max_tokens" --max-update "$updates" --required-batch-size-multiple 1 \
    --save-dir "$save_dir" --no-epoch-checkpoints --save-interval-updates 200 \
    --keep-interval-updates 1 --validate-interval-updates 200 --validate-interval 1000 \
    --log-format json --log-interval "$log_interval" --log-file "$save_dir/train.log" \
    --num-workers 1 --cpu --spec-augment "$spec_augment" "${encoder[@]}" "$@"
  touch "$save_dir/done"
}

encoder_init() {
  fairseq_train "$exp/ctc" "$ctc_updates" --arch speech_encoder_ctc_tiny \
    --criterion speech_encoder_ctc --lr 2e-3 --warmup-updates 150 --dropout 0.1
}

wav2prompt() {
  local init=()
  if [ "$init_encoder" = true ]; then init=(--encoder-init-checkpoint "$exp/ctc/checkpoint_last.pt"); fi
  fairseq_train "$exp/wav2prompt" "$w2p_updates" --arch wav2prompt_tiny "${init[@]}" \
    --train-template "$asr_template" --criterion wav2prompt --mse-weight 1.0 --qua-weight 1.0 \
    --mse-type normalized --lr 1e-3 --warmup-updates 100 --dropout 0.1
}

evaluate() {
  [ -f "$exp/eval/results.json" ] || wav2prompt-eval --checkpoint "$exp/wav2prompt/checkpoint_last.pt" \
    --llm-path "$exp/llm" --manifest "$data/speech/test.tsv" --tasks-file "$tasks" \
    --systems text_topline,wav2prompt --out "$exp/eval"
}

report() {
  python local/report.py --exp "$exp" --size "$size"
}

run_stage 1 world world
run_stage 2 llm llm
run_stage 3 speech speech
if [ "$init_encoder" = true ]; then run_stage 4 encoder_init encoder_init; fi
run_stage 5 wav2prompt wav2prompt
run_stage 6 evaluate evaluate
run_stage 7 report report
