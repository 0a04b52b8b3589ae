#!/usr/bin/env bash
# The GPU checks in one go, for a machine with a CUDA GPU and atr-bench installed with its test
# extra: the CUDA tests (the Triton VLAD kernels on the GPU, a training loop that never waits
# for the GPU, features read onto it; run while the data is written), whole runs on
# AudioCaps-shaped data (random values, `atr-bench data shaped`) of lou2022 and of the default
# protocol with netrvlad, the parts of a lou2022 epoch (benchmarks/epoch_parts.py), then the
# throughput suite on the GPU. Each run's phases, peak RSS, peak GPU memory and the
# GPU's name, and the epoch's parts, are appended to REPORT.
#
#   bash benchmarks/gpu_check.sh WORK
#
# Environment (defaults in brackets): DEVICE [cuda]; FRACTION of AudioCaps' real split sizes
# [1]; EPOCHS per run [20]; BENCH, the `atr-bench bench` selection [every pooling, both
# benchmarks]; TESTS, the pytest selection [tests/test_vlad_triton.py
# tests/test_cuda_no_waits.py; "none" skips them]; REPORT [leaderboards/real-scale.md];
# BUDGET, the seconds the whole script may take [no limit]: each stage is stopped when the
# time is up, less a minute kept for the report, and the report covers the runs that finished
# and names the stages that did not. A stage that fails does not stop the ones after it; the
# script then exits with 1. On a CPU (DEVICE=cpu, a small FRACTION) it checks the script itself.
set -uo pipefail
work=${1:?usage: bash benchmarks/gpu_check.sh WORK}
device=${DEVICE:-cuda}
fraction=${FRACTION:-1}
epochs=${EPOCHS:-20}
tests=${TESTS:-tests/test_vlad_triton.py tests/test_cuda_no_waits.py}
report=${REPORT:-leaderboards/real-scale.md}
here=$(cd "$(dirname "$0")" && pwd)
deadline=$((SECONDS + ${BUDGET:-1000000000} - 60))
unfinished=()
mkdir -p "$work"

left() { echo $((deadline - SECONDS)); }

stage() { # stage NAME COMMAND...: COMMAND within the time left; a failure is noted, not fatal
    local name=$1 code=0
    shift
    if (($(left) <= 0)); then
        unfinished+=("$name (no time left)")
        return
    fi
    echo "== $name"
    timeout "$(left)" "$@" || code=$?
    if ((code == 124)); then
        unfinished+=("$name (out of time)")
    elif ((code != 0)); then
        unfinished+=("$name (exit $code)")
    fi
}

if [ "$device" = cuda ]; then
    python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')" ||
        exit 1
fi
tests_pid=
if [ "$tests" != none ] && (($(left) > 0)); then
    echo "== CUDA tests (in the background; log: $work/cuda-tests.log)"
    # shellcheck disable=SC2086  # a selection of several test files or options
    timeout "$(left)" python3 -m pytest -q -p no:cacheprovider $tests >"$work/cuda-tests.log" 2>&1 &
    tests_pid=$!
fi
if [ ! -d "$work/data/AudioCaps" ]; then
    stage data atr-bench data shaped audiocaps --out "$work/data" --fraction "$fraction" \
        --no-progress
fi
if [ -n "$tests_pid" ]; then
    code=0
    wait "$tests_pid" || code=$?
    tail -n 3 "$work/cuda-tests.log"
    ((code == 0)) || unfinished+=("CUDA tests (exit $code; see $work/cuda-tests.log)")
fi
for protocol in lou2022 lou2022-tuned; do
    stage "run $protocol" python3 "$here/real_scale.py" --side atr --device "$device" \
        --data "$work/data/AudioCaps" --work "$work/runs" --protocol "$protocol" \
        --pooling netrvlad --epochs "$epochs" --threads "$(nproc)" --label "$device-$protocol"
done
stage "epoch parts" python3 "$here/epoch_parts.py" --device "$device" --fraction "$fraction" \
    --protocol lou2022 --epochs 3 --threads "$(nproc)" --json "$work/epoch-parts.json"
# shellcheck disable=SC2086
stage bench atr-bench bench --device "$device" --threads 0 ${BENCH:-} --json "$work/bench.json" \
    --out "$work" --overwrite
if compgen -G "$work/runs/*.json" >/dev/null; then
    {
        echo
        echo "## Runs on $device, $(date -u +%Y-%m-%d) (benchmarks/gpu_check.sh, FRACTION=$fraction, EPOCHS=$epochs)"
        echo
        python3 "$here/real_scale.py" --report "$work/runs"
        if [ -f "$work/epoch-parts.json" ]; then
            echo "Where a lou2022 epoch goes (\`benchmarks/epoch_parts.py\`, random features in memory):"
            echo
            python3 "$here/epoch_parts.py" --report "$work/epoch-parts.json"
            echo
        fi
        if [ -f "$work/pooling-throughput.md" ]; then
            echo "Throughput tables of this machine: \`$work/pooling-throughput.md\`, \`$work/training-step-throughput.md\`."
        fi
        if ((${#unfinished[@]})); then
            echo
            echo "Stages that did not finish: $(IFS=';' && echo "${unfinished[*]}" | sed 's/;/; /g')."
        fi
    } >>"$report"
    echo "appended to $report"
fi
if ((${#unfinished[@]})); then
    printf 'did not finish: %s\n' "${unfinished[@]}" >&2
    exit 1
fi
