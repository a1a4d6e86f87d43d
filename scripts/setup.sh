#!/usr/bin/env bash
# One-time (and idempotent) set-up: the PyTorch 2.11.0 venv that tch 0.24
# links against, shared by every clone through the user cache.
#
#   TZ_CACHE_DIR   where the venv lives (default: $XDG_CACHE_HOME/tinyzero-rs
#                  or ~/.cache/tinyzero-rs)
#
# It also installs what the distributed layer (core/dist) compiles against:
# Debian's libgloo-dev (the Gloo headers libtorch's ProcessGroupGloo.hpp
# includes; apt-get, as root or through sudo) and, in the venv, the CUDA
# header wheels the NCCL process group's headers need.
#
# After it, plain `cargo build` works: .cargo/config.toml points torch-sys at
# the `.libtorch` link made here, and every binary carries an rpath to
# torch/lib (build-support/link_libtorch.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
# CUDA headers of torch's CUDA 13 build (crt/host_config.h, nv/target).
CUDA_HEADER_WHEELS="nvidia-cuda-crt==13.0.88 nvidia-cuda-cccl==13.0.85"
TRANSFORMERS_VERSION=5.23.0
PYARROW_VERSION=26.0.1
# CUDA runtime headers' crt/ part (the wheel brings the rest): core/cuda-graph
# compiles its CUDA-graph shim against them. Headers only; no GPU needed.
CUDA_CRT_VERSION=13.0.88
cache="${TZ_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tinyzero-rs}"
venv="$cache/venv-torch-$TORCH_VERSION"
stamp="$venv/.tinyzero-complete-$TORCH_VERSION-$TRANSFORMERS_VERSION-$PYARROW_VERSION-crt$CUDA_CRT_VERSION"

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) first" >&2
  exit 1
fi
python=${PYTHON:-python3}
if ! command -v "$python" >/dev/null 2>&1; then
  echo "setup: $python not found; install Python 3.10+ with venv and pip" >&2
  exit 1
fi

if [ ! -f "$stamp" ]; then
  echo "setup: creating the PyTorch $TORCH_VERSION venv in $venv (about 5 GB, a few minutes, once per machine)"
  mkdir -p "$cache"
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet \
    "torch==$TORCH_VERSION" "transformers==$TRANSFORMERS_VERSION" "pyarrow==$PYARROW_VERSION"
  touch "$stamp"
fi

# core/dist: Gloo headers (the wheel has Gloo compiled in, not its headers).
if [ ! -f /usr/include/gloo/algorithm.h ] && [ -z "${GLOO_INCLUDE_DIR:-}" ]; then
  echo "setup: installing libgloo-dev (Gloo headers for the distributed layer)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: no apt-get: install Gloo's headers and set GLOO_INCLUDE_DIR to their include directory" >&2
    exit 1
  fi
  $sudo apt-get install -y -qq libgloo-dev >/dev/null 2>&1 \
    || { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq libgloo-dev >/dev/null; }
fi
# core/dist: the CUDA headers the NCCL process group includes (a few MB).
cuda_stamp="$venv/.tinyzero-cuda-headers-${CUDA_HEADER_WHEELS// /-}"
if [ ! -f "$cuda_stamp" ]; then
  echo "setup: installing the CUDA header wheels ($CUDA_HEADER_WHEELS)"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pip install --quiet $CUDA_HEADER_WHEELS
  touch "$cuda_stamp"
fi

torch_dir=$("$venv/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__))')
got=$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
if [ "$got" != "$TORCH_VERSION" ]; then
  echo "setup: $venv has torch $got, tch 0.24 needs $TORCH_VERSION; remove the venv and re-run" >&2
  exit 1
fi
ln -sfn "$torch_dir" .libtorch
ln -sfn "$venv" .venv
echo "setup: libtorch $TORCH_VERSION at $torch_dir"
