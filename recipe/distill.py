"""Train the real pair's draft on its target's own answers (sequence-level distillation).

Each training row is a prompt in the target's chat template and the target's greedy answer,
with the target's top-k log-probabilities at every answer token (recipe.real_pair, stage data).
The draft learns the answer tokens from both: cross-entropy on the greedy token plus
cross-entropy against the target's (renormalized) top-k distribution; the prompt's own tokens
are learned at half weight, so the draft models the context it will be asked to continue.
Only positions with a loss go through the output head (the 49,152-token head is most of the
draft's compute).

The draft keeps the target's tokenizer and vocabulary; its embedding (tied to its head) starts
as the target's embedding projected onto its top principal directions, so it begins with the
target's notion of which tokens are alike.
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class DraftSpec:
    hidden: int = 192
    layers: int = 4
    heads: int = 3
    kv_heads: int = 1
    intermediate: int = 768
    max_positions: int = 2048


@dataclass(frozen=True)
class DistillSpec:
    epochs: float = 6.0  # the committed draft: 306 steps, 37 min on 2 cores
    batch_tokens: int = 6144  # padded tokens per batch (rows of similar length go together)
    lr: float = 2e-3
    warmup: int = 60
    weight_decay: float = 0.1
    soft_weight: float = 1.0
    prompt_weight: float = 0.5
    prompt_share: float = 0.3  # of the prompt's positions, the share that is learned in a batch
    val_fraction: float = 0.04
    seed: int = 7
    threads: int = 2


def draft_config(spec: DraftSpec, target_config):
    from transformers import LlamaConfig

    t = target_config
    return LlamaConfig(vocab_size=t.vocab_size, hidden_size=spec.hidden, intermediate_size=spec.intermediate,
                       num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
                       num_key_value_heads=spec.kv_heads, head_dim=spec.hidden // spec.heads,
                       max_position_embeddings=spec.max_positions, rms_norm_eps=t.rms_norm_eps,
                       rope_parameters=dict(t.rope_parameters), tie_word_embeddings=True,
                       bos_token_id=t.bos_token_id, eos_token_id=t.eos_token_id, pad_token_id=t.pad_token_id,
                       attention_bias=False, mlp_bias=False)


def projected_embedding(target_embedding, width: int):
    """The target's embedding on its top `width` principal directions (rows keep their scale)."""
    import torch

    e = target_embedding.float()
    _, _, v = torch.linalg.svd(e[torch.randperm(len(e), generator=torch.Generator().manual_seed(0))[:16384]],
                               full_matrices=False)
    return e @ v[:width].T


@dataclass
class Row:
    task: str
    ids: list  # prompt + answer
    n_prompt: int
    top_ids: list
    top_logp: list


def load_rows(path: Path, tokenizer, chat_text) -> list[Row]:
    rows = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        p = tokenizer.encode(chat_text(tokenizer, r["user"]))
        rows.append(Row(r["task"], p + r["answer_ids"], len(p), r["top_ids"], r["top_logp"]))
    return rows


def batches(rows: list[Row], batch_tokens: int, rng: random.Random) -> list[list[Row]]:
    """Rows sorted by length and cut into batches of about batch_tokens padded tokens, shuffled."""
    rows = sorted(rows, key=lambda r: len(r.ids))
    out, cur = [], []
    for r in rows:
        if cur and len(r.ids) * (len(cur) + 1) > batch_tokens:
            out.append(cur)
            cur = []
        cur.append(r)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def _tensors(batch: list[Row], pad: int, k: int, system_len: int, prompt_weight: float, prompt_share: float,
             rng):
    import torch

    L = max(len(r.ids) for r in batch)
    ids = torch.full((len(batch), L), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), L), dtype=torch.long)
    # per position that predicts a token: weight, hard label, soft labels (ids, log-probs)
    weight = torch.zeros((len(batch), L))
    hard = torch.zeros((len(batch), L), dtype=torch.long)
    soft_ids = torch.zeros((len(batch), L, k), dtype=torch.long)
    soft_lp = torch.full((len(batch), L, k), -1e4)
    is_answer = torch.zeros((len(batch), L), dtype=torch.bool)
    for i, r in enumerate(batch):
        n = len(r.ids)
        ids[i, :n] = torch.tensor(r.ids)
        mask[i, :n] = 1
        hard[i, :n - 1] = ids[i, 1:n]
        # a sample of the prompt's own positions (not the fixed system part): enough to learn the
        # context's language at a fraction of the head's cost
        picked = torch.rand(max(0, r.n_prompt - 1 - system_len), generator=rng) < prompt_share
        weight[i, system_len:r.n_prompt - 1] = prompt_weight * picked
        a = r.n_prompt - 1  # position whose next token is the answer's first
        weight[i, a:n - 1] = 1.0
        is_answer[i, a:n - 1] = True
        m = n - 1 - a
        soft_ids[i, a:n - 1] = torch.tensor(r.top_ids[:m])
        soft_lp[i, a:n - 1] = torch.tensor(r.top_logp[:m])
    return ids, mask, weight, hard, soft_ids, soft_lp, is_answer


def losses(model, tensors, soft_weight: float):
    """(weighted loss, answer positions, answer positions where the draft's argmax is the target's)."""
    ids, mask, weight, hard, soft_ids, soft_lp, is_answer = tensors
    h = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
    sel = weight > 0
    logits = model.lm_head(h[sel]).float()
    logp = logits.log_softmax(-1)
    ce = -logp.gather(1, hard[sel][:, None])[:, 0]
    loss = (ce * weight[sel]).sum()
    ans = is_answer[sel]
    q = soft_lp[sel][ans].softmax(-1)  # top-k of the target, renormalized
    soft = -(q * logp[ans].gather(1, soft_ids[sel][ans])).sum(-1)
    loss = (loss + soft_weight * soft.sum()) / weight[sel].sum()
    agree = int((logits[ans].argmax(-1) == hard[sel][ans]).sum())
    return loss, int(ans.sum()), agree


def train(rows: list[Row], spec: DraftSpec, tspec: DistillSpec, target_dir: Path, out_dir: Path,
          log_path: Path, system_len: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    torch.manual_seed(tspec.seed)
    torch.set_num_threads(tspec.threads)
    tok = AutoTokenizer.from_pretrained(str(target_dir))
    target = AutoModelForCausalLM.from_pretrained(str(target_dir), dtype=torch.float32)
    model = LlamaForCausalLM(draft_config(spec, target.config))
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(projected_embedding(target.model.embed_tokens.weight, spec.hidden))
    model.tie_weights()
    del target
    rng = random.Random(tspec.seed)
    gen = torch.Generator().manual_seed(tspec.seed)
    rows = rows[:]
    rng.shuffle(rows)
    n_val = max(1, int(len(rows) * tspec.val_fraction))
    val, train_rows = rows[:n_val], rows[n_val:]
    k = len(rows[0].top_ids[0])
    per_epoch = len(batches(train_rows, tspec.batch_tokens, random.Random(0)))
    steps = max(1, round(tspec.epochs * per_epoch))
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": tspec.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=tspec.lr, betas=(0.9, 0.95))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[draft] {n_params / 1e6:.2f}M params; {len(train_rows)} rows "
          f"({sum(len(r.ids) for r in train_rows)} tokens), {n_val} held out; {steps} steps "
          f"({tspec.epochs} epochs of {per_epoch} batches)", flush=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")
    queue: list = []
    t0 = time.time()
    run = [0.0, 0, 0]
    for step in range(steps):
        if not queue:
            queue = batches(train_rows, tspec.batch_tokens, rng)
        lr = tspec.lr * min(1.0, (step + 1) / tspec.warmup)
        if step >= tspec.warmup:
            t = (step - tspec.warmup) / max(1, steps - tspec.warmup)
            lr = tspec.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))
        for g in opt.param_groups:
            g["lr"] = lr
        loss, n, agree = losses(model, _tensors(queue.pop(), tok.pad_token_id, k, system_len, tspec.prompt_weight,
                                        tspec.prompt_share, gen), tspec.soft_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        run = [run[0] + loss.item(), run[1] + n, run[2] + agree]
        if (step + 1) % 25 == 0 or step + 1 == steps:
            el = time.time() - t0
            rec = {"step": step + 1, "loss": round(run[0] / 25, 4), "train_agree": round(run[2] / max(1, run[1]), 4),
                   "lr": round(lr, 6), "elapsed_s": round(el), "eta_s": round(el / (step + 1) * (steps - step - 1))}
            if (step + 1) % per_epoch < 25 and step + 1 >= per_epoch:  # about once an epoch
                rec.update(evaluate(model, val, tok.pad_token_id, k, system_len, tspec))
            print(f"[draft] {json.dumps(rec)}", flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            run = [0.0, 0, 0]
    log.close()
    meta = {"params": n_params, "steps": steps, "model": asdict(spec), "train": asdict(tspec), "train_seconds": round(time.time() - t0),
            "train_rows": len(train_rows), **evaluate(model, val, tok.pad_token_id, k, system_len, tspec)}
    save(model, tok, out_dir, meta)
    return meta


def evaluate(model, val: list[Row], pad: int, k: int, system_len: int, tspec: DistillSpec) -> dict:
    """Held-out rows: the draft's greedy agreement with the target's answers, overall and per task."""
    import torch

    model.eval()
    per: dict[str, list[int]] = {}
    with torch.no_grad():
        for r in val:
            _, n, agree = losses(model, _tensors([r], pad, k, system_len, tspec.prompt_weight, 0.0, None), tspec.soft_weight)
            per.setdefault(r.task, [0, 0])
            per[r.task][0] += agree
            per[r.task][1] += n
    model.train()
    total = [sum(v[0] for v in per.values()), sum(v[1] for v in per.values())]
    return {"val_agree": round(total[0] / max(1, total[1]), 4),
            "val_agree_per_task": {t: round(a / max(1, n), 3) for t, (a, n) in sorted(per.items())}}


def save(model, tokenizer, out_dir: Path, meta: dict) -> None:
    """fp16 safetensors, the target's tokenizer files and the training record."""
    import shutil

    import torch

    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    half = type(model)(model.config)
    half.load_state_dict(model.state_dict())
    half.to(torch.float16).save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    (tmp / "duolab_training.json").write_text(json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
