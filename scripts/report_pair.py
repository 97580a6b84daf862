"""Measure the shipped (target, draft) pair and print the numbers quoted in data/README.md.

    python scripts/report_pair.py                 # markdown to stdout, JSON to build/report.json
    python scripts/report_pair.py --write-readme  # also replace the generated part of data/README.md

Everything runs on the CPU: held-out loss per task, greedy agreement per task (fraction of
positions where the draft's argmax equals the target's along the target's own greedy
continuation), answer accuracy of each model on qa and math_reasoning (all held-out prompts),
sample continuations of both models, per-token decode latency with a KV cache at 1 thread
(transformers and the fast runner), and sha256 of every shipped file. The per-task quality
table goes to data/results/pair_quality.csv.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import DynamicCache

from duolab.runners.kvcache import cache_kwargs

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
TASKS = ("mt_bench", "translation", "summarization", "qa", "math_reasoning", "rag", "humaneval")
BEGIN, END = "<!-- report:begin -->", "<!-- report:end -->"


def load(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Weights are fp16 on disk; compute in fp32 on the CPU.
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(str(path))


def prompts(task: str, n: int) -> list[dict]:
    lines = (DATA / "prompts" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines[:n]]


@torch.no_grad()
def greedy(model, ids: list[int], n: int, eos: int, timings: list | None = None) -> list[int]:
    kw = cache_kwargs(model, DynamicCache())  # the cache is updated in place
    out = model(input_ids=torch.tensor([ids]), use_cache=True, **kw)
    nxt, toks = int(out.logits[0, -1].argmax()), []
    for _ in range(n):
        toks.append(nxt)
        if nxt == eos and timings is None:
            break
        t = time.perf_counter()
        out = model(input_ids=torch.tensor([[nxt]]), use_cache=True, **kw)
        nxt = int(out.logits[0, -1].argmax())
        if timings is not None:
            timings.append(time.perf_counter() - t)
    return toks


@torch.no_grad()
def completion_loss(model, prompt_ids: list[int], comp_ids: list[int]) -> tuple[float, int]:
    ids = torch.tensor([prompt_ids + comp_ids])
    logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1:-1]
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(comp_ids), reduction="sum")
    return float(loss), len(comp_ids)


@torch.no_grad()
def argmax_along(model, ids: list[int], start: int) -> list[int]:
    logits = model(input_ids=torch.tensor([ids])).logits[0, start - 1:-1]
    return logits.argmax(-1).tolist()


def first_line(text: str) -> str:
    return text.strip().split("\n")[0].strip()


def final_answer(text: str) -> str | None:
    m = re.search(r"The answer is (-?\d+)", text)
    return m.group(1) if m else None


# How an answer is scored against the generator's reference, per task with an answer to check.
SCORERS = {"qa": first_line, "math_reasoning": final_answer}


def accuracy(model, tok, task: str, n_prompts: int, new_tokens: int = 128) -> float:
    """Share of held-out prompts whose greedy answer scores equal to the reference's."""
    score, right, rows = SCORERS[task], 0, prompts(task, n_prompts)
    for row in rows:
        out = tok.decode(greedy(model, tok(row["prompt"])["input_ids"], new_tokens, tok.eos_token_id),
                         skip_special_tokens=True)
        right += int(score(out) is not None and score(out) == score(row["reference"]))
    return right / len(rows)


def fast_latency(model, ids: list[int], n: int = 128) -> float:
    """Median decode step of duolab's fast runner (FastLlama), 1 thread."""
    from duolab.runners.fast_llama import FastLlama

    torch.set_num_threads(1)
    fast, times = FastLlama(model), []
    fast.forward(ids)
    tok = ids[-1]
    for i in range(n + 16):
        t = time.perf_counter()
        tok = int(fast.forward([tok])[-1].argmax())
        if i >= 16:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def decode_latency(model, ids: list[int], n: int = 128, eos: int = -1) -> float:
    torch.set_num_threads(1)
    greedy(model, ids, 16, eos, timings=[])  # warm-up
    timings: list[float] = []
    greedy(model, ids, n, eos, timings=timings)
    return statistics.median(timings)


def sha256s() -> dict[str, str]:
    files = sorted(p for d in (DATA / "models", DATA / "prompts") for p in d.rglob("*") if p.is_file())
    return {p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def run(n_prompts: int, new_tokens: int, threads: int, models: Path = DATA / "models",
        accuracy_prompts: int = 60, loss_prompts: int = 60) -> dict:
    torch.set_num_threads(threads)
    target, tok = load(models / "target")
    draft, _ = load(models / "draft")
    eos = tok.eos_token_id
    rep = {"params": {}, "training": {}, "tasks": {}, "samples": {}}
    for name, m in (("target", target), ("draft", draft)):
        rep["params"][name] = sum(p.numel() for p in m.parameters())
        meta = models / name / "duolab_training.json"
        rep["training"][name] = json.loads(meta.read_text()) if meta.exists() else {}
    for task in TASKS:
        loss = {"target": [0.0, 0], "draft": [0.0, 0]}
        agree, total, samples = 0, 0, []
        for i, row in enumerate(prompts(task, max(n_prompts, loss_prompts))):
            p_ids = tok(row["prompt"])["input_ids"]
            ref = tok(row["reference"], add_special_tokens=False)["input_ids"] + [eos]
            for name, m in (("target", target), ("draft", draft)):
                s, k = completion_loss(m, p_ids, ref)
                loss[name][0] += s
                loss[name][1] += k
            if i >= n_prompts:
                continue  # loss on every held-out prompt; agreement and samples on the first n
            cont = greedy(target, p_ids, new_tokens, eos)
            d_pred = argmax_along(draft, p_ids + cont, len(p_ids))
            agree += sum(a == b for a, b in zip(d_pred, cont, strict=False))
            total += len(cont)
            if len(samples) < 2:
                d_cont = greedy(draft, p_ids, new_tokens, eos)
                samples.append({"id": row["id"], "prompt_tail": row["prompt"][-160:],
                                "target": tok.decode(cont, skip_special_tokens=True),
                                "draft": tok.decode(d_cont, skip_special_tokens=True),
                                "reference": row["reference"]})
        rep["tasks"][task] = {"target_loss": round(loss["target"][0] / loss["target"][1], 3),
                              "draft_loss": round(loss["draft"][0] / loss["draft"][1], 3),
                              "agreement": round(agree / total, 3), "positions": total,
                              "loss_prompts": max(n_prompts, loss_prompts)}
        if task in SCORERS:
            for name, m in (("target", target), ("draft", draft)):
                rep["tasks"][task][f"{name}_accuracy"] = round(accuracy(m, tok, task, accuracy_prompts), 3)
        rep["samples"][task] = samples
        print(f"{task}: {rep['tasks'][task]}", file=sys.stderr, flush=True)
    ids = tok(prompts("mt_bench", 1)[0]["prompt"])["input_ids"]
    lat = {name: decode_latency(m, ids) for name, m in (("target", target), ("draft", draft))}
    rep["latency_ms"] = {k: round(v * 1e3, 3) for k, v in lat.items()}
    rep["latency_ratio_draft_over_target"] = round(lat["draft"] / lat["target"], 3)
    rep["fast_latency_ms"] = {k: round(fast_latency(m, ids) * 1e3, 3) for k, m in (("target", target), ("draft", draft))}
    rep["mean_agreement"] = round(statistics.mean(t["agreement"] for t in rep["tasks"].values()), 3)
    rep["sha256"] = sha256s()
    rep["settings"] = {"prompts_per_task": n_prompts, "new_tokens": new_tokens, "torch": torch.__version__}
    return rep


def write_quality_csv(rep: dict, path: Path) -> None:
    cols = ["task", "target_loss", "draft_loss", "loss_gap", "agreement", "target_accuracy", "draft_accuracy"]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, cols)
        w.writeheader()
        for t, v in rep["tasks"].items():
            w.writerow({"task": t, **{c: v.get(c, "") for c in cols[1:]},
                        "loss_gap": round(v["draft_loss"] - v["target_loss"], 3)})


def markdown(rep: dict) -> str:
    tr = rep["training"]
    out = ["### Measured (generated by `python scripts/report_pair.py --write-readme`)", "",
           f"Parameters: target {rep['params']['target']:,}, draft {rep['params']['draft']:,} "
           f"(ratio {rep['params']['draft'] / rep['params']['target']:.3f}).", ""]
    for name in ("target", "draft"):
        m = tr.get(name) or {}
        if m:
            out.append(f"- {name}: step {m['step']}{' (final)' if m.get('final') else ' (checkpoint)'}, "
                       f"{m['tokens_seen']:,} training tokens, {m['train_seconds'] / 60:.0f} min, "
                       f"train loss {m['last_loss']}, validation loss {m['val_loss']}")
    s = rep["settings"]
    out += ["", f"Per task, on the first {s['prompts_per_task']} held-out prompts "
            f"(loss = mean cross-entropy in nats on reference continuation + EOS; agreement = share of "
            f"positions where the draft's argmax equals the target's along the target's greedy "
            f"continuation of up to {s['new_tokens']} tokens):", "",
            "| task | target loss | draft loss | draft − target | greedy agreement | positions |",
            "|---|---|---|---|---|---|"]
    for t, v in rep["tasks"].items():
        out.append(f"| {t} | {v['target_loss']} | {v['draft_loss']} | {v['draft_loss'] - v['target_loss']:.3f} "
                   f"| {v['agreement']} | {v['positions']} |")
    out += [f"| **mean** | | | | **{rep['mean_agreement']}** | |", "",
            "Loss is over all held-out prompts of each task; agreement over the first "
            f"{s['prompts_per_task']}.", "",
            "Answer accuracy on every held-out prompt (greedy, up to 128 tokens; qa: the answer's first "
            "line equals the reference's; math_reasoning: `The answer is N` equals the reference's N):", "",
            "| task | target | draft |", "|---|---|---|"]
    for t in SCORERS:
        v = rep["tasks"][t]
        out.append(f"| {t} | {v['target_accuracy']:.1%} | {v['draft_accuracy']:.1%} |")
    fl = rep["fast_latency_ms"]
    out += ["",
            f"Decode latency per token (1 thread, KV cache, median of 128 steps): target "
            f"{rep['latency_ms']['target']} ms, draft {rep['latency_ms']['draft']} ms, ratio "
            f"{rep['latency_ratio_draft_over_target']} through `transformers`. With duolab's fast runner "
            f"(FastLlama): target {fl['target']} ms, draft {fl['draft']} ms; the draft on the fast runner "
            f"takes {fl['draft'] / rep['latency_ms']['target']:.3f} of the target's transformers step "
            f"(the pair's default runners) and {fl['draft'] / fl['target']:.3f} of its fast step.", "",
            "Greedy continuations, target against draft on the same prompts (prompt tail → reference / "
            "target / draft):", ""]
    for t, ss in rep["samples"].items():
        for smp in ss[:1]:
            out += [f"- **{t}** `{smp['id']}`: …{json.dumps(smp['prompt_tail'][-90:])}",
                    f"  - reference: {json.dumps(smp['reference'][:200])}",
                    f"  - target: {json.dumps(smp['target'][:200])}",
                    f"  - draft: {json.dumps(smp['draft'][:200])}"]
    out += ["", "sha256 of shipped files:", "", "```"]
    out += [f"{h}  {p}" for p, h in rep["sha256"].items()]
    out += ["```"]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=20, help="prompts per task")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="threads for the quality part")
    ap.add_argument("--models", type=Path, default=DATA / "models", help="folder with target/ and draft/")
    ap.add_argument("--accuracy-prompts", type=int, default=60, help="qa/math prompts scored for accuracy")
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()
    rep = run(args.prompts, args.new_tokens, args.threads, args.models, args.accuracy_prompts)
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
    write_quality_csv(rep, DATA / "results" / "pair_quality.csv")
    md = markdown(rep)
    print(md)
    if args.write_readme:
        readme = DATA / "README.md"
        text = readme.read_text(encoding="utf-8")
        a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
        readme.write_text(text[:a] + "\n" + md + "\n" + text[b:], encoding="utf-8")


if __name__ == "__main__":
    main()
