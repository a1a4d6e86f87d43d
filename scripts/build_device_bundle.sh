#!/usr/bin/env bash
# Builds and strips, on this (CPU) machine, everything scripts/device_check.sh
# runs on a GPU machine without a Rust toolchain, into an ignored folder to
# carry there (docs/perf.md, "Device check"):
#
#   .device/bin/tzhost, .device/bin/libtz_*.so    the binary and its plugins
#   .device/bin/bench_gpu                         core/examples/bench_gpu.rs
#   .device/tests/parity_transformers             the core parity test binary
#   .device/models/tiny-countdown-0               the tiny model's warm start, when cached here
#   .device/MANIFEST                              commit, date, sizes
#
#   scripts/build_device_bundle.sh [DIR]          (default .device)
#
# The binaries need glibc >= 2.34 and PyTorch 2.11.0 on the target (found
# through python's torch/lib at run time). Stripped, the bundle is a few tens
# of MB: well inside the device tool's 64 MiB with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.device}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

cargo build --release --workspace
cargo build --release -p tz-core --example bench_gpu
# The test binary's path has a hash: ask cargo for it.
parity=$(cargo test --release -p tz-core --test parity_transformers --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "parity_transformers" and m.get("executable"):
        print(m["executable"])')
[ -x "$parity" ] || { echo "build_device_bundle: cannot find the parity_transformers test binary" >&2; exit 1; }

tmp="$dest.tmp-$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/tests"
strip -o "$tmp/bin/tzhost" target/release/tzhost
for lib in target/release/libtz_*.so; do
    strip -o "$tmp/bin/$(basename "$lib")" "$lib"
done
strip -o "$tmp/bin/bench_gpu" target/release/examples/bench_gpu
strip -o "$tmp/tests/parity_transformers" "$parity"

# The warm start of the tiny main job (built on first use, ~70 s of SFT):
# carried, the device spends its minutes on RL instead.
models=${TZ_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tinyzero-rs}/models
if [ -d "$models/tiny-countdown-0" ]; then
    mkdir -p "$tmp/models"
    cp -r "$models/tiny-countdown-0" "$tmp/models/"
else
    echo "build_device_bundle: no cached tiny warm start in $models (run tzhost once to make it); the device builds it" >&2
fi

{
    echo "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo '+uncommitted') built $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    (cd "$tmp" && find . -type f ! -name MANIFEST -printf '%P %s\n' | sort)
} > "$tmp/MANIFEST"
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "build_device_bundle: $(du -sh "$dest" | cut -f1) in $dest ($(head -n 1 "$dest/MANIFEST"))"
