#!/usr/bin/env python3
"""A GRPO step of the tiny recipe in plain PyTorch + transformers: the
baseline a user would write without tinyzero-rs (scripts/bench_step.sh runs it
beside `tzhost` and compares).

Recipe, as the main job's: 32 countdown prompts in the compact template x 8
samples at temperature 1, at most 24 new tokens (`generate`, SDPA attention,
stop at EOS); TinyZero's score (1 correct, 0.1 parseable but wrong, 0 else);
GRPO advantages (group mean and unbiased std, eps 1e-6); one clipped update per
batch (token-mean PPO-clip loss, ratio against the detached current log-probs,
as TRL does when the update is on-policy, so no separate old-log-prob pass);
grad-norm clip 1; torch.optim.AdamW (lr 2e-4, betas 0.9/0.999, no weight
decay). f32 on the CPU.

    grpo_step.py --model DIR --data train.parquet --steps 20 --warmup 3 --threads 2 --out ref.json

Prints one JSON object (also written to --out): per-phase mean seconds over
the timed steps (gen, reward, old_log_prob = 0, adv, update_actor, step) and
token counts.
"""

import argparse
import ast
import json
import operator
import re
import time

import pyarrow.parquet as pq
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate(node):
    """Value of + - * / expressions over integer literals (unary minus too); else ValueError."""
    if isinstance(node, ast.Expression):
        return evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in OPS:
        return OPS[type(node.op)](evaluate(node.left), evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -evaluate(node.operand)
    raise ValueError("not an arithmetic expression")


def score(response, nums, target):
    """TinyZero's countdown score on the compact template's bare expression."""
    eq = response.split("\n")[0].strip()
    if not eq or not re.fullmatch(r"[\d+\-*/().\s]+", eq):
        return 0.0
    try:
        value = evaluate(ast.parse(eq, mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError):
        return 0.0
    used = sorted(int(n) for n in re.findall(r"\d+", eq))
    return 1.0 if used == sorted(nums) and abs(value - target) < 1e-5 else 0.1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the tiny model directory (Hugging Face layout)")
    ap.add_argument("--data", required=True, help="countdown parquet (target, nums columns)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--micro", type=int, default=0, help="rows per forward/backward (0 = the whole batch)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tok = AutoTokenizer.from_pretrained(args.model)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="sdpa")
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    eos, pad = tok.eos_token_id, tok.pad_token_id

    table = pq.read_table(args.data, columns=["target", "nums"]).to_pylist()
    cursor = 0
    phases = ["gen", "reward", "old_log_prob", "adv", "update_actor", "step"]
    totals = {k: 0.0 for k in phases}
    tokens = {"prompt": 0, "response": 0}

    for step in range(args.warmup + args.steps):
        timed = step >= args.warmup
        t_step = time.perf_counter()
        rows = [table[(cursor + i) % len(table)] for i in range(args.prompts)]
        cursor += args.prompts
        prompts = [" ".join(str(n) for n in r["nums"]) + f">{r['target']}:" for r in rows]

        t0 = time.perf_counter()
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            seqs = model.generate(
                **enc,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                max_new_tokens=args.max_new_tokens,
                num_return_sequences=args.n,
                eos_token_id=eos,
                pad_token_id=pad,
            )
        t_gen = time.perf_counter() - t0

        t0 = time.perf_counter()
        p_len = enc["input_ids"].shape[1]
        completion = seqs[:, p_len:]
        is_eos = completion == eos
        # Valid tokens: up to and including the first EOS.
        after_eos = (is_eos.cumsum(1) - is_eos.long()) > 0
        resp_mask = (~after_eos).float()
        texts = tok.batch_decode(completion, skip_special_tokens=True)
        rewards = torch.tensor(
            [score(texts[i], rows[i // args.n]["nums"], rows[i // args.n]["target"]) for i in range(len(texts))]
        )
        t_reward = time.perf_counter() - t0

        t0 = time.perf_counter()
        grouped = rewards.view(-1, args.n)
        adv = ((grouped - grouped.mean(1, keepdim=True)) / (grouped.std(1, keepdim=True) + 1e-6)).view(-1)
        t_adv = time.perf_counter() - t0

        t0 = time.perf_counter()
        prompt_mask = enc["attention_mask"].repeat_interleave(args.n, 0)
        attention_mask = torch.cat([prompt_mask, resp_mask.long()], 1)
        n_tokens = resp_mask.sum().clamp_min(1.0)
        micro = args.micro or seqs.shape[0]
        opt.zero_grad(set_to_none=True)
        for s in range(0, seqs.shape[0], micro):
            sl = slice(s, s + micro)
            logits = model(input_ids=seqs[sl], attention_mask=attention_mask[sl]).logits
            logits = logits[:, p_len - 1 : -1].float()
            logp = logits.log_softmax(-1).gather(-1, completion[sl].unsqueeze(-1)).squeeze(-1)
            ratio = torch.exp(logp - logp.detach())
            a = adv[sl].unsqueeze(1)
            loss_tok = torch.maximum(-a * ratio, -a * ratio.clamp(0.8, 1.2))
            loss = (loss_tok * resp_mask[sl]).sum() / n_tokens
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        t_update = time.perf_counter() - t0

        if timed:
            for k, v in zip(phases, [t_gen, t_reward, 0.0, t_adv, t_update, time.perf_counter() - t_step]):
                totals[k] += v
            tokens["prompt"] += int(prompt_mask.sum())
            tokens["response"] += int(resp_mask.sum())

    n = max(args.steps, 1)
    result = {
        "side": "reference",
        "impl": f"PyTorch {torch.__version__} + transformers {__import__('transformers').__version__}",
        "threads": args.threads,
        "steps": args.steps,
        "seconds": {k: v / n for k, v in totals.items()},
        "tokens_per_step": {k: v / n for k, v in tokens.items()},
    }
    text = json.dumps(result)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
