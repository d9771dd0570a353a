#!/usr/bin/env bash
# Retrain every bundled model from ../shared/data (CPU or GPU; the commands are the record).
# Usage: bash scripts/train_bundled.sh [WORK_DIR]   (default: ../runs)
# Each stage appends its wall time to WORK_DIR/timings.txt; then scripts/make_model_card.py
# copies the best checkpoint into hsrcli/weights/ with a model card. Epoch and iteration counts
# are sized for a 2-core CPU; raise them on a GPU.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:-$ROOT/../runs}
S=$ROOT/../shared/data
HSR=${HSR:-hsr}
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
  # CAVE: 3 held-out test scenes chosen with seed 0 (the evaluation split); 48-pixel HR patches.
  stage "cave_x$s" $HSR prepare "$S"/cave/*_ms -o "cave_x$s" -s $s --test-scenes 3 --seed 0 --patch 48 --stride 24 -q
  stage "jasper_x$s" $HSR prepare "$S/airborne/jasperRidge2_R198.mat" -o "jasper_x$s" -s $s --test-fraction 0.2 \
    --val-fraction 0.1 --patch 48 --stride 6 --guard 4 -q
  stage "samson_x$s" $HSR prepare "$S/airborne/Samson.mat" -o "samson_x$s" -s $s --test-fraction 0.2 \
    --val-fraction 0.1 --patch 48 --stride 6 --guard 4 -q
done
# 31-band CAVE models at x4: LKCA-Net (teacher), then LKCA-LR distilled from it (rank 4 per phase group).
stage "lkca_x4" $HSR train cave_x4 -m lkca -o lkca_x4 --epochs 12 --iters-per-epoch 250 --batch-size 16 \
  --lr 5e-4 --schedule cosine --seed 0 -q
stage "lkca-lr-kd_x4" $HSR train cave_x4 -m lkca-lr -o lkca-lr-kd_x4 --teacher lkca_x4/best.pt --init-from-teacher \
  --model-arg lr_rank=4 --epochs 12 --iters-per-epoch 250 --batch-size 16 --lr 5e-4 --schedule cosine --seed 0 -q
# Band-agnostic LKCA on CAVE + airborne scenes (random 8-band windows), x4 and x2.
stage "lkca-g_x4" $HSR train cave_x4 jasper_x4 samson_x4 -m lkca-g -o lkca-g_x4 --epochs 30 \
  --iters-per-epoch 500 --batch-size 32 --lr 5e-4 --schedule cosine --seed 0 -q
stage "lkca-g_x2" $HSR train cave_x2 jasper_x2 samson_x2 -m lkca-g -o lkca-g_x2 --epochs 10 \
  --iters-per-epoch 300 --batch-size 32 --lr 5e-4 --schedule cosine --seed 0 -q
# CoarSR for 31-band data at x4 and x2 (x2 also serves --refine), 16 features instead of 64 to train on a CPU.
stage "coarsr_x4" $HSR train cave_x4 -m coarsr -o coarsr_x4 --model-arg feats=16 --epochs 6 \
  --iters-per-epoch 100 --batch-size 16 --lr 5e-4 --schedule cosine --seed 0 -q
stage "coarsr_x2" $HSR train cave_x2 -m coarsr -o coarsr_x2 --model-arg feats=16 --epochs 3 \
  --iters-per-epoch 100 --batch-size 16 --lr 5e-4 --schedule cosine --seed 0 -q
echo "all stages done in $W"
