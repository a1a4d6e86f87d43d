"""Reference Qwen2 runs with transformers for core/tests/parity_transformers.rs.

Reads one JSON request on stdin, writes one JSON answer on stdout.

request:
  {"make": [{"dir": str, "config": {Qwen2Config kwargs}, "seed": int,
             "std": float, "max_shard_size": str | null}],
   "run":  [{"dir": str, "input_ids": [[int]], "attention_mask": [[int]],
             "new_tokens": int, "device": "cpu" | "cuda", "dtype": "float32" | "bfloat16"}]}
answer:
  {"runs": [{"logits": [[[float]]], "greedy": [[int]], "torch_dtype": str}]}

"make" writes random Qwen2ForCausalLM checkpoints with save_pretrained (weights
drawn N(0, std), norm weights 1 + N(0, std), so logits are far from uniform).
"run" loads a directory with AutoModelForCausalLM (float32 on the CPU unless
the job names another device and dtype) and returns
the logits for a (possibly left-padded) batch, with positions counted over real
tokens as generate() does, plus `new_tokens` greedy tokens per row from
generate() (no EOS, so every row runs the full length).
"""
import json
import sys

import torch
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM


def make(job):
    torch.manual_seed(job["seed"])
    config = Qwen2Config(**job["config"])
    model = Qwen2ForCausalLM(config)
    std = job.get("std", 0.15)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn_like(param) * std
            param.copy_(noise + 1.0 if name.endswith("norm.weight") else noise)
    kwargs = {}
    if job.get("max_shard_size"):
        kwargs["max_shard_size"] = job["max_shard_size"]
    model.save_pretrained(job["dir"], **kwargs)


def run(job):
    device = torch.device(job.get("device", "cpu"))
    dtype = getattr(torch, job.get("dtype", "float32"))
    model = AutoModelForCausalLM.from_pretrained(job["dir"], dtype=dtype).to(device)
    model.eval()
    ids = torch.tensor(job["input_ids"], dtype=torch.long, device=device)
    mask = torch.tensor(job["attention_mask"], dtype=torch.long, device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits.float().cpu()
        greedy = []
        if job.get("new_tokens", 0) > 0:
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                do_sample=False,
                max_new_tokens=job["new_tokens"],
                min_new_tokens=job["new_tokens"],
                eos_token_id=None,
                pad_token_id=0,
            )
            greedy = out[:, ids.shape[1]:].tolist()
    config = json.load(open(f"{job['dir']}/config.json"))
    return {
        "logits": logits.tolist(),
        "greedy": greedy,
        "torch_dtype": config.get("torch_dtype") or config.get("dtype"),
    }


def main():
    torch.set_num_threads(1)
    req = json.load(sys.stdin)
    for job in req.get("make", []):
        make(job)
    runs = [run(job) for job in req.get("run", [])]
    json.dump({"runs": runs}, sys.stdout)


if __name__ == "__main__":
    main()
