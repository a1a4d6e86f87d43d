#!/usr/bin/env bash
# Data-parallel throughput of tiny GRPO (issue #16.6), both layouts of the
# same cores in one run: 2 ranks x 1 thread (torchrun, Gloo) against
# 1 process x 2 threads, on the same config and steps; plus the time each
# rank spends in collectives per step (`timing_s/allreduce`: gradient
# all-reduces, the rollout's gathers, decisions, waiting for the slower
# rank) and its share of the step.
#
#   scripts/bench_dist.sh
#   STEPS=30 PROMPTS=32 N=8 scripts/bench_dist.sh
#
# The first two steps are left out (allocator and cache warm-up). On a
# shared machine the figures move with the load: compare the two lines of
# one run, not runs on different days.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-20}
PROMPTS=${PROMPTS:-32}
N=${N:-8}
# Idle OpenMP threads sleep instead of spinning: on a shared machine spinning
# threads steal the cores the other layout's processes need.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
py=.venv/bin/python
torchrun=.venv/bin/torchrun
[ -x "$torchrun" ] || { echo "bench: $torchrun missing; run scripts/setup.sh first" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release -q -p tz-host --bin tzhost
cargo build --release -q --workspace --lib

args=(train --config configs/tiny/countdown.toml --set "trainer.total_steps=$STEPS"
      --set "rollout.prompts_per_step=$PROMPTS" --set "rollout.n=$N"
      --set trainer.max_minutes=0 --set trainer.test_freq=0 --set trainer.save_freq=0
      --set eval.size=8 --set logging.progress=false --set logging.tensorboard=false)

echo "bench: $STEPS tiny GRPO steps of $PROMPTS prompts x $N samples"
OMP_NUM_THREADS=2 target/release/tzhost "${args[@]}" --out "$work/one" >"$work/one.log" 2>&1 \
    || { cat "$work/one.log"; exit 1; }
"$torchrun" --standalone --nproc-per-node 2 --no-python target/release/tzhost "${args[@]}" --out "$work/two" \
    >"$work/two.log" 2>&1 || { cat "$work/two.log"; exit 1; }

"$py" - "$work" <<'PY'
import json, sys
work = sys.argv[1]

def steps(run):
    rows = [json.loads(l) for l in open(f"{work}/{run}/metrics.jsonl")]
    return [r for r in rows if "timing_s/step" in r][2:]

for run, label in [("one", "1 process x 2 threads"), ("two", "2 ranks x 1 thread  ")]:
    s = steps(run)
    step = sum(r["timing_s/step"] for r in s) / len(s)
    line = f"{label}: {1 / step:.3f} steps/s ({step:.3f} s/step over {len(s)} steps)"
    if run == "two":
        comm = sum(r["timing_s/allreduce"] for r in s) / len(s)
        line += f", collectives {comm:.3f} s/step ({100 * comm / step:.1f}% of the step, rank 0)"
    score = sum(r["critic/score/mean"] for r in s) / len(s)
    print(f"{line}, mean score {score:.4f}")
PY
