#!/usr/bin/env bash
# Retrain every bundled model from ../shared/data (CPU or GPU; the commands are the record).
# Usage: [PROFILE=cpu|gpu] bash scripts/train_bundled.sh [WORK_DIR]   (default: ../runs)
# Held-out scenes come from benchmarks/protocol.py (never trained on). Each stage appends its wall
# time to WORK_DIR/timings.txt; scripts/make_model_card.py then copies the best checkpoint into
# hsrcli/weights/ with a model card, and `python benchmarks/quality.py --readme --update-cards`
# measures it. PROFILE=cpu (default) sizes runs for a 2-core CPU (narrow CoarSR, few epochs);
# PROFILE=gpu uses the published CoarSR width (64 features) and 10x the iterations.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-$ROOT/../runs}
S=$ROOT/../shared/data
HSR=${HSR:-hsr}
PY=${PY:-python3}
PROFILE=${PROFILE:-cpu}
case $PROFILE in
  cpu) K=1; FEATS=16 ;;
  gpu) K=10; FEATS=64 ;;
  *) echo "PROFILE must be cpu or gpu" >&2; exit 2 ;;
esac
CAVE_TEST=$($PY "$ROOT/benchmarks/protocol.py" cave-test | sed -E 's/([^,]+)/\1_ms/g')
AIR_TRAIN=$($PY "$ROOT/benchmarks/protocol.py" airborne-train | tr ',' ' ')
mkdir -p "$W"
cd "$W"
stage() {  # stage NAME COMMAND...
  local name=$1; shift
  if [ -f "$name.done" ]; then echo "skip $name"; return; fi
  local t0=$(date +%s)
  "$@"
  echo "$name $(( $(date +%s) - t0 )) s" >> timings.txt
  touch "$name.done"
}
for s in 2 4; do
  # CAVE: the protocol's test scenes held out whole; 48-pixel HR patches.
  stage "cave_x$s" $HSR prepare "$S"/cave/*_ms -o "cave_x$s" -s $s --test-scenes "$CAVE_TEST" --patch 48 --stride 24 -q
  stage "jasper_x$s" $HSR prepare "$S/airborne/jasperRidge2_R198.mat" -o "jasper_x$s" -s $s --test-fraction 0.2 \
    --val-fraction 0.1 --patch 48 --stride 6 --guard 4 -q
  stage "samson_x$s" $HSR prepare "$S/airborne/Samson.mat" -o "samson_x$s" -s $s --test-fraction 0.2 \
    --val-fraction 0.1 --patch 48 --stride 6 --guard 4 -q
  # Airborne training crops (ABU, AVIRIS): one data set each (band counts differ), a thin strip held for test.
  for a in $AIR_TRAIN; do
    stage "${a}_x$s" $HSR prepare "$S/airborne/abu/$a.mat" -o "${a}_x$s" -s $s --test-fraction 0.1 \
      --val-fraction 0.1 --patch 48 --stride 8 --guard 4 -q
  done
done
air() { for a in $AIR_TRAIN; do printf '%s ' "${a}_x$1"; done; }
# 31-band CAVE models at x4: LKCA-Net (teacher), then LKCA-LR distilled from it (rank 4 per phase group).
stage "lkca_x4" $HSR train cave_x4 -m lkca -o lkca_x4 --epochs $((12 * K)) --iters-per-epoch 250 --batch-size 16 \
  --lr 5e-4 --schedule cosine --seed 0 -q
stage "lkca-lr-kd_x4" $HSR train cave_x4 -m lkca-lr -o lkca-lr-kd_x4 --teacher lkca_x4/best.pt --init-from-teacher \
  --model-arg lr_rank=4 --epochs $((12 * K)) --iters-per-epoch 250 --batch-size 16 --lr 5e-4 --schedule cosine \
  --seed 0 -q
# Band-agnostic LKCA on CAVE + every airborne training scene (random 8-band windows), x4 and x2.
# shellcheck disable=SC2046
stage "lkca-g_x4" $HSR train cave_x4 jasper_x4 samson_x4 $(air 4) -m lkca-g -o lkca-g_x4 --epochs $((30 * K)) \
  --iters-per-epoch 500 --batch-size 32 --lr 5e-4 --schedule cosine --seed 0 -q
# shellcheck disable=SC2046
stage "lkca-g_x2" $HSR train cave_x2 jasper_x2 samson_x2 $(air 2) -m lkca-g -o lkca-g_x2 --epochs $((10 * K)) \
  --iters-per-epoch 300 --batch-size 32 --lr 5e-4 --schedule cosine --seed 0 -q
# CoarSR for 31-band data at x4 and x2 (x2 also serves --refine): the published 64 features on a GPU.
stage "coarsr_x4" $HSR train cave_x4 -m coarsr -o coarsr_x4 --model-arg feats=$FEATS --epochs $((6 * K)) \
  --iters-per-epoch 100 --batch-size 16 --lr 5e-4 --schedule cosine --seed 0 -q
stage "coarsr_x2" $HSR train cave_x2 -m coarsr -o coarsr_x2 --model-arg feats=$FEATS --epochs $((3 * K)) \
  --iters-per-epoch 100 --batch-size 16 --lr 5e-4 --schedule cosine --seed 0 -q
echo "all stages done in $W"
