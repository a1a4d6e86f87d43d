#!/usr/bin/env bash
# The main job, from a fresh clone: set-up, build, then
#   tzhost --task countdown --algo grpo --curriculum adaptive
# on the embedded tiny model. Extra arguments go to tzhost.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# libtorch's OpenMP threads spin-wait and run several times slower when other
# processes hold the cores (shared CI machines); passive waiting avoids it.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cargo build --release --workspace
exec target/release/tzhost --task countdown --algo grpo --curriculum adaptive "$@"
