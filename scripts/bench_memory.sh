#!/usr/bin/env bash
# Peak memory and time of one GRPO step of a Qwen2.5-0.5B-shaped random model
# on the CPU, phase by phase, next to what `tzhost plan` estimates for the
# same run. One process per sequence length (core/examples/grpo_step_memory.rs:
# VmHWM reset before each phase); the plan comes from a run config written
# for the same shape.
#
#   scripts/bench_memory.sh [--lengths "512 1024"] [--rows 8] [--prompt-len 64]
#       [--dtype f32|bf16] [--micro 1] [--logit-chunk 256] [--threads 2]
#       [--samples 1] [--full-rollout] [--rollout-only] [--rows-in-flight N]
#       [--gradient-checkpointing] [--smoke]
#
# Lengths are total positions per row (prompt + response). By default the
# rollout stops after the first token with the KV cache at full capacity (its
# peak memory is reached before the first decode step; decoding 1,000 tokens
# of a 0.5B model takes a long time on 2 cores); --full-rollout decodes every
# token and so also times a real step; --rollout-only stops after it (large
# batches of rows in seconds). --rows-in-flight generates in waves
# (the engine's max_batch_rows); --gradient-checkpointing is passed through
# once the core has it. --smoke: the tiny model's shape, short rows, seconds.
#
# Memory: ~15 GB at the defaults (f32, 8 × 1024, micro-batch 1). Times on a
# shared machine are not meaningful; peaks are.
set -euo pipefail
cd "$(dirname "$0")/.."

lengths="1024"; rows=8; samples=1; prompt_len=64; dtype=f32; micro=1; chunk=256; threads=2
probe_flags=(); plan_flags=(); config_dir=host/plan/testdata/qwen2.5-0.5b
while [ $# -gt 0 ]; do
  case "$1" in
    --lengths) lengths="$2"; shift ;;
    --rows) rows="$2"; shift ;;
    --samples) samples="$2"; shift ;;
    --rollout-only) probe_flags+=(--rollout-only) ;;
    --prompt-len) prompt_len="$2"; shift ;;
    --dtype) dtype="$2"; shift ;;
    --micro) micro="$2"; shift ;;
    --logit-chunk) chunk="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --full-rollout) full=1 ;;
    --rows-in-flight) probe_flags+=(--rows-in-flight "$2"); plan_flags+=(--rows-in-flight "$2"); shift ;;
    --gradient-checkpointing) probe_flags+=(--gradient-checkpointing); plan_flags+=(--gradient-checkpointing) ;;
    --smoke) config_dir=host/plan/testdata/tiny; lengths="48"; prompt_len=16 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
[ -z "${full:-}" ] && probe_flags+=(--first-token-only)

export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" OMP_WAIT_POLICY=PASSIVE
# One build of the whole workspace (tzhost and its plugins) with the probe.
cargo build --release -q --workspace --example grpo_step_memory
py=.venv/bin/python; [ -x "$py" ] || py=python3
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

echo "# $(date -u +%F) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $dtype, $rows prompts × $samples, micro-batch $micro, logit chunk $chunk, $threads threads"
echo "| positions | phase | measured GiB | planned GiB | planned / measured | seconds |"
echo "|---|---|---|---|---|---|"
for len in $lengths; do
  response=$((len - prompt_len))
  cat > "$work/run.toml" <<EOF
[model]
path = "$PWD/$config_dir"
device = "cpu"
dtype = "$dtype"
[algorithm]
chain = ["grpo"]
[rollout]
prompts_per_step = $rows
n = $samples
max_response_length = $response
[trainer]
micro_batch_size = $micro
logit_chunk = $chunk
[eval]
samples = 1
greedy = false
EOF
  target/release/tzhost plan --config "$work/run.toml" --cpu --prompt-len "$prompt_len" "${plan_flags[@]}" --json \
    > "$work/plan.json"
  target/release/examples/grpo_step_memory --config "$config_dir/config.json" --dtype "$dtype" \
    --prompts "$rows" --samples "$samples" --prompt-len "$prompt_len" --response-len "$response" --micro "$micro" \
    --logit-chunk "$chunk" --threads "$threads" "${probe_flags[@]}" > "$work/measured.jsonl"
  "$py" - "$work/plan.json" "$work/measured.jsonl" "$len" <<'EOF'
import json, sys
plan = json.load(open(sys.argv[1]))
device = plan["plan"]["devices"][0]
resident = sum(i["bytes"] for i in device["resident"])
phase = {p["name"]: sum(i["bytes"] for i in p["items"]) for p in device["phases"]}
planned = {
    "baseline": next(i["bytes"] for i in device["resident"] if i["name"].startswith("runtime")),
    "setup": resident,
    "rollout": resident + phase["rollout"],
    "old_logprob": resident + phase["log-prob pass (old policy)"],
    "update": resident + max(phase["actor update"], phase["optimizer step"]),
}
gib = lambda b: b / 2**30
for line in open(sys.argv[2]):
    m = json.loads(line)
    p = planned[m["phase"]]
    # setup's own peak includes the random initialisation; compare what stays.
    measured = m["rss_after"] if m["phase"] == "setup" else m["peak_rss"]
    print(f"| {sys.argv[3]} | {m['phase']} | {gib(measured):.2f} | {gib(p):.2f} | {p / measured:.2f} | {m['seconds']:.1f} |")
EOF
done
