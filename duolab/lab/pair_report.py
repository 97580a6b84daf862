"""The shipped (target, draft) pair measured: the numbers quoted in data/README.md.

Everything runs on the CPU, in fp32: held-out loss per task, greedy agreement per task (fraction
of positions where the draft's argmax equals the target's along the target's own greedy
continuation), answer accuracy of each model on qa and math_reasoning, sample continuations of
both models, per-token decode latency with a KV cache at 1 thread (transformers and the fast
runner), and sha256 of every shipped file. `measure` returns it all as one dict (the report);
scripts/report_pair.py writes it (build/report.json, data/results/pair_quality.csv and the
generated part of data/README.md, between BEGIN and END).
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from pathlib import Path

import torch

from duolab.artefacts import sha256_file
from duolab.generation import generate
from duolab.models import Pair, load_pair
from duolab.paths import DATA_DIR
from duolab.prompts import TASKS
from duolab.runners.fast_llama import FastLlama
from duolab.runners.kvcache import CachedModel

BEGIN, END = "<!-- report:begin -->", "<!-- report:end -->"
QUALITY_COLUMNS = ["task", "target_loss", "draft_loss", "loss_gap", "agreement", "target_accuracy",
                   "draft_accuracy"]


def first_line(text: str) -> str:
    return text.strip().split("\n")[0].strip()


def final_answer(text: str) -> str | None:
    m = re.search(r"The answer is (-?\d+)", text)
    return m.group(1) if m else None


# How an answer is scored against the generator's reference, per task with an answer to check.
SCORERS = {"qa": first_line, "math_reasoning": final_answer}


def prompt_rows(task: str, n: int) -> list[dict]:
    """The first n rows (id, prompt, reference) of the held-out set data/prompts/<task>.jsonl."""
    lines = (DATA_DIR / "prompts" / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines[:n]]


def load_cpu_pair(target: str | Path, draft: str | Path) -> Pair:
    """A pair on the CPU in fp32 (the weights are fp16 on disk) with the transformers runners,
    not pinned: the quality part runs at the thread count the caller set."""
    pair = load_pair(target, draft, target_device="cpu", dtype=torch.float32, draft_runner="transformers")
    pair.layout = None  # no split of the cores into a target and a worker side
    return pair


@torch.inference_mode()
def completion_loss(model, prompt_ids: list[int], comp_ids: list[int]) -> tuple[float, int]:
    """(summed cross-entropy in nats, token count) of `comp_ids` after `prompt_ids`."""
    ids = torch.tensor([prompt_ids + comp_ids])
    logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1:-1]
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(comp_ids), reduction="sum")
    return float(loss), len(comp_ids)


@torch.inference_mode()
def draft_agreement(draft, prompt_ids: list[int], continuation: list[int]) -> int:
    """Positions of the target's continuation where the draft's argmax (teacher-forced) equals it."""
    logits = draft(input_ids=torch.tensor([prompt_ids + continuation])).logits[0, len(prompt_ids) - 1:-1]
    return sum(a == b for a, b in zip(logits.argmax(-1).tolist(), continuation, strict=False))


def accuracy(pair: Pair, task: str, n_prompts: int, new_tokens: int = 128) -> float:
    """Share of held-out prompts whose greedy answer (the pair's target) scores equal to the reference's."""
    score, right, rows = SCORERS[task], 0, prompt_rows(task, n_prompts)
    for row in rows:
        out = generate(pair, pair.as_prompt(row["prompt"]), max_new_tokens=new_tokens).text
        right += int(score(out) is not None and score(out) == score(row["reference"]))
    return right / len(rows)


def step_seconds(runner, ids: list[int], n: int = 128, warmup: int = 16) -> float:
    """Median decode step of a runner (CachedModel or FastLlama) after a prefill of `ids` and
    `warmup` untimed steps; greedy, past EOS."""
    runner.reset()
    tok, times = int(runner.forward(ids)[-1].argmax()), []
    for i in range(n + warmup):
        t = time.perf_counter()
        tok = int(runner.forward([tok])[-1].argmax())
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def task_quality(pair: Pair, draft_alone: Pair, task: str, n_prompts: int, new_tokens: int,
                 loss_prompts: int) -> tuple[dict, list[dict]]:
    """(loss, agreement and positions of one task, two sample continuations): loss on the first
    max(n_prompts, loss_prompts) held-out prompts, agreement and samples on the first n_prompts.
    `draft_alone`: a pair whose target is the draft model (its own greedy continuations)."""
    tok, eos = pair.tokenizer, pair.eos_token_id
    loss = {"target": [0.0, 0], "draft": [0.0, 0]}
    agree, total, samples = 0, 0, []
    for i, row in enumerate(prompt_rows(task, max(n_prompts, loss_prompts))):
        prompt = pair.as_prompt(row["prompt"])
        p_ids = tok(prompt)["input_ids"]
        ref = tok(row["reference"], add_special_tokens=False)["input_ids"] + [eos]
        for name, m in (("target", pair.target), ("draft", pair.draft)):
            s, k = completion_loss(m, p_ids, ref)
            loss[name][0] += s
            loss[name][1] += k
        if i >= n_prompts:
            continue
        cont = generate(pair, prompt, max_new_tokens=new_tokens).token_ids
        agree += draft_agreement(pair.draft, p_ids, cont)
        total += len(cont)
        if len(samples) < 2:
            samples.append({"id": row["id"], "prompt_tail": row["prompt"][-160:],
                            "target": tok.decode(cont, skip_special_tokens=True),
                            "draft": generate(draft_alone, prompt, max_new_tokens=new_tokens).text,
                            "reference": row["reference"]})
    quality = {"target_loss": round(loss["target"][0] / loss["target"][1], 3),
               "draft_loss": round(loss["draft"][0] / loss["draft"][1], 3),
               "agreement": round(agree / total, 3), "positions": total,
               "loss_prompts": max(n_prompts, loss_prompts)}
    return quality, samples


def latencies(pair: Pair) -> dict:
    """Per-token decode latency in ms at 1 thread (median of 128 steps after mt_bench's first
    prompt), through transformers and through the fast runner."""
    torch.set_num_threads(1)
    ids = pair.tokenizer(pair.as_prompt(prompt_rows("mt_bench", 1)[0]["prompt"]))["input_ids"]
    models = (("target", pair.target), ("draft", pair.draft))
    hf = {name: step_seconds(CachedModel(m), ids) for name, m in models}
    fast = {name: step_seconds(FastLlama(m), ids) for name, m in models}
    return {"latency_ms": {k: round(v * 1e3, 3) for k, v in hf.items()},
            "latency_ratio_draft_over_target": round(hf["draft"] / hf["target"], 3),
            "fast_latency_ms": {k: round(v * 1e3, 3) for k, v in fast.items()}}


def sha256s(data: Path = DATA_DIR) -> dict[str, str]:
    """sha256 of every file under data/models and data/prompts, by path from the repository."""
    files = sorted(p for d in (data / "models", data / "prompts") for p in d.rglob("*") if p.is_file())
    return {p.relative_to(data.parent).as_posix(): sha256_file(p) for p in files}


def measure(models: Path, n_prompts: int, new_tokens: int, threads: int, accuracy_prompts: int = 60,
            loss_prompts: int = 60, target: Path | None = None, draft: Path | None = None) -> dict:
    """The report of the pair in `models` (target/ and draft/), or of the `target` and `draft`
    folders: see the module's docstring. A pair with a chat template is asked in it."""
    torch.set_num_threads(threads)
    folders = {"target": target or models / "target", "draft": draft or models / "draft"}
    rep = {"params": {}, "training": {}, "tasks": {}, "samples": {}}
    with load_cpu_pair(folders["target"], folders["draft"]) as pair, \
            load_cpu_pair(folders["draft"], folders["draft"]) as draft_alone:
        if pair.has_chat_template and not draft_alone.has_chat_template:
            draft_alone.tokenizer = pair.tokenizer
        for name, m in (("target", pair.target), ("draft", pair.draft)):
            rep["params"][name] = sum(p.numel() for p in m.parameters())
            meta = folders[name] / "duolab_training.json"
            rep["training"][name] = json.loads(meta.read_text()) if meta.exists() else {}
        for task in TASKS:
            quality, samples = task_quality(pair, draft_alone, task, n_prompts, new_tokens, loss_prompts)
            if task in SCORERS:
                for name, p in (("target", pair), ("draft", draft_alone)):
                    quality[f"{name}_accuracy"] = round(accuracy(p, task, accuracy_prompts), 3)
            rep["tasks"][task], rep["samples"][task] = quality, samples
            print(f"{task}: {quality}", file=sys.stderr, flush=True)
        rep.update(latencies(pair))
    rep["mean_agreement"] = round(statistics.mean(t["agreement"] for t in rep["tasks"].values()), 3)
    rep["sha256"] = sha256s() if target is None else {}
    rep["settings"] = {"prompts_per_task": n_prompts, "new_tokens": new_tokens, "torch": torch.__version__}
    return rep


def quality_rows(rep: dict) -> list[dict]:
    """The report's per-task quality, one row per task (QUALITY_COLUMNS; '' where not scored)."""
    return [{"task": t, **{c: v.get(c, "") for c in QUALITY_COLUMNS[1:]},
             "loss_gap": round(v["draft_loss"] - v["target_loss"], 3)} for t, v in rep["tasks"].items()]


def _markdown_quality(rep: dict) -> list[str]:
    out = ["### Measured (generated by `python scripts/report_pair.py --write-readme`)", "",
           f"Parameters: target {rep['params']['target']:,}, draft {rep['params']['draft']:,} "
           f"(ratio {rep['params']['draft'] / rep['params']['target']:.3f}).", ""]
    for name in ("target", "draft"):
        m = rep["training"].get(name) or {}
        if "step" in m:  # the shipped pair's record (recipe.training); the real pair's draft differs
            out.append(f"- {name}: step {m['step']}{' (final)' if m.get('final') else ' (checkpoint)'}, "
                       f"{m['tokens_seen']:,} training tokens, {m['train_seconds'] / 60:.0f} min, "
                       f"train loss {m['last_loss']}, validation loss {m['val_loss']}")
        elif "steps" in m:  # recipe.distill's record
            out.append(f"- {name}: {m['steps']} steps on {m['train_rows']:,} of the target's answers, "
                       f"{m['train_seconds'] / 60:.0f} min, held-out agreement {m['val_agree']}")
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
    return out


def _markdown_runtime(rep: dict) -> list[str]:
    fl = rep["fast_latency_ms"]
    out = ["",
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
    if not rep["sha256"]:
        return out
    out += ["", "sha256 of shipped files:", "", "```"]
    out += [f"{h}  {p}" for p, h in rep["sha256"].items()]
    return out + ["```"]


def markdown(rep: dict) -> str:
    """The report as the markdown section of data/README.md."""
    return "\n".join(_markdown_quality(rep) + _markdown_runtime(rep))


def replace_generated(readme: Path, md: str) -> None:
    """Put `md` between the BEGIN and END markers of `readme`."""
    text = readme.read_text(encoding="utf-8")
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:a] + "\n" + md + "\n" + text[b:], encoding="utf-8")
