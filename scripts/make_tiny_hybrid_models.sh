#!/usr/bin/env bash
# Makes the tiny policy and tiny reward model that configs/tiny/hybrid.toml
# uses: a random ~60K-parameter Qwen2 causal LM and a random
# Qwen2ForSequenceClassification (one label) sharing a byte-level character
# tokenizer with a ChatML template, written by transformers. The embedded
# tiny model cannot be used: its vocabulary is compact countdown's 22
# characters and cannot spell a math question.
#
#   scripts/make_tiny_hybrid_models.sh [DIR]     # default: runs/tiny-hybrid-models
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-runs/tiny-hybrid-models}"
python="$root/.venv/bin/python"
[ -x "$python" ] || { echo "error: $python not found: run scripts/setup.sh first" >&2; exit 1; }
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
config='{"vocab_size": 260, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 1024,
         "tie_word_embeddings": true, "eos_token_id": 258, "pad_token_id": 256}'
request="{\"make\": [
  {\"dir\": \"$dir/policy\", \"kind\": \"lm\", \"seed\": 11, \"std\": 0.05, \"config\": $config},
  {\"dir\": \"$dir/rm\", \"kind\": \"rm\", \"seed\": 12, \"config\": $config}]}"
echo "$request" | HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error \
  "$python" "$root/core/tests/python/reward_model_reference.py" >/dev/null 2>&1 \
  || { echo "error: making the tiny models failed (run it by hand to see Python's message)" >&2; exit 1; }
echo "tiny policy:       $dir/policy"
echo "tiny reward model: $dir/rm"
