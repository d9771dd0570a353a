#!/usr/bin/env bash
# Train the bundled models on a lent GPU machine (run there, from the repo root the device tool gives).
# The pieces come from scripts/gpu_pack.py (see .gpu/plan.txt); everything lives under $HSR_GPU_HOME
# (default /root/hsr-gpu) and is re-creatable from the repo and ../shared/data.
#
#   bash scripts/gpu_remote.sh recv .gpu/pN     copy one piece of data/wheels onto the machine
#   bash scripts/gpu_remote.sh start N          check all N pieces arrived; install the wheels; copy the
#                                               source; record the hardware; start scripts/train_bundled.sh
#                                               (PROFILE=gpu, MINUTES) in the background with setsid; run the
#                                               CUDA tests (-m gpu) while the data sets are being made
#   bash scripts/gpu_remote.sh watch SECONDS    report progress every 30 s for up to SECONDS (or until the
#                                               training ends), then put the results in $OUT/runs.tar.NN
#   bash scripts/gpu_remote.sh bench            benchmarks/upscale_speed.py on the GPU (bf16 and fp32; then one bf16
#                                               run per BENCH_ARGS="--tile 544|--batch 4" entry) -> bench.log
#   bash scripts/gpu_remote.sh collect          only the last step
# Re-running `start` on a machine that still holds the runs continues them (stages skip or --resume).
set -euo pipefail
H=${HSR_GPU_HOME:-/root/hsr-gpu}
REPO=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$H/src:$H/site PYTHONUNBUFFERED=1
mkdir -p "$H"

status() {  # one line per run folder: epochs, last and best validation PSNR
  for log in "$H"/runs/*/log.csv; do
    [ -f "$log" ] || continue
    awk -F, -v run="$(basename "$(dirname "$log")")" 'NR > 1 { n = $1; p = $5; s += $8; if (p > b) b = p }
      END { printf "%-16s epoch %4s  val %7.3f  best %7.3f  %6.0f s\n", run, n, p, b, s }' "$log"
  done
  grep -h "FAILED" "$H/train.log" 2>/dev/null || true
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /' || true
}

collect() {  # best checkpoints, logs and configs -> $OUT/runs.tar.NN (15 MiB parts)
  local out=${OUT:?OUT is set by the device tool}
  (cd "$H" && tar cf "$H/runs.tar" --ignore-failed-read hardware.txt train.log tests.log bench.log runs/timings.txt \
     runs/*.log runs/*/best.pt runs/*/log.csv runs/*/config.json 2>/dev/null || true)
  split -b 15M -d "$H/runs.tar" "$out/runs.tar."
  ls -la "$out"
}

case ${1:-} in
  recv)
    shift
    for p in "$@"; do cp -r "$REPO/$p/." "$H/"; touch "$H/.got-$(basename "$p")"; done
    du -sh "$H"/data "$H"/whl 2>/dev/null || true ;;
  start)
    n=${2:?number of pieces}
    for i in $(seq 1 "$n"); do [ -f "$H/.got-p$i" ] || { echo "piece p$i has not arrived" >&2; exit 2; }; done
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$H/site" \
      "$H"/whl/*.whl
    rm -rf "$H/src" && mkdir -p "$H/src"
    cp -r "$REPO"/{hsrcli,scripts,benchmarks,tests,sample_data,pyproject.toml} "$H/src/"
    { nvidia-smi -L; grep -m1 "model name" /proc/cpuinfo; nproc;
      python3 -c "import torch, rasterio, spectral; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'rasterio', rasterio.__version__, 'spectral', spectral.__version__)"; } > "$H/hardware.txt"
    cat "$H/hardware.txt"
    cd "$H/src"
    PROFILE=gpu MINUTES=${MINUTES:-15} FINETUNE=${FINETUNE:-0} INIT_DIR=${INIT_DIR:-$H/init} DATA=$H/data HSR="python3 -m hsrcli" PY=python3 \
      setsid nohup bash scripts/train_bundled.sh "$H/runs" > "$H/train.log" 2>&1 < /dev/null &
    echo "training started (pid $!), log $H/train.log"
    [ "${TESTS:-1}" = 0 ] || python3 -m pytest -q -p no:cacheprovider -m gpu tests 2>&1 | tee "$H/tests.log" | tail -15 ;;
  watch)
    end=$(( $(date +%s) + ${2:?seconds} ))
    while [ "$(date +%s)" -lt "$end" ]; do
      echo "--- $(date +%T)"; status
      grep -q "all stages done" "$H/train.log" 2>/dev/null && break
      pgrep -f train_bundled.sh > /dev/null || { echo "training is not running"; break; }
      sleep 30
    done
    tail -3 "$H/train.log"; collect ;;
  bench)
    cd "$H/src"
    IFS='|' read -r -a BENCH_ARGS <<< "${BENCH_ARGS:-}"
    for amp in bf16 off; do
      python3 benchmarks/upscale_speed.py --device cuda --amp "$amp" --size 512 --bands 64 2>&1 | tee -a "$H/bench.log"
    done
    for extra in "${BENCH_ARGS[@]}"; do  # e.g. BENCH_ARGS="--tile 544|--batch 4": one bf16 run each
      python3 benchmarks/upscale_speed.py --device cuda --amp bf16 --size 512 --bands 64 --runs 1 \
        --upscale-args "$extra" 2>&1 | tee -a "$H/bench.log"
    done ;;
  collect) collect ;;
  *) sed -n 2,16p "$0"; exit 2 ;;
esac
