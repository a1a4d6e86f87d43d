#!/usr/bin/env bash
# Rollout and update speed, tinyzero-rs vs PyTorch, in ONE run, on a random
# Qwen2.5-0.5B-shaped bf16 model (docs/perf.md has the method):
#   decode  32 prompts × 8 samples and 256 × 1, 150-token prompts, 1024 new
#           tokens: ours (rollout engine; on CUDA with CUDA graphs and eager)
#           vs transformers `generate`, and the fraction of the bandwidth roofline;
#   update  one GRPO update on 256 × 1024 tokens: ours vs plain PyTorch, MFU;
#   peak memory of each (GPU: polled with nvidia-smi; CPU: peak RSS).
# Prints a markdown table; writes bench_gpu.md, bench_gpu.json and every
# phase's JSON under the output directory ($OUT if set, else bench-out/).
#
#   scripts/bench_gpu.sh                  # full size, on CUDA when torch sees a GPU
#   scripts/bench_gpu.sh --smoke          # tiny shapes, seconds on a CPU: checks the pipeline only
#   scripts/bench_gpu.sh --device cpu --out DIR --repeats 3   (median of 3; default 1, smoke 3)
#   scripts/bench_gpu.sh --model DIR      # reuse a model made by `bench_gpu_reference.py make-model`
#
# The Rust side is core/examples/bench_gpu.rs, built here with cargo unless
# TZ_BENCH_BIN names a built binary (a machine without cargo: build it
# elsewhere and carry it; libtorch is then taken from python's torch).
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
device=auto
out=${OUT:-bench-out}
repeats=
model=
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=1 ;;
        --device) device=$2; shift ;;
        --out) out=$2; shift ;;
        --repeats) repeats=$2; shift ;;
        --model) model=$2; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "bench_gpu: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done

py=${PYTHON:-}
if [ -z "$py" ]; then
    if [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
fi
"$py" -c 'import torch, transformers' 2>/dev/null || {
    echo "bench_gpu: $py cannot import torch and transformers (run scripts/setup.sh, or set PYTHON)" >&2
    exit 1
}
if [ "$device" = auto ]; then
    device=$("$py" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
fi
case "$device" in cpu|cuda) ;; *) echo "bench_gpu: --device must be cpu, cuda or auto" >&2; exit 2 ;; esac

bin=${TZ_BENCH_BIN:-target/release/examples/bench_gpu}
if [ -z "${TZ_BENCH_BIN:-}" ]; then
    command -v cargo >/dev/null || { echo "bench_gpu: no cargo here; set TZ_BENCH_BIN to a built bench_gpu" >&2; exit 1; }
    echo "bench_gpu: building the Rust side (cargo build --release -p tz-core --example bench_gpu)" >&2
    cargo build --release -q -p tz-core --example bench_gpu
fi
[ -x "$bin" ] || { echo "bench_gpu: $bin is not an executable" >&2; exit 1; }
# The binary's rpath names the build machine's libtorch; fall back to python's.
torch_lib=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

if [ -z "$repeats" ]; then repeats=$([ $smoke = 1 ] && echo 3 || echo 1); fi
if [ $smoke = 1 ]; then
    plen=8 new=8 cfg_a="4 2" cfg_b="8 1" rows=8 seq=32 upd_plen=8 micro=4
else
    plen=150 new=1024 cfg_a="32 8" cfg_b="256 1" rows=256 seq=1024 upd_plen=150 micro=8
fi

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
phases="$work/phases"
mkdir -p "$phases"
echo '{}' > "$phases/gpu_mem.json"

# Runs "$@" while polling the GPU's used memory; records the peak over the
# idle level under key $1 of gpu_mem.json.
with_memory() {
    local key=$1; shift
    if [ "$device" != cuda ] || ! command -v nvidia-smi >/dev/null; then
        "$@"
        return
    fi
    local base log poller
    base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0)
    log="$work/mem_$key.txt"
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 50 > "$log" &
    poller=$!
    "$@"
    kill "$poller" 2>/dev/null; wait "$poller" 2>/dev/null || true
    "$py" - "$phases/gpu_mem.json" "$key" "$base" "$log" <<'PY'
import json, sys
path, key, base, log = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
vals = [float(l) for l in open(log) if l.strip().replace(".", "", 1).isdigit()]
mem = json.load(open(path)); mem[key] = (max(vals) - base) if vals else None
json.dump(mem, open(path, "w"), indent=2)
PY
}

ref="$py scripts/bench_gpu_reference.py"
size=$([ $smoke = 1 ] && echo --smoke || true)
echo "bench_gpu: device $device, $([ $smoke = 1 ] && echo 'SMOKE shapes (CPU check only)' || echo 'Qwen2.5-0.5B shape'), output $out" >&2
if [ -z "$model" ]; then
    model="$work/model"
    $ref make-model "$model" $size
fi
cp "$model/bench_model.json" "$phases/model.json"
vocab=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$phases/model.json")
$ref ceilings --device "$device" $size --out "$phases/ceilings.json"

for cfg in "$cfg_a" "$cfg_b"; do
    set -- $cfg
    name="decode_${1}x${2}"
    $ref prompts "$work/prompts_$1.json" --count "$1" --len "$plen" --vocab "$vocab"
    echo "bench_gpu: $name (transformers)" >&2
    with_memory "ref_$name" $ref decode "$model" "$work/prompts_$1.json" --n "$2" --new-tokens "$new" \
        --device "$device" --repeats "$repeats" --out "$phases/ref_$name.json"
    echo "bench_gpu: $name (tinyzero-rs)" >&2
    with_memory "ours_$name" "$bin" decode "$model" "$work/prompts_$1.json" --n "$2" --new-tokens "$new" \
        --device "$device" --repeats "$repeats" --graphs on --out "$phases/ours_$name.json"
    # (--smoke runs it on the CPU too, where both are eager: it checks the pipeline.)
    if [ "$device" = cuda ] || [ $smoke = 1 ]; then
        echo "bench_gpu: $name (tinyzero-rs, eager: no CUDA graphs)" >&2
        with_memory "eager_$name" "$bin" decode "$model" "$work/prompts_$1.json" --n "$2" --new-tokens "$new" \
            --device "$device" --repeats "$repeats" --graphs off --out "$phases/eager_$name.json"
    fi
done

echo "bench_gpu: update (plain PyTorch)" >&2
with_memory ref_update $ref update "$model" --rows "$rows" --prompt-len "$upd_plen" --seq-len "$seq" \
    --micro "$micro" --device "$device" --repeats "$repeats" --out "$phases/ref_update.json"
echo "bench_gpu: update (tinyzero-rs)" >&2
with_memory ours_update "$bin" update "$model" --rows "$rows" --prompt-len "$upd_plen" --seq-len "$seq" \
    --micro "$micro" --device "$device" --repeats "$repeats" --out "$phases/ours_update.json"

$ref report "$phases" --out-dir "$out"
