#!/usr/bin/env python3
"""The table of scripts/bench_step.sh: per-phase seconds per GRPO step of
tinyzero-rs (`ours-<round>/metrics.jsonl` of tzhost runs) and of the plain
PyTorch reference (`ref-<round>.json` of grpo_step.py) in a work directory,
each the median over rounds of the mean over timed steps; the steps/s ratio.

    bench_step_report.py WORK --warmup 3 --threads 2 --out-dir DIR [--smoke]

Writes DIR/bench_step.md (the table) and DIR/bench_step.json, and prints the table.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import statistics

PHASES = ["gen", "reward", "old_log_prob", "adv", "update_actor", "step"]


def ours_round(run_dir, warmup):
    """Mean seconds per phase and tokens per step over the steps after `warmup`."""
    rows = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    steps = [r for r in rows if "timing_s/step" in r and r["step"] > warmup]
    if not steps:
        raise SystemExit(f"bench_step_report: {run_dir} has no timed steps after step {warmup}")
    mean = lambda key: sum(r.get(key, 0.0) for r in steps) / len(steps)
    return {
        "seconds": {p: mean(f"timing_s/{p}") for p in PHASES},
        "tokens_per_step": {"prompt": mean("tokens/prompt_total"), "response": mean("tokens/response_total")},
        "old_log_prob_skipped": mean("actor/old_log_prob_skipped"),
        "steps": len(steps),
    }


def median_rounds(rounds):
    pick = lambda group, key: statistics.median(r[group][key] for r in rounds)
    return {
        "seconds": {p: pick("seconds", p) for p in PHASES},
        "tokens_per_step": {k: pick("tokens_per_step", k) for k in ["prompt", "response"]},
        "rounds": rounds,
    }


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("work")
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--load-before", default="")
    ap.add_argument("--load-after", default="")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out-dir", required=True)
    args = ap.parse_args()

    ours_dirs = sorted(glob.glob(os.path.join(args.work, "ours-*")))
    ref_files = sorted(glob.glob(os.path.join(args.work, "ref-*.json")))
    if not ours_dirs or not ref_files:
        raise SystemExit(f"bench_step_report: no rounds in {args.work}")
    ours = median_rounds([ours_round(d, args.warmup) for d in ours_dirs])
    ref = median_rounds([json.load(open(f)) for f in ref_files])
    ratio = ref["seconds"]["step"] / ours["seconds"]["step"]

    title = "CPU SMOKE FIGURES (pipeline check only)" if args.smoke else "GRPO step, tiny recipe"
    lines = [
        f"### {title}: tinyzero-rs vs plain PyTorch + transformers",
        "",
        f"{datetime.date.today()}, {cpu_model()}, {os.cpu_count()} cores, {args.threads} threads, "
        f"load average {args.load_before or '?'} before / {args.load_after or '?'} after; "
        f"{len(ours_dirs)} round(s), median of per-round means over the timed steps. "
        f"Reference: {ref['rounds'][0].get('impl', 'PyTorch')}.",
        "",
        "| phase (s/step) | tinyzero-rs | PyTorch reference | reference / ours |",
        "|---|---|---|---|",
    ]
    skipped = all(r["old_log_prob_skipped"] >= 0.5 for r in ours["rounds"])
    for p in PHASES:
        o, r = ours["seconds"][p], ref["seconds"][p]
        if p == "old_log_prob":
            # Both sides skip it when the update is on-policy (TRL does too).
            ours_text = "skipped" if skipped else f"{o:.4f}"
            lines.append(f"| old_log_prob | {ours_text} | skipped | - |")
            continue
        name = "**step**" if p == "step" else p
        lines.append(f"| {name} | {o:.4f} | {r:.4f} | {r / o:.2f}x |" if o > 0 else f"| {name} | {o:.4f} | {r:.4f} | - |")
    lines.append(
        f"| steps/s | {1 / ours['seconds']['step']:.2f} | {1 / ref['seconds']['step']:.2f} | **{ratio:.2f}x** |"
    )
    t_o, t_r = ours["tokens_per_step"], ref["tokens_per_step"]
    lines += [
        "",
        f"Tokens per step (prompt + response, unpadded): ours {t_o['prompt']:.0f} + {t_o['response']:.0f}, "
        f"reference {t_r['prompt']:.0f} + {t_r['response']:.0f}.",
    ]
    table = "\n".join(lines) + "\n"
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "bench_step.md"), "w") as f:
        f.write(table)
    result = {"smoke": args.smoke, "threads": args.threads, "ratio_steps_per_s": ratio, "ours": ours, "reference": ref}
    with open(os.path.join(args.out_dir, "bench_step.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(table, end="")


if __name__ == "__main__":
    main()
