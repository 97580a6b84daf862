"""Measure the shipped (target, draft) pair and print the numbers quoted in data/README.md.

    python scripts/report_pair.py                 # markdown to stdout, JSON to build/report.json
    python scripts/report_pair.py --write-readme  # also replace the generated part of data/README.md

Everything runs on the CPU: held-out loss per task, greedy agreement per task (fraction of
positions where the draft's argmax equals the target's along the target's own greedy
continuation), sample continuations, per-token decode latency with a KV cache at 1 thread,
and sha256 of every shipped file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch

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
    out = model(input_ids=torch.tensor([ids]), use_cache=True)
    past, nxt, toks = out.past_key_values, int(out.logits[0, -1].argmax()), []
    for _ in range(n):
        toks.append(nxt)
        if nxt == eos and timings is None:
            break
        t = time.perf_counter()
        out = model(input_ids=torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
        past, nxt = out.past_key_values, int(out.logits[0, -1].argmax())
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


def decode_latency(model, ids: list[int], n: int = 128, eos: int = -1) -> float:
    torch.set_num_threads(1)
    greedy(model, ids, 16, eos, timings=[])  # warm-up
    timings: list[float] = []
    greedy(model, ids, n, eos, timings=timings)
    return statistics.median(timings)


def sha256s() -> dict[str, str]:
    files = sorted(p for d in (DATA / "models", DATA / "prompts") for p in d.rglob("*") if p.is_file())
    return {p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def run(n_prompts: int, new_tokens: int, threads: int, models: Path = DATA / "models") -> dict:
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
        for row in prompts(task, n_prompts):
            p_ids = tok(row["prompt"])["input_ids"]
            ref = tok(row["reference"], add_special_tokens=False)["input_ids"] + [eos]
            for name, m in (("target", target), ("draft", draft)):
                s, k = completion_loss(m, p_ids, ref)
                loss[name][0] += s
                loss[name][1] += k
            cont = greedy(target, p_ids, new_tokens, eos)
            d_pred = argmax_along(draft, p_ids + cont, len(p_ids))
            agree += sum(a == b for a, b in zip(d_pred, cont, strict=False))
            total += len(cont)
            if len(samples) < 2:
                samples.append({"id": row["id"], "prompt_tail": row["prompt"][-160:],
                                "target": tok.decode(cont, skip_special_tokens=True)})
        rep["tasks"][task] = {"target_loss": round(loss["target"][0] / loss["target"][1], 3),
                              "draft_loss": round(loss["draft"][0] / loss["draft"][1], 3),
                              "agreement": round(agree / total, 3), "positions": total}
        rep["samples"][task] = samples
        print(f"{task}: {rep['tasks'][task]}", file=sys.stderr, flush=True)
    ids = tok(prompts("mt_bench", 1)[0]["prompt"])["input_ids"]
    lat = {name: decode_latency(m, ids) for name, m in (("target", target), ("draft", draft))}
    rep["latency_ms"] = {k: round(v * 1e3, 3) for k, v in lat.items()}
    rep["latency_ratio_draft_over_target"] = round(lat["draft"] / lat["target"], 3)
    rep["mean_agreement"] = round(statistics.mean(t["agreement"] for t in rep["tasks"].values()), 3)
    rep["sha256"] = sha256s()
    rep["settings"] = {"prompts_per_task": n_prompts, "new_tokens": new_tokens, "torch": torch.__version__}
    return rep


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
            "| task | target loss | draft loss | greedy agreement | positions |", "|---|---|---|---|---|"]
    for t, v in rep["tasks"].items():
        out.append(f"| {t} | {v['target_loss']} | {v['draft_loss']} | {v['agreement']} | {v['positions']} |")
    out += [f"| **mean** | | | **{rep['mean_agreement']}** | |", "",
            f"Decode latency per token (1 thread, KV cache, median of 128 steps): target "
            f"{rep['latency_ms']['target']} ms, draft {rep['latency_ms']['draft']} ms, ratio "
            f"{rep['latency_ratio_draft_over_target']} (through `transformers`; per-call overhead "
            "dominates at this size, so a hand-written runner lowers the ratio).", "",
            "Greedy continuations of the target (prompt tail → continuation):", ""]
    for t, ss in rep["samples"].items():
        for smp in ss[:2]:
            out += [f"- **{t}** `{smp['id']}`: …{json.dumps(smp['prompt_tail'])} → "
                    f"{json.dumps(smp['target'])}"]
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
    ap.add_argument("--write-readme", action="store_true")
    args = ap.parse_args()
    rep = run(args.prompts, args.new_tokens, args.threads, args.models)
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
    md = markdown(rep)
    print(md)
    if args.write_readme:
        readme = DATA / "README.md"
        text = readme.read_text(encoding="utf-8")
        a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
        readme.write_text(text[:a] + "\n" + md + "\n" + text[b:], encoding="utf-8")


if __name__ == "__main__":
    main()
