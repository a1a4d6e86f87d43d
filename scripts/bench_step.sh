#!/usr/bin/env bash
# GRPO step speed of the tiny recipe, tinyzero-rs against plain PyTorch +
# transformers, side by side in ONE run on the same machine, threads and
# model: 32 countdown prompts x 8 samples, at most 24 new tokens, one clipped
# update per batch, AdamW. Ours is `tzhost` itself (curriculum `full`, so the
# window is always 24) for a fixed number of steps; the reference is
# scripts/reference/grpo_step.py. Rounds alternate the two sides so that a
# change of load hits both. Prints a markdown table of per-phase seconds per
# step (median over rounds of the mean over timed steps) and the steps/s
# ratio; writes bench_step.md and bench_step.json under the output directory.
#
#   scripts/bench_step.sh                      # 3 warm-up + 20 timed steps, 2 rounds, 2 threads
#   scripts/bench_step.sh --threads 1 --steps 40 --rounds 3 --out DIR
#   scripts/bench_step.sh --smoke              # 1 + 2 steps, 1 round, a 30-step warm start: seconds
#
# TZ_BIN names a built tzhost (plugins beside it) instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0 threads=2 steps=20 warmup=3 rounds=2 out=${OUT:-bench-out}
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=1 ;;
        --threads) threads=$2; shift ;;
        --steps) steps=$2; shift ;;
        --warmup) warmup=$2; shift ;;
        --rounds) rounds=$2; shift ;;
        --out) out=$2; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "bench_step: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
sft=()
if [ $smoke = 1 ]; then
    steps=2 warmup=1 rounds=1
    sft=(--set model.tiny_sft_steps=30)
fi

py=${PYTHON:-}
if [ -z "$py" ]; then
    if [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
fi
"$py" -c 'import torch, transformers, pyarrow' 2>/dev/null || {
    echo "bench_step: $py cannot import torch, transformers and pyarrow (run scripts/setup.sh, or set PYTHON)" >&2
    exit 1
}
bin=${TZ_BIN:-target/release/tzhost}
if [ -z "${TZ_BIN:-}" ]; then
    echo "bench_step: building tzhost and its plugins" >&2
    cargo build --release -q -p tz-host -p tz-countdown -p tz-algorithms -p tz-curricula
fi
[ -x "$bin" ] || { echo "bench_step: $bin is not an executable" >&2; exit 1; }

# Both sides: the same thread count, and passive OpenMP waits (spinning
# threads run several times slower when other processes share the cores).
export OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# The same problems for both sides: 3-number countdown in the compact template.
"$bin" data gen --task countdown --task-config '{"min_operands": 3, "max_operands": 3}' --layout single \
    --template compact --train-size 4096 --test-size 16 --out "$work/data" -q
data="$work/data/countdown/train.parquet"

model=
for round in $(seq 1 "$rounds"); do
    echo "bench_step: round $round/$rounds, tinyzero-rs ($((warmup + steps)) steps)" >&2
    "$bin" train --task countdown --algo grpo --curriculum full "${sft[@]}" -q \
        --set task.train_data="$data" --set trainer.max_minutes=0 --set trainer.total_steps=$((warmup + steps)) \
        --set trainer.save_freq=0 --set eval.size=4 --set eval.samples=1 --set eval.greedy=false \
        --set logging.progress=false --set logging.tensorboard=false --out "$work/ours-$round" >/dev/null
    if [ -z "$model" ]; then
        model=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["model"])' "$work/ours-$round/summary.json")
    fi
    echo "bench_step: round $round/$rounds, PyTorch reference ($((warmup + steps)) steps)" >&2
    "$py" scripts/reference/grpo_step.py --model "$model" --data "$data" --steps "$steps" --warmup "$warmup" \
        --threads "$threads" --out "$work/ref-$round.json" >/dev/null 2>"$work/ref-$round.log" || {
        cat "$work/ref-$round.log" >&2
        exit 1
    }
done

"$py" scripts/reference/bench_step_report.py "$work" --warmup "$warmup" --threads "$threads" \
    --load-before "$load_before" --load-after "$(cut -d' ' -f1-3 /proc/loadavg)" \
    $([ $smoke = 1 ] && echo --smoke) --out-dir "$out"
