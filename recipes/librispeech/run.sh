#!/usr/bin/env bash
# Wav2Prompt at the paper's scale: LibriSpeech 960 h ASR data, a frozen 7B LLM
# (LLaMA-2-7B or BLOOMZ-7B1) in bf16, multi-GPU training (torchrun starting
# fairseq-train ranks through wav2prompt-train), zero-shot evaluation on spoken translation, intent and
# question answering, and few-shot end-to-end fine-tuning.
#
#   bash recipes/librispeech/run.sh [--stage N] [--stop-stage N] [--<variable> VALUE ...]
#
# Every variable below can be overridden on the command line (--llm-path /models/bloomz-7b1
# --llm-family bloomz --gpus-per-node 4 ...). Each stage skips work whose output exists.
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=6

# --- corpora (local copies; leave a path empty to skip that corpus) -----------------
librispeech_root=/data/LibriSpeech          # train-clean-100/ ... test-other/
europarl_st_root=                           # Europarl-ST v1.1: holds en/audios, en/fr, en/es
mustc_root=                                 # MuST-C v1.0: holds en-fr/, en-es/ (second ST option)
slurp_dataset=                              # SLURP dataset/slurp (test.jsonl, devel.jsonl)
slurp_audio=                                # SLURP slurp_real/ recordings
heysquad_parquet=                           # glob of HeySQuAD_human validation-*.parquet
llama_questions_parquet=                    # glob of LLaMA-Questions test-*.parquet
add_europarl_asr=false                      # NAACL version: add Europarl-ST English ASR (train) to training
convert_cmd="ffmpeg -nostdin -loglevel error -y -i {src} -ac 1 -ar 16000 {dst}"  # Europarl-ST m4a -> flac

# --- the frozen LLM --------------------------------------------------------------
llm_path=/models/llama-2-7b-hf              # save_pretrained layout, never downloaded
llm_family=llama2                           # prompt templates: conf/templates/<family>.json (llama2 | bloomz)
llm_dtype=bf16                              # the frozen LLM's weights: bf16 | fp32 | auto (its saved dtype)

data=data
exp=exp/$llm_family

# --- model and loss --------------------------------------------------------------
arch=wav2prompt_base                        # 12-layer Conformer, width 512, 4x subsampling
ctc_arch=speech_encoder_ctc_base            # same encoder with a CTC head, for initialisation
init_encoder=true                           # initialise the encoder from an ASR encoder (stage 1)
encoder_init_checkpoint=                    # empty: stage 1's CTC model; or any fairseq S2T ASR checkpoint
mse_weight=1.0
qua_weight=1.0
mse_type=normalized                         # normalized | plain (the paper's MSE)
llm_free_updates=0                          # the first N updates without the LLM (not the paper's; benchmarks/README.md)
spec_augment="freq_mask_N=2,freq_mask_F=27,time_mask_N=2,time_mask_T=40,time_mask_p=1.0"

# --- optimisation (per GPU; tokens are 10 ms fbank frames) -----------------------
precision=bf16                              # bf16: the trained part under bf16 autocast (fp32 weights, fp32 losses)
                                            # fp32: no autocast (fairseq's --bf16/--fp16 cast the LLM: refused)
max_tokens=20000
batch_multiple=1                            # --required-batch-size-multiple: 8 fills 12-25 s batches to 64 %, 1 to 96 %
update_freq=1
lr=5e-4
warmup_updates=10000
max_update=150000
clip_norm=5.0
ctc_lr=2e-3
ctc_max_update=60000
save_interval_updates=5000
log_interval=100
num_workers=4
seed=1
# e.g. extra_train_args="--llm-activation-checkpointing" (less memory, about one more LLM forward)
extra_train_args=""

# --- distributed training: torchrun starts gpus_per_node ranks on each node --------
# --- (nnodes > 1: run this script on every node with its --node-rank)
nnodes=1
gpus_per_node=8                             # ranks per node (with cpu=true: CPU processes)
node_rank=0
master_addr=localhost
master_port=29500
cpu=false                                   # true: no GPU, ranks over gloo with legacy_ddp (tests and smoke runs)

# --- the paper's baselines (stage 3): the ASR -> LLM cascade and the Encoder-LLM ---
# On by default: the paper's claims are comparisons with them (Wav2Prompt near the cascade zero-shot,
# the Encoder-LLM far below it on translation, few-shot Wav2Prompt above it). Their cost: a second
# run of stage 2's size (the Encoder-LLM, the same LLM forward and backward) and a small ASR model.
# false: Wav2Prompt and the text topline alone (the report then says "not measured" for the claims).
run_baselines=true
encoder_llm_arch=                           # empty: the Encoder-LLM of --arch's encoder (wav2prompt_X -> encoder_llm_X),
                                            # so that stage 1's CTC encoder initialises it too
asr_arch=s2t_conformer                      # the cascade's ASR: fairseq's own S2T Conformer
asr_vocab_size=10000                        # its SentencePiece unigram vocabulary (fairseq's LibriSpeech recipe)
asr_max_len_b=200                           # its hypotheses' length limit in tokens (fairseq-generate --max-len-b)

# --- decoding (the paper: beam 5, repetition penalty 1.5) -------------------------
beam=5
repetition_penalty=1.5
max_len_b=200
eval_batch_size=16
# comma-separated; empty: every system the recipe trains (text_topline, wav2prompt, and with
# run_baselines=true cascade and encoder_llm); each speech system scored with its own checkpoint
eval_systems=
# End each hypothesis at its first line break (wav2prompt-eval --stop-at-newline): true | false | auto.
# auto: on for base LLMs (llama2: a base LLaMA-2 was never taught to stop after an answer and goes on
# with a next "English: ... French: ..." line until max_len_b), off for bloomz: BLOOMZ is fine-tuned on
# xP3, whose prompts' answers end with </s>, so it stops by itself, as the paper decoded it, and a line
# break inside its answer stays part of the answer.
stop_at_newline=auto

# --- few-shot end-to-end fine-tuning (stage 5) -------------------------------------
fewshot_tasks="st_fr st_es"                 # Europarl-ST train subsets, speech -> translation
fewshot_sizes="100 1000"                    # utterances per subset (our choice)
# The miniature recipe's schedule (recipes/mini/RESULTS.md, "Few-shot schedule": 120 updates of about 50
# pairs, i.e. 12,000 frames of ~2.4 s utterances, on 100 and on 500 pairs; peak lr 1e-4 warmed up over
# 10 updates, then falling linearly to ~0; more updates or a higher peak lost what it gained), scaled to
# the pool and to this batch: the same number of epochs over the pool as the mini recipe gives it
# (fewshot_examples / pairs, i.e. about 6,000 pair presentations), so
#   updates = ceil(fewshot_examples / pairs) x ceil(pairs / pairs_per_update),
#   pairs_per_update = ranks x update_freq x floor(max_tokens / the pool's mean n_frames)
# (padding not counted): 8 GPUs, 20k frames, Europarl-ST segments of ~9 s: 176 pairs per update,
# 60 updates on 100 pairs (one update an epoch), 36 on 1,000. A number here overrides it.
fewshot_max_update=
fewshot_examples=6000
fewshot_lr=1e-4
fewshot_warmup_updates=10
fewshot_end_lr=1e-7
fewshot_save_interval_updates=20           # validate on the few-shot dev set (and save) every N updates

source ../shared/parse_options.sh "$@"

templates=conf/templates/$llm_family.json
[ -f "$templates" ] || { echo "no templates for --llm-family $llm_family ($templates)" >&2; exit 1; }
template() { python -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]['template'])" "$templates" "$1"; }
target() { python -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]['target'])" "$templates" "$1"; }
asr_template=$(template asr)
case "$stop_at_newline" in
  auto) if [ "$llm_family" = bloomz ]; then stop_at_newline=false; else stop_at_newline=true; fi ;;
  true|false) ;;
  *) echo "unknown --stop-at-newline $stop_at_newline (true|false|auto)" >&2; exit 1 ;;
esac
if [ -z "$eval_systems" ]; then
  eval_systems=text_topline,wav2prompt
  [ "$run_baselines" = true ] && eval_systems=text_topline,cascade,wav2prompt,encoder_llm
fi
export HF_HUB_OFFLINE=1
mkdir -p "$data" "$exp"

source ../shared/stages.sh

# ---------------------------------------------------------------------------------
prepare() {  # each corpus is prepared once (delete its manifests to redo it)
  [ -f "$data/librispeech/test-other.tsv" ] || python local/prepare_librispeech.py \
    --root "$librispeech_root" --out "$data/librispeech"
  local train=("$data/librispeech/train-960.tsv")
  if [ -n "$europarl_st_root" ]; then
    local asr_splits="" splits="dev,test"
    [ "$add_europarl_asr" = true ] && asr_splits=train
    [ -n "$fewshot_sizes" ] && splits="train,dev,test"
    [ -f "$data/europarl_st/en-es_test.tsv" ] || python local/prepare_europarl_st.py \
      --root "$europarl_st_root" --out "$data/europarl_st" --tgts fr,es --splits "$splits" \
      --asr-splits "$asr_splits" --convert-cmd "$convert_cmd"
    [ "$add_europarl_asr" = true ] && train+=("$data/europarl_st/asr_train.tsv")
  fi
  if [ -n "$mustc_root" ] && [ ! -f "$data/mustc/mustc_en-es_tst-COMMON.tsv" ]; then
    python local/prepare_mustc.py --root "$mustc_root" --out "$data/mustc" --tgts fr,es --splits tst-COMMON
  fi
  if [ -n "$slurp_dataset" ] && [ ! -f "$data/slurp/slurp_test.tsv" ]; then
    python local/prepare_slurp.py --dataset "$slurp_dataset" --audio "$slurp_audio" --out "$data/slurp" --splits test
  fi
  if [ -n "$heysquad_parquet" ] && [ ! -f "$data/spoken_qa/heysquad_validation.tsv" ]; then
    python local/prepare_spoken_qa.py --set heysquad --parquet "$heysquad_parquet" --split validation \
      --out "$data/spoken_qa"
  fi
  if [ -n "$llama_questions_parquet" ] && [ ! -f "$data/spoken_qa/llama_questions_test.tsv" ]; then
    python local/prepare_spoken_qa.py --set llama_questions --parquet "$llama_questions_parquet" \
      --split test --out "$data/spoken_qa"
  fi
  # the training directory: train.tsv (+ Europarl-ST English ASR data) and dev.tsv (dev-clean)
  python local/combine_manifests.py --out "$data/train/train.tsv" "${train[@]}"
  python local/combine_manifests.py --out "$data/train/dev.tsv" "$data/librispeech/dev-clean.tsv"
}

train_launcher() {  # the training command line for this machine / cluster
  # torchrun on one node and on several; wav2prompt-train turns the ranks it sets
  # into fairseq-train's --distributed-* options (fairseq's own spawn counts CUDA devices)
  local ranks=$((nnodes * gpus_per_node))
  if [ "$ranks" -gt 1 ]; then
    echo torchrun --nnodes "$nnodes" --nproc_per_node "$gpus_per_node" --node_rank "$node_rank" \
      --master_addr "$master_addr" --master_port "$master_port" "$(command -v wav2prompt-train)"
  else
    echo wav2prompt-train
  fi
  # fairseq's pytorch_ddp passes device_ids, which torch refuses for CPU modules
  [ "$cpu" = true ] && echo --cpu --ddp-backend legacy_ddp --distributed-backend gloo
  return 0
}

precision_args() {  # the plugin's models (wav2prompt, encoder_llm, speech_encoder_ctc)
  case "$precision" in
    bf16) echo --autocast-bf16 ;;
    fp32) ;;
    *) echo "unknown --precision $precision (bf16|fp32)" >&2; exit 1 ;;
  esac
}

fairseq_precision_args() {  # fairseq's own s2t_conformer (cascade ASR): its loss-scaled fp16 on GPUs
  [ "$precision" = fp32 ] || [ "$cpu" = true ] || echo --fp16
}

# Validation and checkpoints every INTERVAL updates only (and at the last update, where fairseq_cli/train.py
# stops: it validates and saves then whatever the intervals): fairseq also validates and saves at the end of
# every epoch unless --validate-interval / --save-interval (in epochs) say otherwise, which at the few-shot
# sizes (an epoch of 1-7 updates) would validate at nearly every update.
every_n_updates() {  # every_n_updates INTERVAL
  echo --save-interval-updates "$1" --keep-interval-updates 1 --validate-interval-updates "$1" \
    --save-interval 1000000 --validate-interval 1000000
}

# fairseq_train DATA SAVE_DIR MAX_UPDATE ARGS...: skipped once SAVE_DIR/done. The learning rate warms up,
# then follows inverse_sqrt, or with decay=true falls linearly to end_lr at the last update;
# interval=N validates and saves every N updates (default save_interval_updates).
fairseq_train() {
  local data_dir=$1 save_dir=$2 updates=$3; shift 3
  [ -f "$save_dir/done" ] && return 0
  mkdir -p "$save_dir"
  local schedule=(--lr-scheduler inverse_sqrt)
  if [ "${decay:-false}" = true ]; then
    schedule=(--lr-scheduler polynomial_decay --total-num-update "$updates" --end-learning-rate "${end_lr:-1e-7}")
  fi
  # shellcheck disable=SC2046
  $(train_launcher) "$data_dir" --task wav2prompt \
    --llm-path "$llm_path" $(precision_args) --seed "$seed" \
    --optimizer adam --adam-betas "(0.9,0.98)" "${schedule[@]}" --clip-norm "$clip_norm" \
    --max-tokens "$max_tokens" --required-batch-size-multiple "$batch_multiple" \
    --update-freq "$update_freq" --max-update "$updates" --save-dir "$save_dir" --no-epoch-checkpoints \
    $(every_n_updates "${interval:-$save_interval_updates}") \
    --log-format json --log-interval "$log_interval" --log-file "$save_dir/train.log" \
    --num-workers "$num_workers" "$@" $extra_train_args
  touch "$save_dir/done"
}

encoder_init() {
  [ "$init_encoder" = true ] && [ -z "$encoder_init_checkpoint" ] || return 0
  fairseq_train "$data/train" "$exp/ctc" "$ctc_max_update" --train-subset train --valid-subset dev \
    --arch "$ctc_arch" --criterion speech_encoder_ctc --lr "$ctc_lr" --warmup-updates "$warmup_updates" \
    --spec-augment "$spec_augment"
}

init_args=()
if [ "$init_encoder" = true ]; then
  init_args=(--encoder-init-checkpoint "${encoder_init_checkpoint:-$exp/ctc/checkpoint_best.pt}")
fi

wav2prompt() {
  fairseq_train "$data/train" "$exp/wav2prompt" "$max_update" --train-subset train --valid-subset dev \
    --arch "$arch" --llm-dtype "$llm_dtype" "${init_args[@]}" --train-template "$asr_template" --spec-augment "$spec_augment" \
    --criterion wav2prompt --mse-weight "$mse_weight" --qua-weight "$qua_weight" --mse-type "$mse_type" \
    --llm-free-updates "$llm_free_updates" --lr "$lr" --warmup-updates "$warmup_updates"
}

baselines() {  # the ASR -> LLM cascade and the Encoder-LLM (paper's baselines; --run-baselines false: none)
  [ "$run_baselines" = true ] || { log "baselines skipped (--run-baselines true to run them)"; return 0; }
  if ! python -c "import wav2prompt_plugin; from fairseq.models import ARCH_MODEL_REGISTRY as A; \
      assert 'encoder_llm' in A" 2>/dev/null; then
    log "baselines skipped: this checkout has no encoder_llm model"; return 0
  fi
  # Encoder-LLM: the same encoder, frame stacking and a projection into the LLM, CE only
  fairseq_train "$data/train" "$exp/encoder_llm" "$max_update" --train-subset train --valid-subset dev \
    --arch "${encoder_llm_arch:-${arch/wav2prompt/encoder_llm}}" --llm-dtype "$llm_dtype" "${init_args[@]}" --train-template "$asr_template" --spec-augment "$spec_augment" \
    --criterion wav2prompt --mse-weight 0 --qua-weight 0 --lr "$lr" --warmup-updates "$warmup_updates"
  # cascade ASR: fairseq's own speech_to_text task and s2t_conformer on a SentencePiece vocabulary,
  # on the same ASR data (data/asr, local/prepare_asr.py), then its hypotheses of every test set
  cascade_data
  if [ ! -f "$exp/asr/done" ]; then
    mkdir -p "$exp/asr"
    # shellcheck disable=SC2046
    $(train_launcher) "$data/asr" --task speech_to_text --config-yaml config.yaml --arch "$asr_arch" \
      --share-decoder-input-output-embed --train-subset train --valid-subset dev --seed "$seed" \
      --criterion label_smoothed_cross_entropy --label-smoothing 0.1 \
      --optimizer adam --adam-betas "(0.9,0.98)" --lr 2e-3 --lr-scheduler inverse_sqrt \
      --warmup-updates "$warmup_updates" --clip-norm 10.0 --max-tokens "$max_tokens" \
      --required-batch-size-multiple "$batch_multiple" --update-freq "$update_freq" --max-update "$max_update" \
      $(fairseq_precision_args) --save-dir "$exp/asr" --no-epoch-checkpoints $(every_n_updates "$save_interval_updates") \
      --log-format json --log-interval "$log_interval" --log-file "$exp/asr/train.log" --num-workers "$num_workers"
    touch "$exp/asr/done"
  fi
  cascade_decode
}

cascade_data() {  # data/asr: fbank in fairseq's zip layout, SentencePiece vocabulary, config.yaml (once:
  # delete data/asr/config.yaml to redo it, e.g. after preparing another test set)
  [ -f "$data/asr/config.yaml" ] && return 0
  local task manifest tests=()
  while read -r task manifest; do
    [ -f "$manifest" ] && tests+=(--test "$task=$manifest")
  done < <(eval_sets)
  python local/prepare_asr.py --out "$data/asr" --train "$data/train/train.tsv" --dev "$data/train/dev.tsv" \
    "${tests[@]}" --vocab-size "$asr_vocab_size" --spec-augment "$spec_augment"
}

cascade_decode() {  # the ASR's hypotheses of every test set (data/asr/test.tsv), grouped for wav2prompt-eval
  [ -f "$exp/asr/hyps/groups.txt" ] && return 0
  local device=()
  [ "$cpu" = true ] && device=(--cpu)
  # fairseq's S2T checkpoints pickle an argparse.Namespace, which torch>=2.6 refuses by default;
  # fairseq drops a last batch short of --required-batch-size-multiple (default 8): 1 keeps every row
  TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 wav2prompt-generate "$data/asr" --task speech_to_text \
    --config-yaml config.yaml --gen-subset test --path "$exp/asr/checkpoint_best.pt" --beam "$beam" \
    --max-len-b "$asr_max_len_b" --max-tokens "$max_tokens" --required-batch-size-multiple 1 \
    --num-workers "$num_workers" --scoring wer --results-path "$exp/asr/generate" "${device[@]}"
  tail -n 1 "$exp/asr/generate/generate-test.txt"
  python ../mini/local/asr_hypotheses.py --generate-output "$exp/asr/generate/generate-test.txt" \
    --manifest "$data/asr/test.tsv" --out "$exp/asr/asr_hyps.tsv"
  python local/cascade_hypotheses.py --hyps "$exp/asr/asr_hyps.tsv" --manifest "$data/asr/test.tsv" \
    --out "$exp/asr/hyps"
}

# task name -> the manifest it is scored on; a set whose manifest is missing is skipped.
# The CIF length figures are measured on LibriSpeech test-clean.
eval_sets() {
  echo "st_fr $data/europarl_st/en-fr_test.tsv"
  echo "st_es $data/europarl_st/en-es_test.tsv"
  echo "st_fr_mustc $data/mustc/mustc_en-fr_tst-COMMON.tsv"
  echo "st_es_mustc $data/mustc/mustc_en-es_tst-COMMON.tsv"
  echo "intent $data/slurp/slurp_test.tsv"
  echo "sqa $data/spoken_qa/heysquad_validation.tsv"
  echo "sqqa $data/spoken_qa/llama_questions_test.tsv"
  echo "asr_other $data/librispeech/test-other.tsv"
  echo "asr $data/librispeech/test-clean.tsv"
}

# score OUT SYSTEM CHECKPOINT NAME TASKS [ARGS...]: one wav2prompt-eval of SYSTEM (with CHECKPOINT if
# not empty, under NAME) over every set of TASKS; ARGS go to wav2prompt-eval
score() {
  local out=$1 system=$2 checkpoint=$3 name=$4 tasks=${5//,/ } device=cuda
  shift 5
  [ "$cpu" = true ] && device=cpu
  local done_marker
  done_marker=$out/.done.$name.$(echo $tasks | tr ' ' '+')
  [ -f "$done_marker" ] && return 0
  local task manifest chosen=() sets=()
  while read -r task manifest; do
    [[ " $tasks " == *" $task "* ]] || continue
    [ -f "$manifest" ] || { log "no $manifest: $task skipped"; continue; }
    chosen+=("$task"); sets+=(--task-manifest "$task=$manifest")
  done < <(eval_sets)
  [ ${#chosen[@]} -gt 0 ] || { log "no test set for $tasks"; return 0; }
  local model=() manifest_args=() stop=()
  [ -n "$checkpoint" ] && model=(--checkpoint "$checkpoint")
  # the prompt-length (and, for wav2prompt, CIF and confidence) figures on test-clean; the cascade has
  # hypotheses of test-clean only in the group that scores asr
  if [ "$system" != cascade ] || [[ " $tasks " == *" asr "* ]]; then
    manifest_args=(--manifest "$data/librispeech/test-clean.tsv")
  fi
  [ "$stop_at_newline" = true ] && stop=(--stop-at-newline)
  wav2prompt-eval "${model[@]}" --llm-path "$llm_path" --llm-dtype "$llm_dtype" \
    "${manifest_args[@]}" "${sets[@]}" --tasks-file "$templates" \
    --tasks "$(IFS=,; echo "${chosen[*]}")" --systems "$system" --name "$name" --out "$out" \
    --beam "$beam" --repetition-penalty "$repetition_penalty" --max-len-b "$max_len_b" \
    --batch-size "$eval_batch_size" --device "$device" "${stop[@]}" "$@"
  touch "$done_marker"
}

zero_shot() {  # every system of eval_systems on every test set, each speech system with its own checkpoint
  local all system group groups
  all=$(eval_sets | cut -d' ' -f1 | tr '\n' ' ')
  for system in ${eval_systems//,/ }; do
    case "$system" in
      text_topline) score "$exp/eval" text_topline "" text_topline "$all" ;;
      wav2prompt|encoder_llm)
        if [ -f "$exp/$system/checkpoint_best.pt" ]; then
          score "$exp/eval" "$system" "$exp/$system/checkpoint_best.pt" "$system" "$all"
        else
          log "$system not scored: no $exp/$system/checkpoint_best.pt (stage 2 or 3)"
        fi ;;
      cascade)  # one wav2prompt-eval per group of test sets whose ids name one hypothesis each
        if [ -f "$exp/asr/hyps/groups.txt" ]; then
          mapfile -t groups < "$exp/asr/hyps/groups.txt"
          for group in "${groups[@]}"; do
            score "$exp/eval" cascade "" cascade "${group#* }" --asr-hypotheses "$exp/asr/hyps/${group%% *}.tsv"
          done
        else
          log "cascade not scored: no ASR hypotheses ($exp/asr/hyps/groups.txt, stage 3)"
        fi ;;
      *) echo "unknown system $system in --eval-systems (text_topline, cascade, wav2prompt, encoder_llm)" >&2
         exit 1 ;;
    esac
  done
}

fewshot_updates() {  # fewshot_updates MANIFEST: --fewshot-max-update, or the miniature's schedule scaled (top)
  if [ -n "$fewshot_max_update" ]; then echo "$fewshot_max_update"; return 0; fi
  python - "$1" "$fewshot_examples" "$((nnodes * gpus_per_node))" "$update_freq" "$max_tokens" <<'PY'
import csv, math, sys
path, (examples, ranks, update_freq, max_tokens) = sys.argv[1], map(int, sys.argv[2:])
with open(path, newline="") as f:
    frames = [int(r["n_frames"]) for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
pairs_per_update = ranks * update_freq * max(1, max_tokens // max(1, round(sum(frames) / len(frames))))
print(math.ceil(examples / len(frames)) * math.ceil(len(frames) / pairs_per_update))
PY
}

fewshot() {  # few-shot E2E fine-tuning: speech -> task output, LLM frozen, from the zero-shot model
  local task size tgt dir updates
  for task in $fewshot_tasks; do
    tgt=$(target "$task")
    local source=$data/europarl_st/en-${tgt}_train.tsv
    [ -f "$source" ] || { log "no $source: few-shot $task skipped"; continue; }
    dir=$data/fewshot
    mkdir -p "$dir"
    [ -f "$dir/${task}_dev.tsv" ] || cp "$data/europarl_st/en-${tgt}_dev.tsv" "$dir/${task}_dev.tsv"
    for size in $fewshot_sizes; do
      [ -f "$dir/${task}_$size.tsv" ] || python local/subset_manifest.py --manifest "$source" \
        --size "$size" --seed "$seed" --out "$dir/${task}_$size.tsv"
      updates=$(fewshot_updates "$dir/${task}_$size.tsv")
      log "few-shot ${task}_$size: $updates updates, lr $fewshot_lr after $fewshot_warmup_updates, linearly to $fewshot_end_lr"
      decay=true end_lr=$fewshot_end_lr interval=$fewshot_save_interval_updates \
      fairseq_train "$dir" "$exp/fewshot/${task}_$size" "$updates" \
        --train-subset "${task}_$size" --valid-subset "${task}_dev" --arch "$arch" --llm-dtype "$llm_dtype" \
        --finetune-from-model "$exp/wav2prompt/checkpoint_best.pt" \
        --train-template "$(template "$task")" --target-column "$tgt" --transcript-column tgt_text \
        --spec-augment "$spec_augment" \
        --criterion wav2prompt --mse-weight "$mse_weight" --qua-weight "$qua_weight" --mse-type "$mse_type" \
        --lr "$fewshot_lr" --warmup-updates "$fewshot_warmup_updates"
      score "$exp/eval" wav2prompt "$exp/fewshot/${task}_$size/checkpoint_best.pt" "wav2prompt_ft$size" "$task"
    done
  done
}

report() {
  python local/report.py --exp "$exp" --eval "$exp/eval" --llm-family "$llm_family"
}

run_stage 0 prepare prepare
run_stage 1 encoder_init encoder_init
run_stage 2 wav2prompt wav2prompt
run_stage 3 baselines baselines
run_stage 4 zero_shot zero_shot
run_stage 5 fewshot fewshot
run_stage 6 report report
