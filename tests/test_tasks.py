"""Fast checks of the task generators and the shipped prompt sets (no training)."""
import json
import re
from pathlib import Path

import pytest

from recipe import tasks as T

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = sorted(T.GENERATORS)


@pytest.mark.parametrize("task", SYNTHETIC)
def test_generators_are_deterministic(task):
    a, b = T.generate(task, 20, seed=3), T.generate(task, 20, seed=3)
    assert a == b
    assert a != T.generate(task, 20, seed=4)


@pytest.mark.parametrize("task", SYNTHETIC)
def test_prompt_completion_boundary(task):
    # Prompt ends on a non-space and the completion starts with whitespace, so BPE
    # splits prompt and completion at the same place in training and at inference.
    for ex in T.generate(task, 50, seed=0):
        assert ex.task == task
        assert not ex.prompt[-1].isspace() and ex.completion[0].isspace()


def test_translation_rule_on_a_known_sentence():
    L = T.LEXICON
    got = T.translate_to_veltish("The old farmer saw a red bird near the river.")
    words = [L["the"], L["farmer"], L["old"], L["a"], L["bird"], L["red"], L["near"], L["the"],
             L["river"], L["saw"]]
    want = " ".join(words)
    assert got == want[0].upper() + want[1:] + "."


def test_lexicon_is_a_bijection():
    assert len(set(T.LEXICON.values())) == len(T.LEXICON)
    assert all(T.INVERSE[v] == k for k, v in T.LEXICON.items())


def test_generated_translations_follow_the_rule():
    n = 0
    for ex in T.generate("translation", 60, seed=1):
        src = re.search(r"(English|Veltish): (.*)\n", ex.prompt).group(2)
        en, vt = (src, ex.completion.strip()) if "to Veltish" in ex.prompt else (ex.completion.strip(), src)
        en_s, vt_s = en.split(". "), vt.split(". ")
        assert len(en_s) == len(vt_s)
        for e, v in zip(en_s, vt_s, strict=False):
            e, v = e.rstrip(".") + ".", v.rstrip(".") + "."
            assert T.translate_to_veltish(e) == v
            # The verb is always last in Veltish.
            assert T.POS[T.INVERSE[v.rstrip(".").split()[-1].lower()]] == "V"
            n += 1
    assert n > 100


def test_math_worked_answers_are_correct():
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
           "/": lambda a, b: a / b}
    for ex in T.generate("math_reasoning", 300, seed=5):
        eqs = re.findall(r"(\d+) ([-+*/]) (\d+) = (\d+)", ex.completion)
        assert eqs
        for a, op, b, c in eqs:
            assert ops[op](int(a), int(b)) == int(c)
        answer = int(re.search(r"The answer is (\d+)\.$", ex.completion).group(1))
        assert answer == int(eqs[-1][3]) and answer >= 0


@pytest.mark.parametrize("task", ["qa", "rag", "summarization"])
def test_extractive_answers_come_from_the_prompt(task):
    for ex in T.generate(task, 50, seed=2):
        if task == "summarization":
            parts = re.findall(r"[^.]*?\.(?= |$)", ex.completion.strip())
        elif task == "qa":
            parts = [ex.completion.split("\nEvidence: ")[1], ex.completion.split("\n")[0].strip()]
        else:
            parts = [ex.completion.split(" says: ")[1]]
        for p in parts:
            assert p.strip() in ex.prompt


def test_heldout_prompts_not_in_training():
    from recipe import corpus

    held = [e.prompt for t in T.TASKS for e in T.prompt_set(t, 60)]
    assert len(set(held)) == len(held)
    spec = corpus.CorpusSpec(examples_per_task=300, humaneval_repeats=1, code_chars=0, use_kjv=False)
    texts = [t for _, t in corpus.build_documents(spec)]
    # The saved sample of the real corpus, when it has been built.
    sample = ROOT / "build" / "sample.jsonl"
    if sample.exists():
        texts += [json.loads(line) for line in sample.read_text().splitlines()]
    by_head: dict[str, list[str]] = {}  # held-out prompts by their first 30 characters
    for p in held:
        by_head.setdefault(p[:30], []).append(p)
    for text in texts:
        assert not any(text.startswith(p) for p in by_head.get(text[:30], ())), text[:80]


def test_humaneval_split_is_disjoint():
    files = T.stdlib_files()
    held = [p for p in files if T.is_heldout_file(p)]
    assert 0 < len(held) < len(files) // 4
    train_heads = {e.prompt for e in T.code_functions(heldout=False)}
    for ex in T.prompt_set("humaneval", 60):
        assert ex.prompt not in train_heads


def test_prompt_files_match_generators():
    for task in T.TASKS:
        path = ROOT / "data" / "prompts" / f"{task}.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert len(rows) >= 40 and len({r["id"] for r in rows}) == len(rows)
        assert all(r["task"] == task and r["prompt"] and r["reference"] for r in rows)
        if task != "humaneval":  # humaneval depends on the local stdlib version
            assert [r["prompt"] for r in rows] == [e.prompt for e in T.prompt_set(task, len(rows))]


def test_tokenizer_prompt_is_token_prefix():
    tok_dir = ROOT / "data" / "models" / "tokenizer"
    if not (tok_dir / "tokenizer.json").exists():
        pytest.skip("tokenizer not built")
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(str(tok_dir))
    assert tok.bos_token == "<s>" and tok.eos_token == "</s>"
    for task in T.TASKS:
        path = ROOT / "data" / "prompts" / f"{task}.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines()[:10]:
            r = json.loads(line)
            p, full = tok(r["prompt"])["input_ids"], tok(r["prompt"] + r["reference"])["input_ids"]
            assert p[0] == tok.bos_token_id and full[:len(p)] == p
