#!/usr/bin/env bash
# The main job, from a fresh clone: set-up, build, then
#   tzhost --task countdown --algo grpo --curriculum adaptive
# on the embedded tiny model. Extra arguments go to tzhost.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --workspace
exec target/release/tzhost --task countdown --algo grpo --curriculum adaptive "$@"
