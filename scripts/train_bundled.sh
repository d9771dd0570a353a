#!/usr/bin/env bash
# Retrain every bundled model from ../shared/data (CPU or GPU; the commands are the record).
# Usage: [PROFILE=cpu|gpu] [MINUTES=M] [DATA=DIR] bash scripts/train_bundled.sh [WORK_DIR]  (default: ../runs)
#
# Held-out scenes come from benchmarks/protocol.py (never trained on). Each stage appends its wall
# time to WORK_DIR/timings.txt and is skipped once WORK_DIR/NAME.done exists; a training stage whose
# run folder holds last.pt continues it (--resume), so re-running the script after an interruption
# picks up where it stopped. scripts/make_model_card.py then copies the best checkpoint into
# hsrcli/weights/ with a model card, and `python benchmarks/quality.py --readme --update-cards`
# measures it.
#
# PROFILE=cpu (default): sized for a 2-core CPU, stages one after another, narrow CoarSR, epochs.
# PROFILE=gpu (DEVICE=cuda by default): the published patch sizes and CoarSR width (64 features); the data sets are made in
#   parallel, then every model trains at once on the one GPU, each for MINUTES (default 15) of wall
#   time (hsr train --minutes: the cosine schedule is fitted to the time); LKCA-Net and its LKCA-KD
#   student share one slot (MINUTES/2 each). scripts/gpu_remote.sh runs this on a lent GPU machine.
#   FINETUNE=1: continue the bundled models instead of starting afresh (hsr train --init-from NAME, a
#   warm restart of the cosine schedule at LR 2e-4, the bundled models' widths; LKCA-Net gets 60 % of
#   its slot, its student 40 %), so that GPU sessions add up.
#   ONLY="NAME ..." trains only those stages (fewer trainings share the GPU, each goes faster);
#   COARSR_FEATS=N with FINETUNE=1 and N other than the bundled CoarSR's width (64) starts CoarSR afresh
#   at that width (LR COARSR_LR, default 2e-4) instead of continuing the bundled one;
#   LKCA_LOSS=hloss trains lkca_x4 and its student with HLoss
#   (L1 + SAM + gradient terms) instead of L1; EMA=DECAY (default 0.999, 0: off) the decay of the
#   weights' moving average that validation and the checkpoints use (hsr train --ema).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-$ROOT/../runs}
S=${DATA:-$ROOT/../shared/data}
HSR=${HSR:-hsr}
PY=${PY:-python3}
PROFILE=${PROFILE:-cpu}
MINUTES=${MINUTES:-15}
CAVE_TEST=$($PY "$ROOT/benchmarks/protocol.py" cave-test | sed -E 's/([^,]+)/\1_ms/g')
AIR_TRAIN=$($PY "$ROOT/benchmarks/protocol.py" airborne-train | tr ',' ' ')
mkdir -p "$W"
cd "$W"

stage() {  # stage NAME COMMAND...   (skipped when NAME.done exists; wall time to timings.txt)
  local name=$1; shift
  if [ -f "$name.done" ]; then echo "skip $name"; return; fi
  local t0; t0=$(date +%s)
  "$@" > "$name.log" 2>&1 || { echo "FAILED $name (see $W/$name.log)" >&2; tail -5 "$name.log" >&2; return 1; }
  echo "$name $(( $(date +%s) - t0 )) s" >> timings.txt
  touch "$name.done"
  echo "done $name"
}
train() {  # train NAME ARGS...   (hsr train into run folder NAME; continues a run that has last.pt)
  local name=$1; shift
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then echo "not in ONLY: $name"; return 0; fi
  local resume=(); [ -f "$name/last.pt" ] && resume=(--resume)
  stage "$name" $HSR train "$@" -o "$name" "${resume[@]}" -q
}
# The protocol's CAVE test scenes are held out whole (a copy of the data made for training may lack them).
HELD=(); for t in ${CAVE_TEST//,/ }; do [ -d "$S/cave/$t" ] && HELD+=("$t"); done
TEST_ARGS=(--test-fraction 0.02); [ ${#HELD[@]} -gt 0 ] && TEST_ARGS=(--test-scenes "$(IFS=,; echo "${HELD[*]}")")
prep_cave() {  # prep_cave SCALE PATCH STRIDE [NAME]
  stage "${4:-cave_x$1}" $HSR prepare "$S"/cave/*_ms -o "${4:-cave_x$1}" -s "$1" "${TEST_ARGS[@]}" \
    --patch "$2" --stride "$3" -q --overwrite
}
prep_air() {  # prep_air SCALE: Jasper Ridge, Samson and the airborne training crops (thin strips held out)
  local s=$1
  stage "jasper_x$s" $HSR prepare "$S/airborne/jasperRidge2_R198.mat" -o "jasper_x$s" -s "$s" --test-fraction 0.2 \
    --val-fraction 0.1 --patch 48 --stride 6 --guard 4 -q --overwrite
  stage "samson_x$s" $HSR prepare "$S/airborne/Samson.mat" -o "samson_x$s" -s "$s" --test-fraction 0.2 \
    --val-fraction 0.1 --patch 48 --stride 6 --guard 4 -q --overwrite
  for a in $AIR_TRAIN; do  # one data set each (band counts differ)
    stage "${a}_x$s" $HSR prepare "$S/airborne/abu/$a.mat" -o "${a}_x$s" -s "$s" --test-fraction 0.1 \
      --val-fraction 0.1 --patch 48 --stride 8 --guard 4 -q --overwrite
  done
}
air() { for a in jasper samson $AIR_TRAIN; do printf '%s ' "${a}_x$1"; done; }

if [ "$PROFILE" = cpu ]; then
  prep_cave 2 48 24; prep_cave 4 48 24; prep_air 2; prep_air 4
  # 31-band CAVE models at x4: LKCA-Net (teacher), then LKCA-LR distilled from it (rank 4 per phase group).
  train lkca_x4 cave_x4 -m lkca --epochs 12 --iters-per-epoch 250 --batch-size 16 --lr 5e-4 --schedule cosine --seed 0
  train lkca-lr-kd_x4 cave_x4 -m lkca-lr --teacher lkca_x4/best.pt --init-from-teacher --model-arg lr_rank=4 \
    --epochs 12 --iters-per-epoch 250 --batch-size 16 --lr 5e-4 --schedule cosine --seed 0
  # Band-agnostic LKCA on CAVE + every airborne training scene (random 8-band windows).
  # shellcheck disable=SC2046
  train lkca-g_x4 cave_x4 $(air 4) -m lkca-g --epochs 30 --iters-per-epoch 500 --batch-size 32 --lr 5e-4 \
    --schedule cosine --seed 0
  # shellcheck disable=SC2046
  train lkca-g_x2 cave_x2 $(air 2) -m lkca-g --epochs 10 --iters-per-epoch 300 --batch-size 32 --lr 5e-4 \
    --schedule cosine --seed 0
  # CoarSR for 31-band data at x4 and x2 (x2 also serves --refine), narrow on a CPU.
  train coarsr_x4 cave_x4 -m coarsr --model-arg feats=16 --epochs 6 --iters-per-epoch 100 --batch-size 16 \
    --lr 5e-4 --schedule cosine --seed 0
  train coarsr_x2 cave_x2 -m coarsr --model-arg feats=16 --epochs 3 --iters-per-epoch 100 --batch-size 16 \
    --lr 5e-4 --schedule cosine --seed 0
elif [ "$PROFILE" = gpu ]; then
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
  G=(--device "${DEVICE:-cuda}" --amp bf16 --workers 3 --schedule cosine --seed 0 --epochs 1000)
  # The weights' moving average (hsr train --ema): a sitting cut off before its cosine has annealed
  # (the machine taken back) still leaves smoothed weights. EMA=0 trains without it.
  [ "${EMA:-0.999}" = 0 ] || G+=(--ema "${EMA:-0.999}")
  # Data sets, all at once: SSPSR patches (64/32; 63/30 at x3; 128/64 at x8) and DualSR's 32-pixel LR
  # patches for CoarSR at x4 (128/64 HR; at x2 the 64/32 set already has 32-pixel LR patches).
  prep_cave 2 64 32 & prep_cave 3 63 30 & prep_cave 4 64 32 & prep_cave 8 128 64 & prep_cave 4 128 64 cave128_x4 &
  prep_air 2 & prep_air 3 & prep_air 4 &
  wait
  BUNDLED_CFEATS=64  # the width of the bundled CoarSR models (their cards' kwargs)
  if [ "${FINETUNE:-0}" = 1 ]; then
    LR=${LR:-2e-4}; CLR=${CLR:-1e-4}; FEATS=${COARSR_FEATS:-$BUNDLED_CFEATS}; KD_INIT=(--init-from lkca-lr-kd_x4)
    SHARE=0.6; [ "$FEATS" = "$BUNDLED_CFEATS" ] || CLR=${COARSR_LR:-2e-4}
  else
    LR=5e-4; CLR=2e-4; FEATS=${COARSR_FEATS:-64}; KD_INIT=(--init-from-teacher); SHARE=0.5
  fi
  LOSS=(--loss "${LKCA_LOSS:-l1}")
  from() {  # the model to continue: INIT_DIR/NAME.pt when there is one (a run brought back), else the bundled one
    [ "${FINETUNE:-0}" = 1 ] || return 0
    if [ -n "${INIT_DIR:-}" ] && [ -f "$INIT_DIR/$1.pt" ]; then echo "--init-from $INIT_DIR/$1.pt"; return 0; fi
    case $1 in coarsr*) [ "$FEATS" = "$BUNDLED_CFEATS" ] || return 0 ;; esac  # another width: afresh
    echo "--init-from $1"
  }
  teach=$(awk "BEGIN{print $MINUTES*$SHARE}"); student=$(awk "BEGIN{print $MINUTES*(1-$SHARE)}")
  # shellcheck disable=SC2046
  { train lkca_x4 cave_x4 -m lkca $(from lkca_x4) --minutes "$teach" --iters-per-epoch 250 --batch-size 32 \
      --lr "$LR" "${LOSS[@]}" "${G[@]}" &&
    train lkca-lr-kd_x4 cave_x4 -m lkca-lr --teacher lkca_x4/best.pt "${KD_INIT[@]}" --model-arg lr_rank=4 \
      --minutes "$student" --iters-per-epoch 250 --batch-size 32 --lr "$LR" "${LOSS[@]}" "${G[@]}"; } &
  for s in 2 3 4; do
    # shellcheck disable=SC2046
    train "lkca-g_x$s" "cave_x$s" $(air "$s") -m lkca-g $(from "lkca-g_x$s") --minutes "$MINUTES" \
      --iters-per-epoch 250 --batch-size 32 --lr "$LR" "${G[@]}" &
  done
  # x8: CAVE only (the airborne crops are too small for 128-pixel patches with their test strips).
  # shellcheck disable=SC2046
  train lkca-g_x8 cave_x8 -m lkca-g $(from lkca-g_x8) --minutes "$MINUTES" --iters-per-epoch 250 --batch-size 32 \
    --lr "$LR" "${G[@]}" &
  # shellcheck disable=SC2046
  train coarsr_x4 cave128_x4 -m coarsr --model-arg "feats=$FEATS" $(from coarsr_x4) --minutes "$MINUTES" \
    --iters-per-epoch 100 --batch-size 32 --lr "$CLR" "${G[@]}" &
  # shellcheck disable=SC2046
  train coarsr_x2 cave_x2 -m coarsr --model-arg "feats=$FEATS" $(from coarsr_x2) --minutes "$MINUTES" \
    --iters-per-epoch 100 --batch-size 32 --lr "$CLR" "${G[@]}" &
  wait
else
  echo "PROFILE must be cpu or gpu" >&2; exit 2
fi
echo "all stages done in $W"
