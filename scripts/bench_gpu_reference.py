#!/usr/bin/env python3
"""The PyTorch side of scripts/bench_gpu.sh, and its report.

Phases (one process each, so each phase's peak memory is its own):
  make-model DIR [--smoke]               random Qwen2.5-0.5B-shaped bf16 checkpoint (tiny with --smoke)
  prompts FILE --count N --len L --vocab V   random prompt token ids (JSON)
  ceilings --device D [--smoke] --out F  copy bandwidth (bytes read + written) and bf16 matmul rate
  decode DIR PROMPTS --n N --new-tokens T --device D --out F
                                         transformers `generate`, sampling at temperature 1, exactly T new tokens
  update DIR --rows N --prompt-len P --seq-len L --micro M --device D --out F
                                         one GRPO update in plain PyTorch: clipped policy loss (token mean),
                                         forward + backward + fused AdamW, gradient clipping at 1
  report DIR --out-dir O                 markdown table + results.json from the phases' JSON in DIR
"""
import argparse
import datetime
import json
import math
import os
import platform
import sys
import time

QWEN25_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                  num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                  rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
SMOKE = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
             rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)


def peak_rss_bytes():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def write_json(path, obj):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def torch_device(name):
    import torch
    if name == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_gpu_reference: --device cuda but torch sees no CUDA device")
    return torch.device(name)


def sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(device, fn, repeats):
    times = []
    for _ in range(max(1, repeats)):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2], times


def memory_fields(device):
    import torch
    out = {"peak_rss_bytes": peak_rss_bytes()}
    if device.type == "cuda":
        out["torch_max_allocated_bytes"] = torch.cuda.max_memory_allocated()
        out["torch_max_reserved_bytes"] = torch.cuda.max_memory_reserved()
    return out


def cmd_make_model(a):
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    shape = SMOKE if a.smoke else QWEN25_05B
    cfg = Qwen2Config(**shape, bos_token_id=None, eos_token_id=None, pad_token_id=0)
    model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(a.dir, max_shard_size="20GB")
    params = sum(p.numel() for p in model.parameters())
    write_json(os.path.join(a.dir, "bench_model.json"), {"shape": "smoke" if a.smoke else "qwen2.5-0.5b",
                                                        "params": params, **shape})


def cmd_prompts(a):
    import torch
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, a.vocab, (a.count, a.len), generator=g)
    write_json(a.file, ids.tolist())


def cmd_ceilings(a):
    import torch
    device = torch_device(a.device)
    n_copy = (1 << 22) if a.smoke else (1 << 28)  # bf16 elements: 8 MB / 512 MB
    src = torch.randn(n_copy, device=device, dtype=torch.bfloat16)
    dst = torch.empty_like(src)
    dst.copy_(src)
    t_copy, _ = timed(device, lambda: dst.copy_(src), 5 if a.smoke else 20)
    copy_bw = 2 * src.numel() * src.element_size() / t_copy
    n = 256 if a.smoke else 8192
    x = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    y = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    x @ y
    t_mm, _ = timed(device, lambda: x @ y, 3 if a.smoke else 10)
    name = torch.cuda.get_device_name() if device.type == "cuda" else (platform.processor() or platform.machine())
    write_json(a.out, {"phase": "ceilings", "device": a.device, "device_name": name,
                       "torch": torch.__version__, "threads": torch.get_num_threads(),
                       "copy_bytes": 2 * src.numel() * src.element_size(), "copy_seconds": t_copy,
                       "copy_bandwidth_bytes_per_s": copy_bw, "matmul_n": n, "matmul_seconds": t_mm,
                       "bf16_matmul_flops_per_s": 2 * n ** 3 / t_mm})


def load_model(path, device):
    import torch
    from transformers import Qwen2ForCausalLM
    model = Qwen2ForCausalLM.from_pretrained(path, dtype=torch.bfloat16, attn_implementation="sdpa")
    return model.to(device)


def cmd_decode(a):
    import torch
    import transformers
    device = torch_device(a.device)
    model = load_model(a.dir, device).eval()
    with open(a.prompts) as f:
        ids = torch.tensor(json.load(f), device=device)
    kw = dict(attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
              num_return_sequences=a.n, pad_token_id=0)
    out = {}
    with torch.no_grad():
        model.generate(ids, max_new_tokens=min(8, a.new_tokens), min_new_tokens=min(8, a.new_tokens), **kw)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()

        def run():
            out["ids"] = model.generate(ids, max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens, **kw)
        seconds, times = timed(device, run, a.repeats)
    generated = out["ids"][:, ids.shape[1]:].numel()
    write_json(a.out, {"phase": "decode", "impl": f"transformers {transformers.__version__} generate",
                       "device": a.device, "rows": ids.shape[0] * a.n, "prompts": ids.shape[0], "n": a.n,
                       "prompt_len": ids.shape[1], "new_tokens": a.new_tokens, "generated_tokens": generated,
                       "seconds": seconds, "times": times, "tokens_per_s": generated / seconds,
                       **memory_fields(device)})


def cmd_update(a):
    import torch
    device = torch_device(a.device)
    model = load_model(a.dir, device).train()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(3, vocab, (a.rows, a.seq_len), generator=g).to(device)
    p, r = a.prompt_len, a.seq_len - a.prompt_len
    targets = ids[:, p:]

    def token_logp(mb):
        logits = model(input_ids=ids[mb]).logits[:, p - 1:-1]
        return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[mb].unsqueeze(-1)).squeeze(-1)

    micro = [slice(i, min(i + a.micro, a.rows)) for i in range(0, a.rows, a.micro)]
    with torch.no_grad():
        old = torch.cat([token_logp(mb) for mb in micro])
    adv = torch.randn(a.rows, r, generator=g).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6, fused=device.type == "cuda")
    total = a.rows * r

    def update():
        opt.zero_grad(set_to_none=True)
        for mb in micro:
            ratio = torch.exp(token_logp(mb) - old[mb])
            pg = torch.maximum(-adv[mb] * ratio, -adv[mb] * ratio.clamp(0.8, 1.2))
            (pg.sum() / total).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    update()  # warm-up: optimizer state, kernels, allocator pools
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds, times = timed(device, update, a.repeats)
    params = sum(x.numel() for x in model.parameters())
    tokens = a.rows * a.seq_len
    write_json(a.out, {"phase": "update", "impl": "plain PyTorch (HF model, fused AdamW)", "device": a.device,
                       "rows": a.rows, "seq_len": a.seq_len, "prompt_len": a.prompt_len, "micro_batch": a.micro,
                       "tokens": tokens, "params": params, "seconds": seconds, "times": times,
                       "tokens_per_s": tokens / seconds, **memory_fields(device)})


def decode_roofline_seconds(model, ceilings, run):
    """Weights + KV-cache reads + fp32 logits writes of every decode step, over the copy bandwidth."""
    head_dim = model["hidden_size"] // model["num_attention_heads"]
    kv_per_token = model["num_hidden_layers"] * 2 * model["num_key_value_heads"] * head_dim * 2
    b, p, t = run["rows"], run["prompt_len"], run["new_tokens"]
    weights = 2 * model["params"]
    kv = b * kv_per_token * sum(p + i for i in range(t))
    logits = t * b * model["vocab_size"] * 4
    return (t * weights + kv + logits) / ceilings["copy_bandwidth_bytes_per_s"]


def mib(x):
    return "" if x is None else f"{x / 2**20:,.0f} MiB"


def cmd_report(a):
    d = a.dir
    load = lambda name: json.load(open(os.path.join(d, name))) if os.path.exists(os.path.join(d, name)) else None
    ceilings, model, gpu_mem = load("ceilings.json"), load("model.json"), load("gpu_mem.json") or {}
    smoke = model["shape"] == "smoke"
    rows, results = [], {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                         "smoke": smoke, "ceilings": ceilings, "model": model, "phases": {}}
    decodes = sorted((f[len("ours_"):-len(".json")] for f in os.listdir(d) if f.startswith("ours_decode_")),
                     key=lambda name: int(name.split("_")[1].split("x")[1]), reverse=True)
    for phase in decodes + ["update"]:
        ours, ref = load(f"ours_{phase}.json"), load(f"ref_{phase}.json")
        if ours is None or ref is None:
            continue
        for name, r in (("ours", ours), ("ref", ref)):
            if phase.startswith("decode"):
                r["roofline_fraction"] = decode_roofline_seconds(model, ceilings, r) / r["seconds"]
            else:
                r["mfu"] = 6 * r["params"] * r["tokens"] / r["seconds"] / ceilings["bf16_matmul_flops_per_s"]
            r["peak_gpu_mem_mib_nvidia_smi"] = gpu_mem.get(f"{name}_{phase}")
        eager = load(f"eager_{phase}.json")
        speedup = ours["tokens_per_s"] / ref["tokens_per_s"]
        results["phases"][phase] = {"ours": ours, "reference": ref, "speedup": speedup}
        if eager is not None:
            eager["roofline_fraction"] = decode_roofline_seconds(model, ceilings, eager) / eager["seconds"]
            eager["peak_gpu_mem_mib_nvidia_smi"] = gpu_mem.get(f"eager_{phase}")
            results["phases"][phase]["ours_eager"] = eager
            results["phases"][phase]["graph_speedup"] = ours["tokens_per_s"] / eager["tokens_per_s"]
        shape = (f"{ours['prompts']} prompts × {ours['n']}, {ours['prompt_len']} + {ours['new_tokens']} tokens"
                 if phase.startswith("decode") else f"{ours['rows']} × {ours['seq_len']} tokens")
        for r in (ours, ref) if eager is None else (ours, eager, ref):
            eff = (f"{100 * r['roofline_fraction']:.1f}% of roofline" if "roofline_fraction" in r
                   else f"{100 * r['mfu']:.1f}% MFU")
            mem = r.get("peak_gpu_mem_mib_nvidia_smi")
            mem = f"{mem:,.0f} MiB (GPU)" if mem is not None else mib(r.get("peak_rss_bytes")) + " (RSS)"
            rows.append(f"| {phase.split('_')[0]} | {shape} | {r['impl']} | {r['tokens_per_s']:,.1f} | "
                        f"{r['seconds']:.3f} | {eff} | {mem} |")
        rows.append(f"| | | **ours / reference** | **{speedup:.2f}×** | | | |")
        if eager is not None:
            rows.append(f"| | | **CUDA graphs / eager** | **{results['phases'][phase]['graph_speedup']:.2f}×** | | | |")
    title = "CPU SMOKE FIGURES (tiny shapes; not GPU performance)" if smoke or ceilings["device"] == "cpu" \
        else "GPU benchmark"
    lines = [
        f"## {title}",
        "",
        f"{results['date']} · device: {ceilings['device_name']} ({ceilings['device']}) · torch {ceilings['torch']}"
        f" · model: {model['shape']} ({model['params']:,} params, bf16)",
        f"measured ceilings: copy {ceilings['copy_bandwidth_bytes_per_s'] / 1e9:,.1f} GB/s (read + write), "
        f"bf16 matmul {ceilings['bf16_matmul_flops_per_s'] / 1e12:,.2f} TFLOP/s (n = {ceilings['matmul_n']})",
        "",
        "| phase | shape | implementation | tokens/s | seconds | efficiency | peak memory |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ]
    table = "\n".join(lines) + "\n"
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "bench_gpu.md"), "w") as f:
        f.write(table)
    write_json(os.path.join(a.out_dir, "bench_gpu.json"), results)
    print(table)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("make-model"); s.add_argument("dir"); s.add_argument("--smoke", action="store_true")
    s = sub.add_parser("prompts"); s.add_argument("file")
    s.add_argument("--count", type=int, required=True); s.add_argument("--len", type=int, required=True)
    s.add_argument("--vocab", type=int, required=True)
    s = sub.add_parser("ceilings"); s.add_argument("--device", default="cpu"); s.add_argument("--smoke", action="store_true")
    s.add_argument("--out", required=True)
    s = sub.add_parser("decode"); s.add_argument("dir"); s.add_argument("prompts")
    s.add_argument("--n", type=int, default=1); s.add_argument("--new-tokens", type=int, required=True)
    s.add_argument("--device", default="cpu"); s.add_argument("--repeats", type=int, default=1)
    s.add_argument("--out", required=True)
    s = sub.add_parser("update"); s.add_argument("dir")
    s.add_argument("--rows", type=int, required=True); s.add_argument("--prompt-len", type=int, required=True)
    s.add_argument("--seq-len", type=int, required=True); s.add_argument("--micro", type=int, default=8)
    s.add_argument("--device", default="cpu"); s.add_argument("--repeats", type=int, default=1)
    s.add_argument("--out", required=True)
    s = sub.add_parser("report"); s.add_argument("dir"); s.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    {"make-model": cmd_make_model, "prompts": cmd_prompts, "ceilings": cmd_ceilings, "decode": cmd_decode,
     "update": cmd_update, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
