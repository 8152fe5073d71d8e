#!/usr/bin/env bash
# The checks that need a machine with an NVIDIA GPU and many cores, in one run of about five
# minutes, without vLLM and without fetching anything:
#   1. scripts/gpu_check.py: NVML telemetry under a PyTorch load, the energy counter against
#      integrated power, device-to-profile matching, copy bandwidth and BF16 compute against
#      the profile;
#   2. scripts/bench_capacity.py: the bench client's scaling with 1, 2 and 4 worker
#      processes on cores of their own, against the Python test server in 8 processes on
#      8 other cores (16 cores in all; fewer cores: set SERVER_CORES, CLIENT_CORES, WORKERS).
#
# localeval's modules need pydantic and what it needs; everything else they import at this
# stage (click, rich, httpx, psutil, pyyaml, uvloop, numpy, matplotlib, prometheus-client,
# nvidia-ml-py) is usually there beside PyTorch. Wheels put in .whl/ are installed first
# (into /tmp/site): pydantic, pydantic-core, annotated-types and typing-inspection built for
# that machine's Python.
#
#   OUT=/some/dir bash scripts/device_checks.sh      # figures under $OUT (default device-out)
set -u
out=${OUT:-device-out}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 2
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
echo "cores: $(nproc); python: $(python3 --version 2>&1)" | tee "$out/machine.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    >>"$out/machine.txt" 2>&1

timeout 300 python3 scripts/gpu_check.py --out "$out/gpu_check.json" 2>&1 |
    tee "$out/gpu_check.txt"

timeout 420 python3 scripts/bench_capacity.py --server python \
    --server-processes "${SERVER_PROCESSES:-8}" --server-cores "${SERVER_CORES:-0-7}" \
    --client-cores "${CLIENT_CORES:-8-15}" --workers "${WORKERS:-1,2,4}" \
    --concurrency "${CONCURRENCY:-1024,2048}" --duration 8 --memory-duration 0 \
    --json "$out/capacity.json" 2>&1 | tee "$out/capacity.txt"
