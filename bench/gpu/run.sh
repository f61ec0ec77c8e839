#!/usr/bin/env bash
# The GPU checks, as one short script for a lent GPU machine (CI has no GPU):
# NVML system metrics under load (system_check.py), a transformer fine-tuned
# with and without Fluoro (finetune.py: watch, system metrics, media; steps/s)
# and watch() on CUDA (bench/watch/gpu_check.py), all against the real bin/fluoro.
#
#   make build-go && bash bench/gpu/run.sh        # results under $OUT (default /tmp/fluoro-gpu)
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/fluoro-gpu}
mkdir -p "$OUT"
nvidia-smi -L 2>&1 | tee "$OUT/nvidia-smi.txt"
python3 -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available())' | tee -a "$OUT/nvidia-smi.txt"
data=$(mktemp -d)
export FLUORO_ADMIN_API_KEY=fluoro-gpucheck00000000000000000000000000000000
# SERVER_CPUS=12-15 pins the server to those CPUs (taskset), away from the training thread's.
pin=()
[ -n "${SERVER_CPUS:-}" ] && pin=(taskset -c "$SERVER_CPUS")
"${pin[@]}" bin/fluoro server --addr 127.0.0.1:0 --data "$data" --log-level warn >"$OUT/server.stdout" 2>"$OUT/server.log" &
server=$!
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'listening on http://[^ ]*' "$OUT/server.stdout" | head -1 | cut -d' ' -f3)
  [ -n "$url" ] && break
  sleep 0.1
done
if [ -z "$url" ]; then echo "FAIL: fluoro did not start"; cat "$OUT/server.log"; exit 1; fi
export FLUORO_BASE_URL=$url FLUORO_API_KEY=$FLUORO_ADMIN_API_KEY FLUORO_ENTITY=admin PYTHONPATH=$PWD/sdk/python/src
rc=0
if [ "${RUN_SYSTEM:-1}" = 1 ]; then
  timeout 120 python3 bench/gpu/system_check.py 2>&1 | tee "$OUT/system.txt"; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
fi
if [ "${RUN_FINETUNE:-1}" = 1 ]; then
  timeout 400 python3 bench/gpu/finetune.py 2>&1 | tee "$OUT/finetune.txt"; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
fi
if [ "${RUN_STEPTIMES:-0}" = 1 ]; then  # each part of a step, per feature (steptimes.py): about 2 minutes
  timeout 300 python3 bench/gpu/steptimes.py 2>&1 | tee "$OUT/steptimes.txt"; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
fi
if [ "${RUN_DIAGNOSE:-0}" = 1 ]; then  # where the slowdown comes from: Fluoro against controls (controls.py), ~3 minutes
  VARIANTS=${DIAGNOSE_VARIANTS:-base,all,ghost,server-load,all-offline,all-0.5s,hook,system,watch-all,media,base} ROUNDS=${DIAGNOSE_ROUNDS:-2} \
    timeout 420 python3 bench/gpu/steptimes.py 2>&1 | tee "$OUT/diagnose.txt"; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
fi
if [ "${RUN_BREAKDOWN:-0}" = 1 ]; then  # each feature's share of the slowdown (breakdown.py)
  # 6 variants x 2 rounds x 2 phases of 6 s: about 2.5 minutes, to fit a short device lease
  PHASE_S=${BREAKDOWN_PHASE_S:-6} ROUNDS=${BREAKDOWN_ROUNDS:-2} timeout 400 python3 bench/gpu/breakdown.py 2>&1 | tee "$OUT/breakdown.txt"; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
fi
if [ "${RUN_WATCH_CHECK:-0}" = 1 ]; then  # watch() alone on CUDA (bench/watch/gpu_check.py)
  timeout 300 python3 bench/watch/gpu_check.py 2>&1 | tee "$OUT/watch.txt"; [ "${PIPESTATUS[0]}" = 0 ] || rc=1
fi
kill "$server"; wait "$server"
echo "gpu checks: rc=$rc"
exit $rc
