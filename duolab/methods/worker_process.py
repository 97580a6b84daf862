"""The draft worker process itself: load the draft, then answer `DraftRequest`s with `DraftReply`s
(duolab.methods.worker is the side that starts it and talks to it).

It starts in about the time `import torch` takes: it imports only torch, safetensors and the modules
drafting needs (duolab's and duolab.methods' __init__, which import the whole package and
transformers, are not run: see `_WORKER_MAIN` in duolab.methods.worker), and the fast runner is
built straight from the draft's config.json and model.safetensors (`_read_llama`), not through a
transformers model. A draft that this cannot read exactly as transformers would, and the
"transformers" runner, load through transformers (seconds more)."""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path
from types import SimpleNamespace

import torch

from duolab.methods.drafting import MultiSequenceDrafter
from duolab.methods.worker import DraftReply, DraftRequest, poll
from duolab.runners.fast_llama import FastLlama
from duolab.runtime import pin_current_thread

# config.json keys whose absence transformers fills with defaults of its own (a version's Llama
# defaults): a config without one of them is loaded through transformers
_NEEDED = ("model_type", "hidden_act", "hidden_size", "intermediate_size", "num_hidden_layers",
           "num_attention_heads", "rms_norm_eps", "vocab_size", "max_position_embeddings",
           "tie_word_embeddings", "eos_token_id")


def _die_with_parent() -> None:
    try:  # Linux: SIGKILL us when the parent exits, even if it is killed itself
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _read_llama(source: str) -> tuple[SimpleNamespace, dict[str, torch.Tensor]] | None:
    """The draft's config (config.json's keys as attributes) and its tensors as stored, read from
    its folder, when they are exactly what transformers would load: a Llama FastLlama supports, every
    setting it needs written in config.json, one model.safetensors holding exactly the Llama's
    tensors (lm_head's only when untied). Else None."""
    folder = Path(source)
    try:
        raw = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or any(k not in raw for k in _NEEDED):
        return None
    rope = raw.get("rope_parameters") or {}
    if "rope_theta" not in raw and not (isinstance(rope, dict) and "rope_theta" in rope):
        return None
    config = SimpleNamespace(**raw)
    if not FastLlama.supports(config) or not (folder / "model.safetensors").is_file():
        return None
    from safetensors.torch import load_file

    weights = load_file(folder / "model.safetensors")
    names = {f"model.layers.{i}.{part}.weight" for i in range(config.num_hidden_layers) for part in (
        "input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
        "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")}
    names |= {"model.embed_tokens.weight", "model.norm.weight"} | (
        set() if config.tie_word_embeddings else {"lm_head.weight"})
    if set(weights) != names or not all(t.is_floating_point() for t in weights.values()):
        return None
    return config, weights


def _warm_up(runner, context: int) -> None:
    """duolab.models.warm_up (not imported from there: duolab.models imports transformers)."""
    runner.forward([0] * min(128, context - 1))
    runner.forward([0])
    runner.reset()


def _load_runner(source: str, kind: str):
    """The same runner the pair uses in-process ("fast" or "transformers"), on this process's copy,
    warmed (before "ready": no generation pays this process's first forward), and the model's EOS id."""
    if kind == "fast" and (read := _read_llama(source)) is not None:
        config, weights = read
        runner = FastLlama.from_weights(config, weights)
        _warm_up(runner, runner.max_len)
        return runner, config.eos_token_id
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from duolab.models import context_of
    from duolab.runners.kvcache import CachedModel

    hf_logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(
        source, local_files_only=True, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
    ).eval()
    runner = FastLlama(model) if kind == "fast" else CachedModel(model, "cpu")
    _warm_up(runner, context_of(model.config))
    return runner, model.config.eos_token_id


def serve(conn: Connection, runner, parent_pid: int, eos_id: int | None = None) -> None:
    """Answer requests until told to stop, the channel closes or the parent is gone."""
    drafter = MultiSequenceDrafter(runner, eos_id)
    fault: dict | None = None
    try:
        while True:
            if not poll(conn, 0.5):
                if os.getppid() != parent_pid:
                    return  # parent gone
                continue
            msg = conn.recv()
            if isinstance(msg, DraftRequest):
                if fault is not None:
                    fault["after"] -= 1
                    if fault["after"] < 0:
                        if fault["mode"] == "crash":
                            os._exit(3)
                        time.sleep(3600)  # hang
                start = time.perf_counter()
                plan = msg.plan
                tree = drafter.draft_tree(msg.context, plan.budget, plan.max_sequences)
                split = time.perf_counter()
                # outcome chains only until the target says its forward is done (a "sync" message)
                tree.outcomes = drafter.draft_outcomes(plan.outcomes, plan.outcome_len, plan.deadline,
                                                       stop=lambda: conn.poll(0))
                conn.send(DraftReply(**vars(tree), id=msg.id, start=start, end=time.perf_counter(),
                                     outcomes_start=split if tree.outcomes else 0.0))
            elif msg["op"] == "sync":
                pass  # the target finished its forward: only outcome drafting listens for it
            elif msg["op"] == "ping":
                conn.send({"op": "pong"})
            elif msg["op"] == "threads":  # the profiler times the draft step at several counts
                torch.set_num_threads(msg["n"])
                conn.send({"op": "threads", "n": torch.get_num_threads()})
            elif msg["op"] == "fault":
                fault = {"after": msg["after"], "mode": msg["mode"]}
            elif msg["op"] == "stop":
                return
    except (EOFError, OSError):
        return  # the channel closed (the parent closed it or exited): a normal end


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="duolab draft worker (started by DraftWorker)")
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--draft", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cores", default="")
    ap.add_argument("--parent", type=int, required=True)
    ap.add_argument("--runner", choices=("fast", "transformers"), default="fast")
    args = ap.parse_args(argv)
    _die_with_parent()
    if os.getppid() != args.parent:
        return
    conn = Connection(args.fd)
    pin_current_thread([int(c) for c in args.cores.split(",") if c] or None, args.threads)
    runner, eos_id = _load_runner(args.draft, args.runner)
    try:
        conn.send({"op": "ready", "pid": os.getpid(), "runner": args.runner})
    except OSError:
        return  # the parent gave up waiting
    serve(conn, runner, args.parent, eos_id)


if __name__ == "__main__":
    main()
