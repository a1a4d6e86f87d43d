#!/usr/bin/env bash
# The whole test suite, from a fresh clone: set-up, build, every test.
# `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The integration tests load the plugin libraries built beside tzhost, so
# build the whole workspace (release, the profile tests run in) first.
cargo build --release --workspace
cargo test --release --workspace "$@"
