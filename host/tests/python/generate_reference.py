"""What transformers generates, for host/tests/generate.rs.

Reads one JSON request on stdin, writes one JSON answer on stdout.

request: {"make": [{"dir": str, "tokenizer_from": str, "model_type": str (default "qwen2"),
                    "config": {...}, "seed": int}],
          "generate": [{"dir": str, "prompt": str, "chat": bool, "system": str | null,
                        "new_tokens": int}]}
answer:  {"texts": [{"keep": str, "skip": str, "tokens": int}]}

"make" writes a random *ForCausalLM of the model_type's family (weights
N(0, 0.3), norms 1 + N(0, 0.3)) with save_pretrained and copies the tokenizer
files (and a generation_config.json) next to it; without a vocab_size in the
config, the vocabulary is the tokenizer's. "generate"
runs greedy model.generate() on the prompt (plain: tokenizer(prompt); chat:
apply_chat_template with the generation prompt) and decodes the new tokens
with and without special tokens.
"""
import json
import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer


def make(job):
    torch.manual_seed(job["seed"])
    kwargs = dict(job["config"])
    kwargs.setdefault("vocab_size", len(AutoTokenizer.from_pretrained(job["tokenizer_from"])))
    config = AutoConfig.for_model(job.get("model_type", "qwen2"), **kwargs)
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn_like(param) * 0.3
            param.copy_(noise + 1.0 if name.endswith("norm.weight") else noise)
    model.save_pretrained(job["dir"])
    for f in Path(job["tokenizer_from"]).iterdir():
        if f.name.startswith("tokenizer") or f.name in ("special_tokens_map.json", "chat_template.jinja",
                                                         "generation_config.json"):
            shutil.copy(f, Path(job["dir"]) / f.name)


def generate(job):
    tok = AutoTokenizer.from_pretrained(job["dir"])
    model = AutoModelForCausalLM.from_pretrained(job["dir"], dtype=torch.float32).eval()
    if job["chat"]:
        messages = ([{"role": "system", "content": job["system"]}] if job.get("system") else [])
        messages.append({"role": "user", "content": job["prompt"]})
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    else:
        ids = tok(job["prompt"])["input_ids"]
    ids = torch.tensor([ids])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=job["new_tokens"], pad_token_id=tok.pad_token_id)
    new = out[0, ids.shape[1]:].tolist()
    return {"keep": tok.decode(new, skip_special_tokens=False),
            "skip": tok.decode(new, skip_special_tokens=True), "tokens": len(new)}


def main():
    torch.set_num_threads(1)
    req = json.load(sys.stdin)
    for job in req.get("make", []):
        make(job)
    json.dump({"texts": [generate(job) for job in req.get("generate", [])]}, sys.stdout)


if __name__ == "__main__":
    main()
