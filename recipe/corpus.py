"""Training corpus and tokenizer for the default (target, draft) pair.

Sources (all local, nothing downloaded at build time):
  * the seven task generators of ``recipe.tasks`` (training seeds only),
  * the Python standard library's own source (files not held out for humaneval),
  * the King James Bible from Debian's ``bible-kjv-text`` package, read with its
    ``bible`` command (public-domain prose; lowers predictability like real prose).
"""
from __future__ import annotations

import json
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from recipe import tasks as T

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"
KJV_HINT = ("The corpus needs the public-domain King James Bible from Debian:\n"
            "    sudo apt-get install bible-kjv   # provides /usr/bin/bible and bible-kjv-text\n"
            "or pass --no-kjv to build without prose (the pair will then differ from the shipped one).")


@dataclass(frozen=True)
class CorpusSpec:
    """Recipe constants: changing any of them changes the shipped pair."""
    seed: int = 0
    examples_per_task: int = 2600   # synthetic tasks (mt_bench ... rag)
    humaneval_repeats: int = 2      # documented stdlib functions, training split
    code_chars: int = 1_500_000     # raw stdlib source, training split, in chunks
    code_chunk_lines: int = 60
    kjv_fraction: float = 0.45      # share of Bible chapters used
    use_kjv: bool = True
    vocab_size: int = 4096
    # Stage-3 focus: (task, multiplier of examples_per_task) for the tasks that need more
    # practice, and documents of arithmetic facts in the math task's ranges.
    task_weights: tuple[tuple[str, float], ...] = ()
    arithmetic_docs: int = 0


def kjv_chapters() -> list[str]:
    """Every KJV chapter as 'Book N' + numbered verses, one per line."""
    if shutil.which("bible") is None:
        raise SystemExit(KJV_HINT)
    out = subprocess.run(["bible", "-l", "100000", "Gen1:1-Rev22:21"], capture_output=True,
                         text=True, check=True).stdout
    chapters, cur = [], []
    for raw in out.splitlines():
        line = raw.strip()
        if not line:
            continue
        if raw.startswith(" "):  # verses are indented; "1 Samuel 3" headers are not
            cur.append(line)
        else:
            if cur:
                chapters.append("\n".join(cur))
            cur = [line]
    if cur:
        chapters.append("\n".join(cur))
    if len(chapters) < 1000:
        raise SystemExit("unexpected output from `bible`; " + KJV_HINT)
    return chapters


def code_chunks(spec: CorpusSpec) -> list[str]:
    """Consecutive line windows of training-split stdlib files up to a char budget."""
    rng, chunks, total = random.Random(f"code:{spec.seed}"), [], 0
    files = [p for p in T.stdlib_files() if not T.is_heldout_file(p)]
    rng.shuffle(files)
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (UnicodeDecodeError, ValueError):
            continue
        for i in range(0, len(lines), spec.code_chunk_lines):
            chunk = "\n".join(lines[i:i + spec.code_chunk_lines]).strip("\n")
            if len(chunk) > 200:
                chunks.append(chunk)
                total += len(chunk)
        if total >= spec.code_chars:
            break
    return chunks


def arithmetic_drill(rng: random.Random, lines: int = 24) -> str:
    """Practice facts in the ranges of the math task (products b*c, sums a+prod, differences,
    equal shares): a target that has the facts can do the worked steps, a small draft cannot."""
    out = ["Arithmetic practice."]
    for _ in range(lines):
        a, b, c = rng.randint(5, 60), rng.randint(2, 9), rng.randint(3, 15)
        total = a + b * c
        kind = rng.randrange(4)
        if kind == 0:
            out.append(f"{b} * {c} = {b * c}")
        elif kind == 1:
            out.append(f"{a} + {b * c} = {total}")
        elif kind == 2:
            d = rng.randint(1, total - 1)
            out.append(f"{total} - {d} = {total - d}")
        else:
            k, q = rng.choice((2, 3, 4, 5)), rng.randint(1, 60)
            out.append(f"{q * k} / {k} = {q}")
    return "\n".join(out)


def heldout_prompts() -> set[str]:
    return {ex.prompt for t in T.TASKS for ex in T.prompt_set(t)}


def build_documents(spec: CorpusSpec) -> list[tuple[str, str]]:
    """(source, text) documents, shuffled; no held-out prompt occurs in any of them."""
    banned = heldout_prompts()
    docs: list[tuple[str, str]] = []
    weights = dict(spec.task_weights)
    for task in T.GENERATORS:
        n = round(spec.examples_per_task * weights.get(task, 1.0))
        docs += [(task, ex.text) for ex in T.generate(task, n, spec.seed) if ex.prompt not in banned]
    rng = random.Random(f"arithmetic:{spec.seed}")
    docs += [("arithmetic", arithmetic_drill(rng)) for _ in range(spec.arithmetic_docs)]
    funcs = T.code_functions(heldout=False)
    docs += [("humaneval", ex.text) for ex in funcs for _ in range(spec.humaneval_repeats)]
    if spec.code_chars:
        docs += [("code", c) for c in code_chunks(spec)]
    if spec.use_kjv:
        chapters = kjv_chapters()
        rng = random.Random(f"kjv:{spec.seed}")
        docs += [("kjv", c) for c in rng.sample(chapters, int(len(chapters) * spec.kjv_fraction))]
    random.Random(f"shuffle:{spec.seed}").shuffle(docs)
    return docs


def train_tokenizer(texts: list[str], out_dir: Path, vocab_size: int = 4096):
    """Byte-level BPE saved as a PreTrainedTokenizerFast folder (loads with AutoTokenizer).

    The post-processor prepends <s>, so ``tokenizer(prompt)`` gives exactly the token
    prefix the model saw in training (documents are <s> text </s>).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS, EOS, PAD, UNK],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A $B",
                                                       special_tokens=[(BOS, tok.token_to_id(BOS))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, model_max_length=1024)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    # Older/newer transformers differ in which files they write; pin the three we promise.
    (out_dir / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD, "unk_token": UNK}, indent=2) + "\n")
    cfg_path = out_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(tokenizer_class="PreTrainedTokenizerFast", bos_token=BOS, eos_token=EOS, pad_token=PAD,
               unk_token=UNK, model_max_length=1024, clean_up_tokenization_spaces=False)
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return fast


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def encode_documents(tokenizer, docs: list[tuple[str, str]]):
    """One flat int16/int32 stream of <s> doc </s> <s> doc </s> ..., plus per-source token counts."""
    import numpy as np

    eos = tokenizer.convert_tokens_to_ids(EOS)
    tokenizer.model_max_length = 10**9  # whole documents here; training windows are cut later
    ids_per_doc = tokenizer([t for _, t in docs], add_special_tokens=True)["input_ids"]
    counts: dict[str, int] = {}
    for (src, _), ids in zip(docs, ids_per_doc, strict=False):
        counts[src] = counts.get(src, 0) + len(ids) + 1
    stream = np.fromiter((i for ids in ids_per_doc for i in (*ids, eos)), dtype=np.int32)
    return stream, counts


def write_prompt_sets(out_dir: Path, n: int = 60) -> dict[str, int]:
    """data/prompts/<task>.jsonl: id, task, prompt, reference (the generator's continuation)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = {}
    for task in T.TASKS:
        rows = [{"id": f"{task}-{i:03d}", "task": task, "prompt": ex.prompt, "reference": ex.completion}
                for i, ex in enumerate(T.prompt_set(task, n))]
        with open(out_dir / f"{task}.jsonl", "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        sizes[task] = len(rows)
    return sizes


def build(build_dir: Path, tokenizer_dir: Path, spec: CorpusSpec = CorpusSpec(),
          new_tokenizer: bool = True, stream_name: str = "tokens") -> dict:
    """Documents -> tokenizer -> token stream (build_dir/<stream_name>.npy) + stats.

    With ``new_tokenizer=False`` the tokenizer already in ``tokenizer_dir`` encodes the
    documents: that is how the target's second-stage stream (fresh synthetic examples from
    another seed) is built for the same vocabulary."""
    import numpy as np
    from transformers import AutoTokenizer

    build_dir.mkdir(parents=True, exist_ok=True)
    docs = build_documents(spec)
    if new_tokenizer:
        tok = train_tokenizer([t for _, t in docs], tokenizer_dir, spec.vocab_size)
    else:
        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    stream, counts = encode_documents(tok, docs)
    np.save(build_dir / f"{stream_name}.npy", stream)
    if not new_tokenizer:
        return {"documents": len(docs), "tokens": int(stream.size), "tokens_by_source": counts,
                "spec": spec.__dict__}
    stats = {"documents": len(docs), "chars": sum(len(t) for _, t in docs), "tokens": int(stream.size),
             "tokens_by_source": counts, "spec": spec.__dict__}
    (build_dir / "corpus.json").write_text(json.dumps(stats, indent=2) + "\n")
    # A small text sample lets tests check held-out prompts against real training text.
    sample = [t for _, t in docs[:3000]]
    (build_dir / "sample.jsonl").write_text("".join(json.dumps(t) + "\n" for t in sample))
    return stats
