#!/usr/bin/env bash
# The GPU checks in one go, for a machine with a CUDA GPU and atr-bench installed with its test
# extra: the CUDA tests (the Triton VLAD kernels on the GPU), the throughput suite on the GPU,
# and whole runs on AudioCaps-shaped data (random values, `atr-bench data shaped`) of lou2022
# and of the default protocol with netrvlad; each run's phases, peak RSS, peak GPU memory and
# the GPU's name are appended to REPORT.
#
#   bash benchmarks/gpu_check.sh WORK
#
# Environment (defaults in brackets): DEVICE [cuda]; FRACTION of AudioCaps' real split sizes
# [1]; EPOCHS per run [20]; BENCH, the `atr-bench bench` selection [every pooling, both
# benchmarks]; TESTS, the pytest selection [tests/test_vlad_triton.py; "none" skips them];
# REPORT [leaderboards/real-scale.md]. On a CPU (DEVICE=cpu, a small FRACTION) it checks the
# script itself.
set -euo pipefail
work=${1:?usage: bash benchmarks/gpu_check.sh WORK}
device=${DEVICE:-cuda}
fraction=${FRACTION:-1}
epochs=${EPOCHS:-20}
tests=${TESTS:-tests/test_vlad_triton.py}
report=${REPORT:-leaderboards/real-scale.md}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"

if [ "$device" = cuda ]; then
    python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
fi
if [ "$tests" != none ]; then
    # shellcheck disable=SC2086  # a selection of several test files or options
    pytest -q -p no:cacheprovider $tests
fi
# shellcheck disable=SC2086
atr-bench bench --device "$device" --threads 0 ${BENCH:-} --json "$work/bench.json" \
    --out "$work" --overwrite
if [ ! -d "$work/data/AudioCaps" ]; then
    atr-bench data shaped audiocaps --out "$work/data" --fraction "$fraction" --no-progress
fi
for protocol in lou2022 lou2022-tuned; do
    python "$here/real_scale.py" --side atr --device "$device" --data "$work/data/AudioCaps" \
        --work "$work/runs" --protocol "$protocol" --pooling netrvlad --epochs "$epochs" \
        --threads "$(nproc)" --label "$device-$protocol"
done
{
    echo
    echo "## Runs on $device, $(date -u +%Y-%m-%d) (benchmarks/gpu_check.sh, FRACTION=$fraction, EPOCHS=$epochs)"
    echo
    python "$here/real_scale.py" --report "$work/runs"
    echo "Throughput tables of this machine: \`$work/pooling-throughput.md\`, \`$work/training-step-throughput.md\`."
} >> "$report"
echo "appended to $report"
