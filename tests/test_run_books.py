"""The run keeps the books, and every drafter goes through one contract.

No decoder writes a `Run`'s counters itself (it tells the run what happened through its methods);
every drafter implements `duolab.methods.drafting.Drafter`, and the sequential loop verifies
whatever a drafter proposes, whoever drafted it."""

import ast
import inspect
import time
from pathlib import Path

import duolab.methods.duo
import duolab.methods.registry
from duolab import generate
from duolab.methods.drafting import (
    Chain,
    ChainDrafter,
    Drafter,
    DraftPlan,
    DraftTree,
)
from duolab.methods.duo import WorkerDrafter
from duolab.methods.registry import GenerationSettings, check_call
from duolab.methods.retrieval import PromptLookupDrafter
from duolab.methods.speculative import speculative_loop
from duolab.run import Run

METHODS_DIR = Path(duolab.methods.duo.__file__).parent


def writes_to_run(source: str) -> list[str]:
    """Every statement in `source` that assigns to an attribute of a run (`run.x = ...`,
    `run.x += ...`, `self.run.x = ...`), as 'line: code'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AugAssign, ast.AnnAssign)) else []
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, ast.Attribute) and (
                        (isinstance(sub.value, ast.Name) and sub.value.id == "run")
                        or (isinstance(sub.value, ast.Attribute) and sub.value.attr == "run")):
                    found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_scan_sees_a_decoder_writing_the_books():
    src = "def f(run, self):\n    run.target_forwards += 1\n    self.run.rounds = 2\n    x.y = run.z\n"
    assert writes_to_run(src) == ["2: run.target_forwards += 1", "3: self.run.rounds = 2"]


def test_no_decoder_writes_a_runs_counters():
    for path in sorted(METHODS_DIR.glob("*.py")):
        assert writes_to_run(path.read_text()) == [], path.name


def test_every_drafter_implements_the_contract():
    for cls in (ChainDrafter, PromptLookupDrafter, WorkerDrafter):
        assert issubclass(cls, Drafter), cls
        # an in-process drafter drafts when asked; the worker's overrides ask and collect
        assert "draft" in vars(cls) or {"ask", "collect"} <= set(vars(cls)), cls
    assert list(inspect.signature(Drafter.ask).parameters) == ["self", "context", "plan"]
    assert list(inspect.signature(Drafter.collect).parameters) == ["self"]
    assert list(inspect.signature(Drafter.accepted).parameters) == ["self", "chain", "n"]


class _Replay(Drafter):
    """A drafter of our own: proposes the next tokens of a known text (or junk), as one chain."""

    def __init__(self, text: list[int], junk: int | None = None):
        super().__init__()
        self.text, self.junk = text, junk

    def draft(self, context, plan):
        n = plan.budget
        tokens = [self.junk] * n if self.junk is not None else self.text[len(context):len(context) + n]
        return DraftTree([Chain(tokens, [1.0] * len(tokens), [[] for _ in tokens], len(context), "replay")])


def _run(pair, prompt: str, max_new_tokens: int) -> Run:
    call = check_call(pair, prompt, GenerationSettings(max_new_tokens=max_new_tokens), {})
    pair.runner("target")
    return Run(pair, call.prompt_ids, max_new_tokens, call.sampling, 0, time.perf_counter())


def test_the_verifier_does_not_care_who_drafted(toy_pair):
    prompt = "def forward(self, x):"
    ar = generate(toy_pair, prompt, max_new_tokens=24).token_ids
    for junk, passes in ((None, True), (7, False)):
        run = _run(toy_pair, prompt, 24)
        drafter = _Replay(run.prompt_ids + ar, junk)
        speculative_loop(run, drafter, 4)
        assert run.tokens == ar  # greedy: the target decides, whatever was drafted
        assert drafter.proposed == run.draft_tokens > 0  # told about every chain it drafted
        if passes:  # the oracle's chains all pass: 4 drafts and the target's own token per forward
            assert drafter.passed == run.accepted_tokens == run.draft_tokens
            assert run.target_forwards == -(-24 // 5)
        else:
            assert drafter.passed == run.accepted_tokens < run.draft_tokens // 2


def test_a_drafter_asked_for_nothing_drafts_nothing():
    drafter = PromptLookupDrafter()
    drafter.ask([1, 2, 3, 1, 2], DraftPlan(0))
    assert drafter.collect() is None
    drafter.ask([1, 2, 3, 1, 2], DraftPlan(4))
    tree = drafter.collect()
    assert tree.sequences[0].tokens == [3, 1, 2] and tree.sequences[0].start == 5
    assert tree.sequences[0].origin == "lookup" and tree.sequences[0].q is None
    assert drafter.collect() is None  # collected once


def test_one_settings_object_holds_the_shared_defaults():
    settings, options = GenerationSettings.split({"method": "sps", "budget": 3, "seed": 5})
    assert settings == GenerationSettings(method="sps", seed=5) and options == {"budget": 3}
    # generate and decode take the settings as keywords; none of them repeats a default
    for fn in (generate, duolab.methods.registry.decode):
        defaults = {p.name for p in inspect.signature(fn).parameters.values() if p.default is not p.empty}
        assert defaults <= {"inputs"}, fn
    assert list(inspect.signature(check_call).parameters) == ["pair", "prompt", "settings", "options"]


def test_sps_draws_its_chain_from_q_at_temperature(toy_pair):
    """At T > 0 the chain carries the rows its tokens were sampled from: the verifier needs q."""
    from duolab.sampling import SamplingConfig

    drafter = ChainDrafter(toy_pair.runner("draft"), SamplingConfig(1.0), None)
    chain = drafter.draft([1, 2, 3], DraftPlan(3)).sequences[0]
    assert chain.q is not None and chain.q.shape[0] == 3 == len(chain)
    assert chain.probs == [float(chain.q[i, t]) for i, t in enumerate(chain.tokens)]
    greedy = ChainDrafter(toy_pair.runner("draft"), SamplingConfig(0.0), None).draft([1, 2, 3], DraftPlan(3))
    assert greedy.sequences[0].q is None

