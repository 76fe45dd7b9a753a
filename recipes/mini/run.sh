#!/usr/bin/env bash
# The Wav2Prompt paper in miniature, on a CPU: a text world, a tiny LLaMA trained
# on text only, espeak-ng speech, Wav2Prompt trained on ASR data only, and
# zero-shot evaluation of every task the LLM knows from text, beside the
# paper's baselines (ASR-LLM cascade, Encoder-LLM), its ablation (no L_MSE) and few-shot fine-tuning.
#
#   bash recipes/mini/run.sh [--size smoke|default] [--tokenizer spm|bpe] [--stage N] [--stop-stage N]
#                            [--recorded-speech true|false] [--feature-norm utterance|speech-frames]
#   bash recipes/mini/run.sh --stage 12 --stop-stage 12   # the LLM-free first stage at 25-100% of the updates
#   bash recipes/mini/run.sh --stage 13 --stop-stage 13   # the fine-tuning families' learning rates on dev
#
# Each stage skips work whose output exists (delete the output to redo it).
{  # read whole before it runs: bash reads a script as it goes, so editing it mid-run broke the run
set -euo pipefail
cd "$(dirname "$0")"

size=default        # smoke: every stage end to end in minutes; default: the figures in RESULTS.md
tokenizer=spm       # the LLM's tokenizer: spm (SentencePiece, as LLaMA-2) or bpe (byte-level BPE, as LLaMA-3)
speech_variety=true   # training speech from festival too, augmented (local/synthesize.py --variety);
                      # false: espeak-ng alone, clean (data/<size>/espeak, exp/<size>_espeak)
recorded_speech=false # true: training speech as people record it (local/synthesize.py --recorded-speech:
                      # silence around it over a noise floor, pauses, a telephone line's band), in its own
                      # corpus and exp (data/<size>/recorded, exp/<size>_recorded); at default size it no longer depends
                      # on silence, pauses or the telephone band, but recognises clean speech worse (RESULTS.md)
feature_norm=utterance  # the task's --feature-norm for every model trained on the wav2prompt task: utterance
                      # (CMVN over all frames) or speech-frames (over the frames within 30 dB of the loudest, so
                      # silence does not set the scale, each bin floored 30 dB below their mean; exp/<size>_speech_frames)
stage=1
stop_stage=11
seed=1
jobs=2              # espeak-ng processes
overlap=true        # train the LLM (stage 2) on one core while stages 3-4 use the other
init_encoder=true   # initialise the Wav2Prompt encoder from a CTC encoder trained on the same ASR data
# Wav2Prompt's loss: L_CE + mse_weight * L_MSE (normalised) + L_QUA, plus two terms of ours (not the
# paper's; 0 turns them off): ctc_weight * CTC on the encoder output and cif_align_weight * the CIF
# weights' distance to CTC's token spikes. Each measured in recipes/mini/RESULTS.md.
mse_weight=8
ctc_weight=0.5
cif_align_weight=1.0
projector_hidden=1024  # 2-layer MLP (GELU) into the LLM's embeddings; 0: a linear projection
# the share of Wav2Prompt's updates that run no LLM (criterion --llm-free-updates): E_s trained against
# the LLM's embedding table alone (L_MSE, L_QUA, the CTC terms), then the paper's loss; 0: the paper's.
# 0.84 of 2,100 updates: a quarter of the LLM positions of the paper's loss at 1,400 updates, in about
# its time, and its zero-shot figures (recipes/mini/RESULTS.md, "An LLM-free first stage")
llm_free_fraction=0.84
cos_weight=0        # criterion --cos-weight: 1 - cosine(E_s, Emb(y)) per vector beside L_MSE (not in the paper)
llm_free_sweep="0.25 0.5 0.75 0.9 1"  # stage 12 (run on request): Wav2Prompt at each of these shares
ft_lr_scales="3 1 0.3 0.1"  # stage 13 (run on request): every fine-tuning family at these multiples of
                            # its peak learning rate (--ft-lr; the cascade's --ft-asr-lr), scored on dev
updates=            # Wav2Prompt's updates (stages 5, 8, 12), if not the size's
ctc_updates=        # the CTC encoder's updates (stage 4), if not the size's
bf16=auto           # training forwards (LLM and speech models) under bf16 autocast: auto = where the CPU has bf16 instructions
# encoder: fairseq S2T Transformer, 3 conv layers (8x subsampling, 12.5 frames/s: a CPU budget)
encoder=(--conv-kernel-sizes 3,3,3)
spec_augment="freq_mask_N=2,freq_mask_F=12,time_mask_N=2,time_mask_T=15,time_mask_p=0.2"
stack_factor=2      # Encoder-LLM: encoder frames stacked into one LLM prompt vector (6.25 per second)
ft_task=st_fr       # few-shot fine-tuning on the target domain: the task (template and target column) of conf/tasks.json
ft_lr=1e-4          # fine-tuning Wav2Prompt and the Encoder-LLM: peak learning rate, warmed up over 10 updates,
                    # then falling linearly to ~0
ft_asr_lr=2e-4      # fine-tuning the cascade's ASR on the pairs' transcripts, likewise
# Every trained system of the table (cascade ASR, Encoder-LLM, Wav2Prompt, the ablation's pair) starts from
# stage 4's encoder and trains the same updates (the size's, or --updates) over the same ASR data at the same
# --max-tokens, each at its own peak learning rate (warm-up, then falling linearly to ~0), chosen on dev with
# as many tries per system (recipes/mini/RESULTS.md, "Equal budgets")
w2p_lr=1e-3         # Wav2Prompt and the ablation's pair
asr_lr=2e-3         # the cascade's ASR (fairseq's s2t_transformer)
ellm_lr=1e-3        # the Encoder-LLM
ft_seeds=            # the few-shot runs' seeds (each its own draw of pairs and training seed), if not the size's
fewshot_runs=true   # false: stage 9 makes the target domain's speech and the zero-shot cascades' transcripts of it,
                    # without the fine-tunings (the target domain's zero-shot table at a fraction of the time)

source ../shared/parse_options.sh "$@"

# The CTC encoder's updates (stage 4: at default size 2,000, which took Wav2Prompt's WER from 4.1 to 2.6
# within the core's 30 minutes: recipes/mini/RESULTS.md, "The encoder's stage"), and those of every system
# trained from it (w2p_updates: Wav2Prompt, the cascade's ASR, the Encoder-LLM, the ablation's pair)
case "$size" in
  smoke)   size_ctc_updates=60;   w2p_updates=80;   max_tokens=6000;  log_interval=5 ;;
  default) size_ctc_updates=2000; w2p_updates=2100; max_tokens=12000; log_interval=20 ;;
  *) echo "unknown --size $size (smoke|default)" >&2; exit 1 ;;
esac
size_updates=$w2p_updates
ctc_updates=${ctc_updates:-$size_ctc_updates}
w2p_updates=${updates:-$w2p_updates}
# the cascade's ASR vocabulary; fine-tuning: updates (every family alike), few-shot set sizes (pairs), and
# the seeds of each size's runs (each seed its own draw of pairs from the pool and its own training seed)
case "$size" in
  smoke)   asr_vocab=200; ft_updates=10;  ft_sizes="20";      size_ft_seeds="1 2" ;;
  default) asr_vocab=400; ft_updates=120; ft_sizes="100 500"; size_ft_seeds="1 2 3" ;;
esac
ft_seeds=${ft_seeds:-$size_ft_seeds}

# bf16 autocast trains 1.4-1.5x faster on a CPU with bf16 instructions (benchmarks/train_step.py);
# elsewhere the recipe trains in fp32: without them bf16 is emulated and slow (the LLM, one core of an
# AVX2-only AMD EPYC, 2026-12-03: 6.2 s a step under bf16 autocast, 0.32 s in fp32).
if [ "$bf16" = auto ]; then
  if grep -qw -e avx512_bf16 -e amx_bf16 /proc/cpuinfo 2>/dev/null; then bf16=true; else bf16=false; fi
fi
autocast=() llm_precision=--no-bf16
if [ "$bf16" = true ]; then autocast=(--autocast-bf16) llm_precision=--bf16; fi

case "$tokenizer" in
  spm|bpe) ;;
  *) echo "unknown --tokenizer $tokenizer (spm|bpe)" >&2; exit 1 ;;
esac
data=data/$size     # the world and its speech: the same for either tokenizer
corpus=$data        # the speech and what is made from it (the cascade's data, the few-shot sets)
exp=exp/$size
if [ "$tokenizer" = bpe ]; then exp=exp/${size}_bpe; fi
variety=()
case "$speech_variety" in
  true) variety=(--variety) ;;
  false) corpus=$data/espeak exp=${exp}_espeak ;;
  *) echo "unknown --speech-variety $speech_variety (true|false)" >&2; exit 1 ;;
esac
recorded=()
case "$recorded_speech" in
  true) recorded=(--recorded-speech) corpus=$corpus/recorded exp=${exp}_recorded ;;
  false) ;;
  *) echo "unknown --recorded-speech $recorded_speech (true|false)" >&2; exit 1 ;;
esac
feature_norm_args=()
case "$feature_norm" in
  utterance) ;;
  speech-frames) feature_norm_args=(--feature-norm speech-frames) exp=${exp}_speech_frames ;;
  *) echo "unknown --feature-norm $feature_norm (utterance|speech-frames)" >&2; exit 1 ;;
esac
tasks=conf/tasks.json
asr_template=$(python -c "import json; print(json.load(open('$tasks'))['asr']['template'])")
ft_template=$(python -c "import json; print(json.load(open('$tasks'))['$ft_task']['template'])")
ft_target=$(python -c "import json; print(json.load(open('$tasks'))['$ft_task']['target'])")
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} PYTHONHASHSEED=$seed
mkdir -p "$data" "$corpus" "$exp"

source ../shared/stages.sh

world() {
  [ -f "$data/world/sentences.tsv" ] || python local/make_world.py --out "$data/world" --size "$size" --seed "$seed"
}

llm() {
  [ -f "$exp/llm/model.safetensors" ] || python local/train_llm.py --world "$data/world" \
    --tasks "$tasks" --out "$exp/llm" --size "$size" --tokenizer "$tokenizer" --seed "$seed" \
    --threads "$OMP_NUM_THREADS" "$llm_precision"
}

speech() {  # the corpus, then the test sentences in other conditions (noise, a voice never heard)
  local synthesize=(python local/synthesize.py --sentences "$data/world/sentences.tsv" \
    --out "$corpus/speech" --size "$size" --seed "$seed" --jobs "$jobs" "${variety[@]}" "${recorded[@]}")
  if [ -f "$corpus/speech/test.tsv" ]; then  # a corpus that exists is only checked against these flags
    "${synthesize[@]}" --check-only ||
      { echo "run.sh: $corpus/speech was made otherwise (e.g. by another --speech-variety or --recorded-speech): move it and $exp away to redo them" >&2; exit 1; }
  else
    "${synthesize[@]}"
  fi
  python local/make_conditions.py --speech "$corpus/speech" --out "$data/conditions" --seed "$seed"  # keeps what exists
  [ -f "$data/word_times/test.tsv" ] || python local/make_word_times.py --speech "$corpus/speech" \
    --out "$data/word_times" --seed "$seed"
}

tokenizer_ready() {  # what stages 3-4 need of stage 2: the tokenizer and the LLM's config.json
  [ -f "$exp/llm/config.json" ] && [ -f "$exp/llm/tokenizer.json" ]
}

# fairseq_train SAVE_DIR UPDATES ARGS...: skipped once SAVE_DIR/done exists.  The learning rate warms
# up, then follows fairseq's inverse_sqrt, or with decay=true falls linearly to ~0 at the last update
# (Wav2Prompt: no figure worse and most better at equal updates, recipes/mini/RESULTS.md).
fairseq_train() {
  local save_dir=$1 updates=$2; shift 2
  [ -f "$save_dir/done" ] && return 0
  mkdir -p "$save_dir"
  local schedule=(--lr-scheduler inverse_sqrt)
  if [ "${decay:-false}" = true ]; then
    schedule=(--lr-scheduler polynomial_decay --total-num-update "$updates" --end-learning-rate "${end_lr:-1e-5}")
  fi
  wav2prompt-train "${train_data:-$corpus/speech}" --task wav2prompt \
    --llm-path "$exp/llm" --train-subset train --valid-subset dev --seed "$seed" \
    --optimizer adam --adam-betas "(0.9,0.98)" "${schedule[@]}" --clip-norm 5.0 \
    --max-tokens "$max_tokens" --max-update "$updates" --required-batch-size-multiple 1 \
    --save-dir "$save_dir" --no-epoch-checkpoints --save-interval-updates 200 \
    --keep-interval-updates 1 --validate-interval-updates 200 --validate-interval 1000 \
    --log-format json --log-interval "$log_interval" --log-file "$save_dir/train.log" \
    --num-workers 1 --cpu --spec-augment "$spec_augment" "${encoder[@]}" "${autocast[@]}" \
    "${feature_norm_args[@]}" "$@"
  touch "$save_dir/done"
}

encoder_init() {
  fairseq_train "$exp/ctc" "$ctc_updates" --arch speech_encoder_ctc_tiny \
    --criterion speech_encoder_ctc --lr 2e-3 --warmup-updates 150 --dropout 0.1
}

wav2prompt() {  # wav2prompt [SAVE_DIR MSE_WEIGHT LLM_FREE_FRACTION UPDATES]: stage 5, or a variant of it
  local save_dir=${1:-$exp/wav2prompt} mse=${2:-$mse_weight} free=${3:-$llm_free_fraction}
  local updates=${4:-$w2p_updates} init=() aux=()
  if [ "$init_encoder" = true ]; then init=(--encoder-init-checkpoint "$exp/ctc/checkpoint_last.pt"); fi
  if [ "$ctc_weight" != 0 ] || [ "$cif_align_weight" != 0 ]; then
    aux=(--ctc-head --ctc-weight "$ctc_weight" --cif-align-weight "$cif_align_weight")
  fi
  decay=true fairseq_train "$save_dir" "$updates" --arch wav2prompt_tiny "${init[@]}" \
    --projector-hidden-dim "$projector_hidden" --train-template "$asr_template" --criterion wav2prompt \
    --mse-weight "$mse" --qua-weight 1.0 --mse-type normalized --lr "$w2p_lr" --warmup-updates 100 \
    --dropout 0.1 --llm-free-updates "$(python -c "print(round($free * $updates))")" "${aux[@]}" \
    --cos-weight "$cos_weight"
}

# The paper's ablation: Wav2Prompt without L_MSE, L_CE at every update (with no embedding term
# an update cannot go without the LLM). Where stage 5 has an LLM-free stage, the recipe's loss with
# L_CE at every update is trained too, so that the two differ in L_MSE alone; both train stage 5's updates.
ablation() {
  if [ "$llm_free_fraction" != 0 ]; then
    wav2prompt "$exp/wav2prompt_all_ce" "$mse_weight" 0
  fi
  cos_weight=0 wav2prompt "$exp/wav2prompt_no_mse" 0 0  # no embedding term at all
}

sweep_name() {  # sweep_name FRACTION: wav2prompt_lf<percent>, then _u<updates> if not the size's, _cos<w> if any
  python -c "print(f'wav2prompt_lf{round(100 * $1)}' + ('_u$w2p_updates' if $w2p_updates != $size_updates else '')
                   + (f'_cos{$cos_weight:g}' if $cos_weight else ''))"
}

llm_free_sweep() {  # stage 5 with each share of LLM-free updates, same stage-4 encoder; evaluated
  local f name
  for f in $llm_free_sweep; do
    name=$(sweep_name "$f")
    wav2prompt "$exp/$name" "$mse_weight" "$f"
    eval_trained "$name" wav2prompt "$exp/$name/checkpoint_last.pt" --checkpoint "$exp/$name/checkpoint_last.pt"
  done
  report
}

# asr_train SAVE_DIR UPDATES PEAK_LR WARMUP [ARGS...]: the cascade's ASR, fairseq's own speech_to_text task
# (s2t_transformer + SentencePiece) on $corpus/asr; the learning rate falls linearly to ~0 at the last update
asr_train() {
  local dir=$1 updates=$2 lr=$3 warmup=$4; shift 4
  [ -f "$dir/done" ] && return 0
  mkdir -p "$dir"
  # (--finetune-from-model: fairseq's S2T checkpoints pickle an argparse.Namespace, which torch>=2.6 refuses by default)
  TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 wav2prompt-train "$corpus/asr" --task speech_to_text --config-yaml config.yaml \
    --train-subset train --valid-subset dev --seed "$seed" --arch s2t_transformer_s \
    --encoder-layers 4 --encoder-embed-dim 256 --encoder-ffn-embed-dim 1024 --encoder-attention-heads 4 \
    --decoder-layers 2 --decoder-embed-dim 256 --decoder-ffn-embed-dim 1024 --decoder-attention-heads 4 \
    --conv-channels 256 "${encoder[@]}" --share-decoder-input-output-embed --dropout 0.1 \
    --criterion label_smoothed_cross_entropy --label-smoothing 0.1 \
    --optimizer adam --adam-betas "(0.9,0.98)" --lr "$lr" --lr-scheduler polynomial_decay \
    --total-num-update "$updates" --end-learning-rate "${end_lr:-1e-5}" --warmup-updates "$warmup" --clip-norm 5.0 \
    --max-tokens "$max_tokens" --max-update "$updates" --required-batch-size-multiple 1 \
    --save-dir "$dir" --no-epoch-checkpoints --save-interval-updates 200 --keep-interval-updates 1 \
    --validate-interval-updates 200 --validate-interval 1000 --log-format json --log-interval "$log_interval" \
    --log-file "$dir/train.log" --num-workers 1 --cpu "$@"
  touch "$dir/done"
}

# asr_decode DIR SUBSET: DIR/checkpoint_last.pt's beam-5 transcripts of $corpus/asr/SUBSET.tsv by utterance id,
# in DIR/SUBSET_hyps.tsv (what wav2prompt-eval --asr-hypotheses reads)
asr_decode() {
  local dir=$1 subset=$2
  [ -f "$dir/${subset}_hyps.tsv" ] && return 0
  # fairseq's S2T checkpoints pickle an argparse.Namespace, which torch>=2.6 refuses by default
  TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 wav2prompt-generate "$corpus/asr" --task speech_to_text \
    --config-yaml config.yaml --gen-subset "$subset" --path "$dir/checkpoint_last.pt" --beam 5 \
    --max-len-b 60 --max-tokens 50000 --required-batch-size-multiple 1 --cpu --scoring wer \
    --results-path "$dir/generate"  # (fairseq drops a last batch short of the multiple, default 8)
  tail -n 1 "$dir/generate/generate-$subset.txt"
  python local/asr_hypotheses.py --generate-output "$dir/generate/generate-$subset.txt" \
    --manifest "$corpus/asr/$subset.tsv" --out "$dir/${subset}_hyps.tsv"
}

cascade_asr() {  # the cascade's ASR on the ASR data, from stage 4's encoder, Wav2Prompt's updates
  [ -f "$corpus/asr/config.yaml" ] || python local/prepare_asr.py --speech "$corpus/speech" --out "$corpus/asr" \
    --vocab-size "$asr_vocab" --spec-augment "$spec_augment"
  local init=()
  if [ "$init_encoder" = true ]; then init=(--load-pretrained-encoder-from "$exp/ctc/checkpoint_last.pt"); fi
  asr_train "$exp/cascade" "$w2p_updates" "$asr_lr" 100 "${init[@]}"
  asr_decode "$exp/cascade" test
}

cascade_ctc() {  # stage 4's CTC model as the cascade's ASR: its own greedy decoding, no training of its own
  local dir=$exp/cascade_ctc
  [ -f "$dir/test_hyps.tsv" ] || { mkdir -p "$dir" && wav2prompt-ctc-transcribe --checkpoint "$exp/ctc/checkpoint_last.pt" \
    --manifest "$corpus/speech/test.tsv" --out "$dir/test_hyps.tsv"; }
}

cascades() {
  cascade_asr
  if [ "$init_encoder" = true ]; then cascade_ctc; fi
}

encoder_llm() {  # the paper's Encoder-LLM: same encoder and data, frame stacking, L_CE only
  local init=()
  if [ "$init_encoder" = true ]; then init=(--encoder-init-checkpoint "$exp/ctc/checkpoint_last.pt"); fi
  decay=true fairseq_train "$exp/encoder_llm" "$w2p_updates" --arch encoder_llm_tiny \
    --stack-factor "$stack_factor" "${init[@]}" --train-template "$asr_template" --criterion wav2prompt \
    --mse-weight 0 --qua-weight 0 --lr "$ellm_lr" --warmup-updates 100 --dropout 0.1
}

# The target domain (make_world.py's council sentences; recipes/mini/README.md): its speech in a voice and a
# room no ASR stage hears (local/synthesize_target.py: pool, dev, test), and for each seed of ft_seeds its
# draws of N pairs from the pool (local/make_fewshot.py). Both depend only on the world and the seeds.
target_speech() {
  local k
  [ -f "$data/target/test.tsv" ] || python local/synthesize_target.py --sentences "$data/world/sentences.tsv" \
    --out "$data/target" --seed "$seed" --jobs "$jobs"
  for k in $ft_seeds; do
    [ -f "$data/target_fewshot/seed$k/ft${ft_sizes##* }/train.tsv" ] || python local/make_fewshot.py \
      --speech "$data/target" --pool pool --sizes "${ft_sizes// /,}" --target "$ft_target" \
      --out "$data/target_fewshot/seed$k" --seed "$k"
  done
}

asr_data() {  # asr_data NAME MANIFEST: MANIFEST in the cascade's ASR directory as NAME (absolute audio paths)
  [ -f "$corpus/asr/$1.tsv" ] || python local/asr_manifest.py --manifest "$2" --out "$corpus/asr/$1.tsv"
}

# Many short runs that need nothing of each other (the few-shot runs, the evaluations in directories of
# their own) go two at a time, one thread each, as stage 2 beside stages 3-4: side by side they finish
# sooner than one after the other on two threads. Each writes its output to a log; a failure shows its end.
lanes=1
if [ "$overlap" = true ] && [ "$OMP_NUM_THREADS" -ge 2 ]; then lanes=2; fi
lane_pids=()
in_lane() {  # in_lane LOG COMMAND...: COMMAND in the background, at most $lanes at once
  local log=$1; shift
  if [ "${#lane_pids[@]}" -ge "$lanes" ]; then wait "${lane_pids[0]}"; lane_pids=("${lane_pids[@]:1}"); fi
  mkdir -p "$(dirname "$log")"
  ( OMP_NUM_THREADS=$((OMP_NUM_THREADS / lanes)) "$@" > "$log" 2>&1 ||
      { echo "run.sh: failed: $* (the end of $log:)" >&2; tail -n 30 "$log" >&2; exit 1; } ) &
  lane_pids+=($!)
}
lanes_done() {  # wait for every job of in_lane; the first that failed ends the recipe
  local pid
  for pid in "${lane_pids[@]}"; do wait "$pid"; done
  lane_pids=()
}

# Few-shot on the target domain: every family fine-tuned on N (speech, French) pairs of the domain's pool, once
# per seed (the draw and the training seed), the same updates at the same --max-tokens, each from its own
# zero-shot model: Wav2Prompt end to end on the pairs alone with L_CE (the paper's setting), Wav2Prompt with
# the transcripts too (L_MSE, L_QUA), the Encoder-LLM, and the cascade's ASR on the pairs' transcripts.
# Fine-tuning starts from a model whose learning rate ended near 0: a peak of 5e-4 with inverse_sqrt moved E_s
# away from what the zero-shot prompt had right (recipes/mini/RESULTS.md, few-shot schedule).
FAMILIES="wav2prompt_e2e wav2prompt_e2e_tr encoder_llm_e2e cascade_asrft"
finetune() {  # finetune FAMILY N K: FAMILY fine-tuned on seed K's draw of N pairs, training seed K
  local family=$1 n=$2 seed=$3  # (seed: the one fairseq_train and asr_train read)
  local draw=$data/target_fewshot/seed$3/ft$2 dir=${fewshot_dir:-$exp/fewshot}/$1_ft$2_s$3 subset
  local common=(--train-template "$ft_template" --target-column "$ft_target" --criterion wav2prompt
                --lr "$ft_lr" --warmup-updates 10 --dropout 0.1 --save-interval 1000)
  case $family in
    wav2prompt_e2e) decay=true end_lr=1e-7 train_data=$draw fairseq_train "$dir" "$ft_updates" \
      --arch wav2prompt_tiny --projector-hidden-dim "$projector_hidden" \
      --finetune-from-model "$exp/wav2prompt/checkpoint_last.pt" "${common[@]}" --transcript-column '' \
      --mse-weight 0 --qua-weight 0 ;;
    wav2prompt_e2e_tr) decay=true end_lr=1e-7 train_data=$draw fairseq_train "$dir" "$ft_updates" \
      --arch wav2prompt_tiny --projector-hidden-dim "$projector_hidden" \
      --finetune-from-model "$exp/wav2prompt/checkpoint_last.pt" "${common[@]}" --transcript-column tgt_text \
      --mse-weight "$mse_weight" --qua-weight 1.0 ;;
    encoder_llm_e2e) decay=true end_lr=1e-7 train_data=$draw fairseq_train "$dir" "$ft_updates" \
      --arch encoder_llm_tiny --stack-factor "$stack_factor" \
      --finetune-from-model "$exp/encoder_llm/checkpoint_last.pt" "${common[@]}" --transcript-column '' \
      --mse-weight 0 --qua-weight 0 ;;
    cascade_asrft)  # a subset named train*: fairseq's speech_to_text shuffles it and applies the training SpecAugment
      asr_data "train_target_s${seed}_ft$n" "$draw/train.tsv"
      end_lr=1e-7 asr_train "$dir" "$ft_updates" "$ft_asr_lr" 10 --train-subset "train_target_s${seed}_ft$n" \
        --valid-subset target_dev --finetune-from-model "$exp/cascade/checkpoint_last.pt" --save-interval 1000
      for subset in ${ft_decode:-target_test test}; do asr_decode "$dir" "$subset"; done ;;
  esac
}

fewshot() {
  target_speech
  local family k n
  asr_data target_dev "$data/target/dev.tsv"
  asr_data target_test "$data/target/test.tsv"
  for k in $([ "$fewshot_runs" = true ] && echo "$ft_seeds"); do
    for n in $ft_sizes; do
      for family in $FAMILIES; do
        [ -f "$exp/fewshot/${family}_ft${n}_s$k/done" ] || in_lane "$exp/fewshot/${family}_ft${n}_s$k.log" finetune "$family" "$n" "$k"
      done
    done
  done
  asr_decode "$exp/cascade" target_test
  if [ "$init_encoder" = true ] && [ ! -f "$exp/cascade_ctc/target_test_hyps.tsv" ]; then
    mkdir -p "$exp/cascade_ctc"
    wav2prompt-ctc-transcribe --checkpoint "$exp/ctc/checkpoint_last.pt" --manifest "$data/target/test.tsv" \
      --out "$exp/cascade_ctc/target_test_hyps.tsv"
  fi
  lanes_done
}

evaluated() {  # evaluated NAME [DIR]: the evaluation in DIR (default $exp/eval) already holds system NAME
  python - "${2:-$exp/eval}/results.json" "$1" <<'PY'
import json, os, sys
path, name = sys.argv[1:]
sys.exit(0 if os.path.exists(path) and name in json.load(open(path))["systems"] else 1)
PY
}

eval_system() {  # eval_system NAME SYSTEM [ARGS...]: one system on the test split, every task
  local name=$1 system=$2; shift 2
  evaluated "$name" || wav2prompt-eval --llm-path "$exp/llm" --manifest "$corpus/speech/test.tsv" \
    --tasks-file "$tasks" --paraphrases conf/paraphrases.json --train-manifest "$corpus/speech/train.tsv" \
    --systems "$system" --name "$name" --out "$exp/eval" "$@"
}

eval_trained() {  # eval_trained NAME SYSTEM FILE [ARGS...]: NAME if its training stage wrote FILE
  local name=$1 system=$2 file=$3; shift 3
  if [ -f "$file" ]; then eval_system "$name" "$system" "$@"; else log "not evaluating $name: no $file yet"; fi
}

eval_conditions() {  # Wav2Prompt on each test condition of local/make_conditions.py; some again trimmed
  local c out
  for c in $(cd local && python -c "from make_conditions import CONDITIONS; print(*CONDITIONS)"); do
    out=$exp/eval_conditions/$c
    [ -f "$out/results.json" ] || in_lane "$out.log" wav2prompt-eval --checkpoint "$exp/wav2prompt/checkpoint_last.pt" \
      --llm-path "$exp/llm" --manifest "$data/conditions/$c/test.tsv" --tasks-file "$tasks" \
      --systems wav2prompt --out "$out"
  done
  for c in $(cd local && python -c "from make_conditions import TRIMMED; print(*TRIMMED)"); do
    out=$exp/eval_conditions/${c}_trimmed
    [ -f "$out/results.json" ] || in_lane "$out.log" wav2prompt-eval --checkpoint "$exp/wav2prompt/checkpoint_last.pt" \
      --llm-path "$exp/llm" --manifest "$data/conditions/$c/test_wav.tsv" --tasks-file "$tasks" \
      --systems wav2prompt --trim-silence --out "$out"
  done
}

eval_word_times() {  # Wav2Prompt's CIF word times against the known ones of local/make_word_times.py
  local out=$exp/eval_word_times
  [ -f "$out/results.json" ] || in_lane "$out.log" wav2prompt-eval --checkpoint "$exp/wav2prompt/checkpoint_last.pt" \
    --llm-path "$exp/llm" --manifest "$data/word_times/test.tsv" --tasks-file "$tasks" --tasks asr \
    --systems wav2prompt --timestamps --out "$out"
}

evaluate() {  # every system trained so far (so that --stop-stage 5, then --stage 9 scores Wav2Prompt)
  local n
  eval_system text_topline text_topline
  eval_trained cascade cascade "$exp/cascade/test_hyps.tsv" --asr-hypotheses "$exp/cascade/test_hyps.tsv"
  eval_trained cascade_ctc cascade "$exp/cascade_ctc/test_hyps.tsv" --asr-hypotheses "$exp/cascade_ctc/test_hyps.tsv"
  for n in encoder_llm wav2prompt wav2prompt_no_mse wav2prompt_all_ce; do
    eval_trained "$n" "$(case $n in encoder_llm*) echo encoder_llm ;; *) echo wav2prompt ;; esac)" \
      "$exp/$n/checkpoint_last.pt" --checkpoint "$exp/$n/checkpoint_last.pt" \
      $([ "$n" = wav2prompt ] && echo --timestamps)  # what the LLM read, and when: the report's pictures
  done
  if [ -f "$exp/wav2prompt/checkpoint_last.pt" ]; then eval_conditions; eval_word_times; fi
  eval_fewshot
  lanes_done
}

# eval_target NAME SYSTEM [ARGS...]: NAME on the target domain's $split set (default test; transcription and
# En->Fr) in ${eval_dir:-$exp/eval_fewshot}/NAME (local/fewshot_report.py, local/ft_lr_probe.py read them all)
eval_target() {
  local name=$1 system=$2 out=${eval_dir:-$exp/eval_fewshot}/$1; shift 2
  [ -f "$out/results.json" ] || in_lane "$out.log" wav2prompt-eval --llm-path "$exp/llm" \
    --manifest "$data/target/${split:-test}.tsv" --tasks-file "$tasks" --tasks "asr,$ft_task" --systems "$system" \
    --name "$name" --out "$out" "$@"
}

# both_hyps DIR: DIR's ASR transcripts of the target domain's $split set and the original one, by id, in one
# file (what wav2prompt-eval --asr-hypotheses reads for both); prints its path
both_hyps() {
  local s=${split:-test}
  asr_decode "$1" "target_$s" >&2
  asr_decode "$1" "$s" >&2
  { cat "$1/target_${s}_hyps.tsv"; tail -n +2 "$1/${s}_hyps.tsv"; } > "$1/both_${s}_hyps.tsv"
  echo "$1/both_${s}_hyps.tsv"
}

original_tasks() {  # sets the caller's kept: eval_target's arguments for the target tasks and the original
  local original=$corpus/speech/${split:-test}.tsv  # $split's others (what a fine-tuned model keeps)
  kept=(--tasks "asr,$ft_task,st_es,intent,sqa,sqqa" --task-manifest "st_es=$original"
        --task-manifest "intent=$original" --task-manifest "sqa=$original" --task-manifest "sqqa=$original")
}

# eval_tuned NAME DIR: the fine-tuned model in DIR (its family from DIR's name) by eval_target, with
# what it keeps of the original $split's other tasks
eval_tuned() {
  local name=$1 dir=$2 kept
  original_tasks
  case ${dir##*/} in
    cascade_asrft_*) eval_target "$name" cascade "${kept[@]}" --asr-hypotheses "$(both_hyps "$dir")" ;;
    encoder_llm*) eval_target "$name" encoder_llm "${kept[@]}" --checkpoint "$dir/checkpoint_last.pt" ;;
    *) eval_target "$name" wav2prompt "${kept[@]}" --checkpoint "$dir/checkpoint_last.pt" ;;
  esac
}

eval_fewshot() {  # every system on the target domain, zero-shot; each fine-tuned one on the original split too
  local name
  [ -f "$data/target/test.tsv" ] || { log "not evaluating on the target domain: no $data/target/test.tsv yet"; return 0; }
  eval_target text_topline text_topline
  for name in cascade cascade_ctc; do
    if [ -f "$exp/$name/target_test_hyps.tsv" ]; then
      eval_target "$name" cascade --asr-hypotheses "$exp/$name/target_test_hyps.tsv"
    fi
  done
  for name in wav2prompt encoder_llm; do
    if [ -f "$exp/$name/checkpoint_last.pt" ]; then
      eval_target "$name" "$name" --checkpoint "$exp/$name/checkpoint_last.pt"
    fi
  done
  for name in $(ls "$exp/fewshot" 2>/dev/null); do
    if [ -f "$exp/fewshot/$name/done" ]; then eval_tuned "$name" "$exp/fewshot/$name"; fi
  done
}

report() {
  python local/report.py --exp "$exp" --size "$size" --tokenizer "$tokenizer" --manifest "$corpus/speech/test.tsv"
}

# Stage 13 (run on request): the fine-tuning families' peak learning rates chosen on dev, as many tries each:
# seed 1's draw of the largest size, each family at every multiple (ft_lr_scales) of its rate, scored on the
# target domain's dev set and the original dev split (zero-shot systems too); local/ft_lr_probe.py picks by a
# rule stated there. The runs at scale 1 are stage 9's own where they exist.
ft_lr_probe() {
  local n=${ft_sizes##* } k=${ft_seeds%% *} root=$exp/ft_lr_probe scale family dir name
  target_speech
  asr_data target_dev "$data/target/dev.tsv"
  for scale in $ft_lr_scales; do
    dir=$root/x$scale
    for family in $FAMILIES; do
      name=${family}_ft${n}_s$k
      if [ "$(python -c "print($scale == 1)")" = True ] && [ -f "$exp/fewshot/$name/done" ] && [ ! -e "$dir/$name" ]; then
        mkdir -p "$dir" && ln -s "$(realpath "$exp/fewshot/$name")" "$dir/$name"
      fi
      [ -f "$dir/$name/done" ] || ft_lr=$(python -c "print(f'{$scale * $ft_lr:.3g}')") \
        ft_asr_lr=$(python -c "print(f'{$scale * $ft_asr_lr:.3g}')") fewshot_dir=$dir ft_decode="target_dev dev" \
        in_lane "$dir/$name.log" finetune "$family" "$n" "$k"
    done
  done
  lanes_done
  local split=dev eval_dir=$root/eval kept
  original_tasks
  eval_target cascade cascade "${kept[@]}" --asr-hypotheses "$(both_hyps "$exp/cascade")"
  for name in wav2prompt encoder_llm; do eval_target "$name" "$name" "${kept[@]}" --checkpoint "$exp/$name/checkpoint_last.pt"; done
  for scale in $ft_lr_scales; do
    for family in $FAMILIES; do eval_tuned "${family}_x$scale" "$root/x$scale/${family}_ft${n}_s$k"; done
  done
  lanes_done
  python local/ft_lr_probe.py --exp "$exp" --ft-lr "$ft_lr" --ft-asr-lr "$ft_asr_lr"
}

speech_stages() {
  run_stage 3 speech speech
  if [ "$init_encoder" = true ]; then run_stage 4 encoder_init encoder_init; fi
}

run_stage 1 world world
if [ "$overlap" = true ] && [ "$stage" -le 2 ] && [ "$stop_stage" -ge 3 ] \
   && [ ! -f "$exp/llm/model.safetensors" ] && [ "$OMP_NUM_THREADS" -ge 2 ]; then
  # One job per core: each of these trains 1.4-1.5x faster on two threads than on one, so two
  # jobs side by side finish sooner than one after the other.
  log "stage 2 beside stages 3-4, one core each (stage 2's log: $exp/llm.log)"
  rm -f "$exp/llm/config.json"  # a stale one from an interrupted run would start stage 4 too early
  OMP_NUM_THREADS=1 run_stage 2 llm llm > "$exp/llm.log" 2>&1 &
  llm_pid=$!
  trap 'kill $llm_pid 2>/dev/null || true' EXIT
  until tokenizer_ready; do
    kill -0 "$llm_pid" 2>/dev/null || { wait "$llm_pid"; exit 1; }
    sleep 1
  done
  jobs=1 OMP_NUM_THREADS=1 speech_stages
  wait "$llm_pid"
  trap - EXIT
  tail -n 9 "$exp/llm.log"
  python - "$exp/concurrent_stages.json" <<'PY'
import json, sys
json.dump([["2. llm"], ["3. speech", "4. encoder_init"]], open(sys.argv[1], "w"))
PY
else
  if [ "$stage" -le 2 ] && [ ! -f "$exp/llm/model.safetensors" ]; then rm -f "$exp/concurrent_stages.json"; fi
  run_stage 2 llm llm
  speech_stages
fi
run_stage 5 wav2prompt wav2prompt
run_stage 6 cascade_asr cascades
run_stage 7 encoder_llm encoder_llm
run_stage 8 ablation ablation
run_stage 9 fewshot fewshot
run_stage 10 evaluate evaluate
run_stage 11 report report
run_stage 12 llm_free_sweep llm_free_sweep
run_stage 13 ft_lr_probe ft_lr_probe
exit
}
