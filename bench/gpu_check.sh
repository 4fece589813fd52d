#!/usr/bin/env bash
# GPU check, one call of under 8 minutes on a machine with an NVIDIA GPU:
#   1. set up (reuse a Python that has torch with CUDA; else lab.sh's set-up: a venv with the
#      system site-packages visible, torch and the project installed by pip),
#   2. the tests that need CUDA (tests/trainers/test_gpu.py, marker "gpu"),
#   3. the GPU benchmark (bench/bench_gpu.py: default run and the large preset, GPU and CPU).
# Everything is printed; the benchmark's JSON goes to bench/out/gpu.json.
#   bash bench/gpu_check.sh            # or: GPU_STEPS=300 CPU_STEPS=10 bash bench/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
START=$(date +%s)
GPU_STEPS="${GPU_STEPS:-500}"
CPU_STEPS="${CPU_STEPS:-20}"
mkdir -p bench/out

has_cuda_torch() { "$1" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; }
has_deps() { "$1" -c "import numpy, scipy, sklearn, pytest" 2>/dev/null; }

echo "== set-up"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
PY=""
for cand in .venv/bin/python .venv-gpu/bin/python python3; do
    if [ -x "$(command -v "$cand" 2>/dev/null || echo "$cand")" ] && has_cuda_torch "$cand" && has_deps "$cand"; then
        PY="$cand"; break
    fi
done
if [ -z "$PY" ] && ! command -v nvidia-smi >/dev/null && [ -x .venv/bin/python ]; then
    echo "[gpu_check] no NVIDIA GPU here: the CUDA tests will skip and the benchmark runs on the CPU only"
    PY=.venv/bin/python
fi
if [ -z "$PY" ]; then
    # lab.sh's set-up, in a separate venv so a CPU-only .venv is left alone
    VENV=.venv-gpu
    [ -x "$VENV/bin/python" ] || python3 -m venv --system-site-packages "$VENV"
    if ! has_cuda_torch "$VENV/bin/python"; then
        echo "[gpu_check] installing torch (the PyPI wheel for Linux is built with CUDA)"
        "$VENV/bin/pip" install -q torch==2.13.0 || "$VENV/bin/pip" install -q torch
    fi
    "$VENV/bin/pip" install -q -e ".[test]" || echo "[gpu_check] pip install -e .[test] failed; trying what is there"
    PY="$VENV/bin/python"
fi
"$PY" -c "import torch; print('python', __import__('sys').version.split()[0], '| torch', torch.__version__, '| CUDA', torch.version.cuda, '| available', torch.cuda.is_available(), '|', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')"
echo "set-up took $(( $(date +%s) - START )) s"

echo "== tests that need CUDA"
T0=$(date +%s)
timeout 240 "$PY" -m pytest -q -rs -m gpu tests/trainers/test_gpu.py
TESTS_RC=$?
echo "tests: exit code $TESTS_RC in $(( $(date +%s) - T0 )) s"

echo "== GPU benchmark"
T0=$(date +%s)
timeout 300 "$PY" bench/bench_gpu.py --steps "$GPU_STEPS" --cpu-steps "$CPU_STEPS" --json bench/out/gpu.json
BENCH_RC=$?
echo "benchmark: exit code $BENCH_RC in $(( $(date +%s) - T0 )) s"
echo "== gpu_check done in $(( $(date +%s) - START )) s (tests rc $TESTS_RC, benchmark rc $BENCH_RC)"
[ "$TESTS_RC" -eq 0 ] && [ "$BENCH_RC" -eq 0 ]
