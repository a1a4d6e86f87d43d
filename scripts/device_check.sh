#!/usr/bin/env bash
# The prepared check of tinyzero-rs on a GPU machine that has PyTorch 2.11
# and transformers but no Rust toolchain: the binaries come built and
# stripped from scripts/build_device_bundle.sh (an ignored `.device/` folder
# to carry). docs/perf.md says how a session with a GPU runs it.
#
#   scripts/device_check.sh                # on the GPU machine; writes to $OUT (else device-check-out/)
#   scripts/device_check.sh --smoke        # the same steps on the CPU with tiny sizes (a CI test runs it)
#   options: --bundle DIR (default .device) | --from-target (this checkout's target/release, or $CARGO_TARGET_DIR/release),
#            --out DIR, --device cuda|cpu (default: cuda, --smoke: cpu)
#
# Steps, in order, each under its own time limit (30 + 90 + 100 + 90 + 170 s:
# at most 8 minutes together),
# each logged to OUT/device_check.log and summarised in OUT/summary.md:
#   1 doctor  `tzhost doctor` on the device
#   2 parity  the core parity tests on the device: logits within 1e-4 (f32)
#             and 1e-2 (bf16) of transformers on the same device, greedy
#             tokens equal, checkpoints round-trip
#   3 tiny    the tiny main job (countdown, GRPO, adaptive) for 60 s of RL:
#             val/acc before and after (OUT/tiny_metrics.jsonl)
#   4 grpo    5 GRPO steps of a random Qwen2.5-0.5B-shaped bf16 model at
#             64 × 1024 tokens (8 prompts × 8 samples, 150 + 874 tokens):
#             time per part and peak memory (OUT/grpo.json)
#   5 bench   scripts/bench_gpu.sh: ceilings, decode eager and with CUDA
#             graphs vs transformers, update vs PyTorch (OUT/bench_gpu.*)
# A failing step is recorded and the next one still runs; the exit status
# is non-zero when any step failed.
#
# It leaves the device as it found it: no driver, clock, persistence or
# compute-mode setting is touched, no process outlives it, and nothing is
# written outside OUT and a temporary directory removed at exit (caches
# included: TZ_CACHE_DIR, HF_HOME and XDG_CACHE_HOME point into it).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

smoke=0
bundle=.device
from_target=0
out=${OUT:-device-check-out}
device=
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=1 ;;
        --bundle) bundle=$2; shift ;;
        --from-target) from_target=1 ;;
        --out) out=$2; shift ;;
        --device) device=$2; shift ;;
        -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
        *) echo "device_check: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
[ -n "$device" ] || device=$([ $smoke = 1 ] && echo cpu || echo cuda)
case "$device" in cpu|cuda) ;; *) echo "device_check: --device must be cpu or cuda" >&2; exit 2 ;; esac

# What to run: a bundle, or this checkout's release build.
if [ $from_target = 1 ]; then
    # Cargo's target directory: ./target unless CARGO_TARGET_DIR moves it.
    bin=${CARGO_TARGET_DIR:-target}/release
    bench_bin=$bin/examples/bench_gpu
    # The newest build of the parity test (cargo names it parity_transformers-<hash>).
    parity_bin=$(ls -t "$bin"/deps/parity_transformers-* 2>/dev/null | grep -v '\.d$' | head -n 1 || true)
else
    bin=$bundle/bin
    bench_bin=$bundle/bin/bench_gpu
    parity_bin=$bundle/tests/parity_transformers
fi
for f in "$bin/tzhost" "$bench_bin" "$parity_bin"; do
    if [ -z "$f" ] || [ ! -x "$f" ]; then
        echo "device_check: '${f:-parity test}' is missing: run scripts/build_device_bundle.sh (or cargo test --release --workspace --no-run for --from-target)" >&2
        exit 1
    fi
done

py=${PYTHON:-}
if [ -z "$py" ]; then
    if [ -x .venv/bin/python ]; then py=$repo/.venv/bin/python; else py=python3; fi
fi
"$py" -c 'import torch, transformers' 2>/dev/null || {
    echo "device_check: $py cannot import torch and transformers (set PYTHON)" >&2
    exit 1
}
if [ "$device" = cuda ] && ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "device_check: torch sees no CUDA device (use --smoke or --device cpu on a CPU machine)" >&2
    exit 1
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/device_check.log
summary=$out/summary.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The binaries' rpath names the build machine's libtorch: use python's here.
torch_lib=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export TZ_CACHE_DIR=$work/cache XDG_CACHE_HOME=$work/xdg HF_HOME=$work/hf HF_HUB_OFFLINE=1
export TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
unset TZ_PLUGIN_PATH TZ_LOG RUST_LOG
# The tiny model's warm start, when the bundle carries it (skips its SFT here).
if [ $from_target = 0 ] && [ -d "$bundle/models" ]; then
    mkdir -p "$TZ_CACHE_DIR" && cp -r "$bundle/models" "$TZ_CACHE_DIR/models"
fi

{
    echo "# device check"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) · $("$py" -c 'import torch; print(torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU")') · device $device$([ $smoke = 1 ] && echo ' · SMOKE (tiny sizes)') · torch $("$py" -c 'import torch; print(torch.__version__)') · bundle $(cat "$bundle/MANIFEST" 2>/dev/null | head -n 1 || echo "target/release")"
    echo
    echo "| step | status | seconds | result |"
    echo "|---|---|---|---|"
} > "$summary"
: > "$log"
failed=0

# step NAME LIMIT_S RESULT_FN RUN_FN: runs the function RUN_FN in a child
# shell under a time limit (timeout ends its whole process group), appends
# its output to the log and one row to the summary (RESULT_FN prints the
# row's result from what the step wrote).
export bin bench_bin parity_bin py repo device smoke work out
step() {
    local name=$1 limit=$2 result=$3 run=$4
    local t0 rc=0 status
    t0=$(date +%s.%N)
    # On a shared CPU the smoke sizes take what the load allows: the limits
    # there only catch a hang.
    [ $smoke = 1 ] && limit=600
    echo "===== $name (limit ${limit}s)" >> "$log"
    export -f "$run"
    timeout --kill-after=10 "$limit" bash -o pipefail -c "$run" >> "$log" 2>&1 || rc=$?
    local seconds
    seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
    case $rc in
        0) status=ok ;;
        124|137) status="**TIMEOUT** (${limit} s)"; failed=1 ;;
        *) status="**FAIL** (exit $rc)"; failed=1 ;;
    esac
    echo "| $name | $status | $seconds | $($result 2>/dev/null | tr '\n' ' ') |" >> "$summary"
    echo "device_check: $name: $status in ${seconds}s" >&2
}

# -- 1. doctor --------------------------------------------------------------
doctor_result() { grep -E "^(FAIL|warn|ok +cuda devices|ok +cuda graphs)" "$work/doctor.txt"; tail -n 1 "$work/doctor.txt"; }
run_doctor() { "$bin/tzhost" doctor --device "$device" | tee "$work/doctor.txt"; }
step doctor 30 doctor_result run_doctor

# -- 2. parity --------------------------------------------------------------
parity_result() { grep -E '^test result' "$work/parity.txt" | tail -n 1; }
run_parity() {
    # --smoke: one test (the CPU suite runs them all anyway).
    local only=()
    [ "$smoke" = 1 ] && only=(logits_match_transformers_on_a_left_padded_batch)
    TZ_TEST_DEVICE=$device TZ_TEST_REPO=$repo TZ_TEST_PYTHON=$py TZ_TEST_TMPDIR=$work \
        "$parity_bin" --test-threads 1 "${only[@]}" 2>&1 | tee "$work/parity.txt"
}
step parity 90 parity_result run_parity

# -- 3. tiny main job -------------------------------------------------------
export tiny_run=$work/runs/tiny
tiny_result() {
    "$py" - "$tiny_run/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"{s['steps']} steps, val/acc {s['val/acc_before']:.3f} -> {s['val/acc_after']:.3f}, "
      f"greedy {s['val/acc_greedy_before']:.3f} -> {s['val/acc_greedy_after']:.3f} ({s['val/size']} problems)")
PY
}
run_tiny() {
    local sizes=()
    if [ $smoke = 1 ]; then
        sizes=(--set trainer.max_minutes=0.05 --set model.tiny_sft_steps=30 --set eval.size=16
               --set eval.samples=2 --set rollout.prompts_per_step=8 --set rollout.n=4)
    else
        sizes=(--set trainer.max_minutes=1)
    fi
    "$bin/tzhost" --task countdown --algo grpo --curriculum adaptive --device "$device" --out "$tiny_run" \
        --set logging.progress=false "${sizes[@]}"
    cp "$tiny_run/metrics.jsonl" "$out/tiny_metrics.jsonl"
}
step tiny 100 tiny_result run_tiny

# -- 4. GRPO steps at 0.5B shape --------------------------------------------
export model=$work/model
grpo_result() {
    "$py" - "$out/grpo.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
peak = g.get("torch_max_allocated_bytes") or g.get("peak_rss_bytes")
kind = "allocated" if g.get("torch_max_allocated_bytes") else "RSS"
s = g["steps"][-1]
print(f"{len(g['steps'])} steps of {g['rows']} × {g['prompt_len'] + g['new_tokens']} tokens, median {g['median_step_seconds']:.2f} s/step "
      f"(last: rollout {s['rollout_seconds']:.2f}, old log-probs {s['old_logprob_seconds']:.2f}, update {s['update_seconds']:.2f}), "
      f"peak {peak / 2**30:.2f} GiB ({kind}); CUDA graphs: {g['graph_stats']['captures']} captured, "
      f"{g['graph_stats']['replays']} replays, {g['graph_stats']['failed_captures']} failed")
PY
}
run_grpo() {
    local size=() shape=(--prompts 8 --n 8 --prompt-len 150 --new-tokens 874 --steps 5 --micro 8)
    [ $smoke = 1 ] && size=(--smoke) && shape=(--prompts 2 --n 4 --prompt-len 8 --new-tokens 8 --steps 2 --micro 4)
    "$py" scripts/bench_gpu_reference.py make-model "$model" "${size[@]}"
    "$bench_bin" grpo "$model" "${shape[@]}" --device "$device" --out "$out/grpo.json"
}
step grpo 90 grpo_result run_grpo

# -- 5. bench_gpu.sh --------------------------------------------------------
bench_result() {
    "$py" - "$out/bench_gpu.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
parts = []
for name, p in r["phases"].items():
    o = p["ours"]
    if name.startswith("decode"):
        g = f", graphs/eager {p['graph_speedup']:.2f}×" if "graph_speedup" in p else ""
        st = o.get("graph_stats") or {}
        if st.get("failed_captures"):
            g += f" (**{st['failed_captures']} graph captures FAILED**: eager)"
        parts.append(f"{name}: {o['tokens_per_s']:,.0f} tok/s = {p['speedup']:.2f}× transformers{g}, "
                     f"{100 * o['roofline_fraction']:.0f}% of roofline")
    else:
        parts.append(f"{name}: {o['tokens_per_s']:,.0f} tok/s = {p['speedup']:.2f}× PyTorch, {100 * o['mfu']:.0f}% MFU")
print("; ".join(parts))
PY
}
run_bench() {
    local size=()
    [ $smoke = 1 ] && size=(--smoke)
    local reuse=()
    [ -f "$model/bench_model.json" ] && reuse=(--model "$model")
    TZ_BENCH_BIN=$bench_bin PYTHON=$py OUT= scripts/bench_gpu.sh "${size[@]}" --device "$device" --out "$out" "${reuse[@]}"
}
step bench 170 bench_result run_bench

cat "$summary" >&2
exit $failed
