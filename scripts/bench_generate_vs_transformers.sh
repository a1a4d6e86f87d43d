#!/usr/bin/env bash
# Greedy generation speed, tinyzero-rs vs transformers `generate`, on the same
# random Qwen2.5-0.5B-shaped checkpoint (f32, CPU), the same prompts, batch
# and thread count, in one run.
#
#   scripts/bench_generate_vs_transformers.sh
#   THREADS=2 BATCH=4 PROMPT_LEN=16 NEW_TOKENS=32 scripts/bench_generate_vs_transformers.sh
#
# Needs scripts/setup.sh to have run (the PyTorch + transformers venv).
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
BATCH=${BATCH:-4}
PROMPT_LEN=${PROMPT_LEN:-16}
NEW_TOKENS=${NEW_TOKENS:-32}
py=.venv/bin/python
[ -x "$py" ] || { echo "bench: $py missing; run scripts/setup.sh first" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "bench: building the Rust side"
cargo build --release -q -p tz-core --example bench_generate

echo "bench: writing a random Qwen2.5-0.5B-shaped checkpoint and timing transformers ($THREADS threads, batch $BATCH, $PROMPT_LEN prompt + $NEW_TOKENS new tokens)"
"$py" - "$work" "$THREADS" "$BATCH" "$PROMPT_LEN" "$NEW_TOKENS" <<'PY'
import json, sys, time, torch
from transformers import Qwen2Config, Qwen2ForCausalLM
work, threads, batch, plen, new = sys.argv[1], *map(int, sys.argv[2:])
torch.set_num_threads(threads)
torch.manual_seed(0)
cfg = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                  num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                  rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                  bos_token_id=151643, eos_token_id=151643)
model = Qwen2ForCausalLM(cfg).eval()
model.save_pretrained(work + "/model", max_shard_size="20GB")
g = torch.Generator().manual_seed(1)
ids = torch.randint(3, 151643, (batch, plen), generator=g)
json.dump(ids.tolist(), open(work + "/prompts.json", "w"))
kw = dict(do_sample=False, max_new_tokens=new, min_new_tokens=new, pad_token_id=0,
          attention_mask=torch.ones_like(ids))
with torch.no_grad():
    model.generate(ids, **kw)  # warm-up
    times, out = [], None
    for _ in range(3):
        t0 = time.perf_counter()
        out = model.generate(ids, **kw)
        times.append(time.perf_counter() - t0)
times.sort()
gen = out[:, plen:]
tps = gen.numel() / times[1]
print(f"transformers {__import__('transformers').__version__} generate: {gen.numel()} new tokens, median {times[1]:.3f} s, {tps:.1f} tokens/s ({threads} threads)")
json.dump({"tokens_per_s": tps, "generated": gen.tolist()}, open(work + "/hf.json", "w"))
PY

echo "bench: timing tinyzero-rs"
target/release/examples/bench_generate "$work/model" "$work/prompts.json" "$THREADS" "$NEW_TOKENS" "$work/hf.json"
