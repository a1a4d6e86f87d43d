"""Reference decoder runs with transformers for core/tests/parity_transformers.rs
(and the checkpointing tests): Qwen2, Llama, Qwen3 and Mistral.

Reads one JSON request on stdin, writes one JSON answer on stdout.

request:
  {"make": [{"dir": str, "model_type": "qwen2" | "llama" | "qwen3" | "mistral" (default qwen2),
             "config": {config kwargs}, "seed": int, "std": float, "max_shard_size": str | null}],
   "run":  [{"dir": str, "input_ids": [[int]], "attention_mask": [[int]],
             "new_tokens": int, "device": "cpu" | "cuda", "dtype": "float32" | "bfloat16"}]}
answer:
  {"runs": [{"logits": [[[float]]], "greedy": [[int]], "torch_dtype": str, "class": str}]}

"make" writes random *ForCausalLM checkpoints with save_pretrained (weights
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
from transformers import AutoConfig, AutoModelForCausalLM


def randomize(model, std):
    """Weights N(0, std), norm weights 1 + N(0, std): logits far from uniform."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn_like(param) * std
            param.copy_(noise + 1.0 if name.endswith("norm.weight") else noise)


def make(job):
    torch.manual_seed(job["seed"])
    config = AutoConfig.for_model(job.get("model_type", "qwen2"), **job["config"])
    model = AutoModelForCausalLM.from_config(config)
    randomize(model, job.get("std", 0.15))
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
        "class": type(model).__name__,
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
