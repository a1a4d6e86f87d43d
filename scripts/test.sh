#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, build, every test.
# `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# libtorch's OpenMP threads spin-wait and run several times slower when other
# processes hold the cores (shared CI machines); passive waiting avoids it.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# The integration tests load the plugin libraries built beside tzhost, so
# build the whole workspace (release, the profile tests run in) first.
cargo build --release --workspace
cargo test --release --workspace "$@"
