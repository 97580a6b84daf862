"""The data the timing model runs on: a latency profile and a workload (the acceptance side).

`LatencyProfile` holds the target's forward time per verified block size, its prefill time
against prompt length, the draft's times and the per-round costs; it saves to and loads from
JSON so machines can be compared (data/profiles/), and `check` lists measurements of one
quantity that disagree. `Workload` holds how often the draft agrees with the target on some
prompts, and the prompts' shapes. Nothing here measures: the budget model (duolab.predict.budget) and the
simulator (duolab.predict.simulate) run on profiles alone.
"""

from __future__ import annotations

import json
import statistics
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from duolab.artefacts import EARLIER_PAIRS_DIR, record
from duolab.paths import DATA_DIR, REPO_DIR

if TYPE_CHECKING:
    from duolab.models import Pair

# two measurements of one quantity further apart than this factor make the profile inconsistent
AGREEMENT_FACTOR = 1.5


@dataclass
class LatencyProfile:
    """Measured latencies in milliseconds. `target_forward_ms[n-1]` is T_t(n)."""

    machine: str
    target: str
    draft: str
    target_device: str
    target_forward_ms: list[float]
    prefill_ms: dict[int, float]
    draft_ms_per_token: float  # duo: the worker's runner, per drafted token
    draft_overhead_ms: float  # duo: fixed cost of one draft request (context feed, reply)
    sps_draft_ms_per_token: float  # sps: the in-process draft on the target's core
    channel_ms: float  # round trip of the worker channel
    sync_ms: float  # verification, sampling and KV rollback after a target forward
    # AR's decode step, timed back to back (the target's weights stay warm in the CPU caches,
    # unlike T_t(1) between forwards of other sizes) in the passes that time T_t(1); see
    # `check` for when the two may differ. None: use T_t(1)
    ar_step_ms: float | None = None
    # a speculative round's bookkeeping outside the target's forward, sync and waits (commit,
    # next-block choice, the draft request); 0 in profiles from before it was measured
    round_overhead_ms: float = 0.0
    # one batched draft step of B branches (B = 1, 2, ...: FastLlama.forward_tree, the draft's fast
    # runner on one thread); empty in profiles from before it was measured or without that runner
    draft_branch_ms: list[float] = field(default_factory=list)
    # one round's prompt lookups with retrieval= (chains at the root and after each of 8 drafted
    # tokens, on a 512-token context: duolab.methods.retrieval); 0 in profiles from before it was measured
    lookup_ms: float = 0.0
    notes: dict = field(default_factory=dict)

    def target_ms(self, n: int) -> float:
        """T_t(n), extrapolated linearly past the measured range."""
        curve = self.target_forward_ms
        if n <= len(curve):
            return curve[max(n, 1) - 1]
        slope = (curve[-1] - curve[len(curve) // 2]) / (len(curve) - 1 - len(curve) // 2)
        return curve[-1] + slope * (n - len(curve))

    def prefill(self, prompt_tokens: int) -> float:
        """Prefill time (ms) for a prompt, interpolated between (or extended past) the measured lengths."""
        pts = sorted(self.prefill_ms.items())
        if not pts:
            return self.target_ms(prompt_tokens)
        if prompt_tokens <= pts[0][0]:
            return pts[0][1]
        return interpolate([k for k, _ in pts], [v for _, v in pts], prompt_tokens)

    def draft_ms(self, n: int) -> float:
        """The worker's time to answer a request for n draft tokens."""
        return self.draft_overhead_ms + n * self.draft_ms_per_token

    def branch_marginal_ms(self) -> float | None:
        """t_m: what one more branch adds to a batched draft step (least squares over B), or None."""
        steps = self.draft_branch_ms
        return fit_line(list(range(1, len(steps) + 1)), steps)[0] if len(steps) >= 2 else None

    def without_overheads(self) -> LatencyProfile:
        """This machine with free channel, sync, bookkeeping and request overhead: only T_t(n)
        and t_d left (the simulator on it gives the best a schedule can do here)."""
        return replace(self, channel_ms=0.0, sync_ms=0.0, draft_overhead_ms=0.0, round_overhead_ms=0.0,
                       notes={**self.notes, "without_overheads": True})

    def check(self) -> list[str]:
        """Measurements of the same quantity that differ by more than 50%, one line each."""
        problems = []
        t1 = self.target_ms(1)
        if self.ar_step_ms is not None and _disagree(self.ar_step_ms, t1):
            problems.append(f"ar_step_ms={self.ar_step_ms:.3g} and T_t(1)={t1:.3g} both time one "
                            f"decode step but differ {_ratio(self.ar_step_ms, t1):.1f}x")
        return problems

    def reconciled(self) -> LatencyProfile:
        """This profile, or, where `check` finds a disagreement, a copy that uses the smaller of
        the two measurements (interference on a shared machine only ever adds time), with a
        warning and a note that says which value was used and what it replaced."""
        t1 = self.target_ms(1)
        if self.ar_step_ms is None or not _disagree(self.ar_step_ms, t1):
            return self
        used = min(self.ar_step_ms, t1)
        note = (f"ar_step_ms {self.ar_step_ms:.3f} disagreed with T_t(1) {t1:.3f} "
                f"({_ratio(self.ar_step_ms, t1):.1f}x); used {used:.3f}, the smaller")
        warnings.warn(f"inconsistent latency profile: {note}", stacklevel=2)
        notes = {**self.notes, "corrected": [*self.notes.get("corrected", []), note]}
        return replace(self, ar_step_ms=used, notes=notes)

    @classmethod
    def median(cls, profiles: list[LatencyProfile]) -> LatencyProfile:
        """Each quantity's median over profiles of one pair on one machine, measured at several
        times (a benchmark's run profile: the machine's speed drifts 10-50% within minutes here,
        so one profile taken after a run can describe a different machine than the run saw)."""
        if not profiles:
            raise ValueError("LatencyProfile.median needs at least one profile")
        first = profiles[0]
        if any((p.target, p.draft, p.target_device) != (first.target, first.draft, first.target_device)
               for p in profiles):
            raise ValueError("LatencyProfile.median: the profiles are of different pairs or devices")
        sizes = min(len(p.target_forward_ms) for p in profiles)
        lengths = set.intersection(*(set(p.prefill_ms) for p in profiles))
        ar = [p.ar_step_ms for p in profiles if p.ar_step_ms is not None]
        scalars = ("draft_ms_per_token", "draft_overhead_ms", "sps_draft_ms_per_token", "channel_ms",
                   "sync_ms", "round_overhead_ms", "lookup_ms")
        curve = [statistics.median([p.target_forward_ms[i] for p in profiles]) for i in range(sizes)]
        branches = min(len(p.draft_branch_ms) for p in profiles)
        return replace(
            first, target_forward_ms=curve,
            prefill_ms={n: statistics.median([p.prefill_ms[n] for p in profiles]) for n in sorted(lengths)},
            ar_step_ms=statistics.median(ar) if ar else None,
            draft_branch_ms=[statistics.median([p.draft_branch_ms[b] for p in profiles]) for b in range(branches)],
            **{name: statistics.median([getattr(p, name) for p in profiles]) for name in scalars},
            notes={**first.notes, "median_of": len(profiles),
                   "when": f"{first.notes.get('when')} .. {profiles[-1].notes.get('when')}"})

    def save(self, path: str | Path, artefact: bool = True) -> Path:
        """Write the profile as JSON; `artefact`: enter it in the manifest (not for a cache file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        if artefact:
            record(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyProfile:
        data = json.loads(Path(path).read_text())
        data["prefill_ms"] = {int(k): v for k, v in data["prefill_ms"].items()}
        return cls(**data)


LOOKUP_CAP = 16  # the longest PLD proposal a workload records (recommend predicts PLD up to it)


@dataclass
class Workload:
    """What the budget is chosen for: the acceptance alpha, and per prompt its length and the
    number of tokens generated before EOS, under a cap of max_new_tokens (drafts are sized by the
    cap, because the decoder cannot know where EOS will come)."""

    alpha: float
    shapes: list[tuple[int, int]]  # (prompt tokens, new tokens) per prompt
    max_new_tokens: int
    # per prompt, per new-token position: does the draft's greedy token equal the target's?
    # (lets the simulator replay greedy acceptance exactly; None: Bernoulli(alpha))
    agreement: list[list[bool]] | None = None
    source: str = ""  # which prompts alpha was measured on (duolab.measure.profile_store)
    # per prompt, per new-token position: (tokens prompt lookup proposes there, up to LOOKUP_CAP,
    # and how many of them the target's greedy output continues with); lets the simulator replay PLD
    lookups: list[list[tuple[int, int]]] | None = None

    @classmethod
    def from_json(cls, saved: dict) -> Workload:
        """A workload saved as JSON (`dataclasses.asdict`), its pairs tuples again, as measured."""
        lookups = [[tuple(x) for x in prompt] for prompt in saved["lookups"]] if saved.get("lookups") else None
        return cls(**{**saved, "shapes": [tuple(s) for s in saved["shapes"]], "lookups": lookups})


def _ratio(a: float, b: float) -> float:
    return max(a, b) / min(a, b) if min(a, b) > 0 else float("inf")


def _disagree(a: float, b: float) -> bool:
    return _ratio(a, b) > AGREEMENT_FACTOR


def interpolate(xs: list[float], ys: list[float], x: float) -> float:
    """Piecewise-linear y(x) through the points (xs ascending), extended linearly past both ends."""
    if len(xs) == 1:
        return ys[0]
    i = 1
    while i < len(xs) - 1 and x > xs[i]:
        i += 1
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line through the points."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return slope, my - slope * mx


def portable_source(source: str) -> str:
    """A model path inside the repository, relative to it (so profiles match across clones)."""
    try:
        return str(Path(source).resolve().relative_to(REPO_DIR))
    except ValueError:
        return source


def measured_profiles(directory: str | Path | None = None, earlier_pairs: bool = True) -> dict[str, LatencyProfile]:
    """Every profile in data/profiles by file stem, and (with `earlier_pairs`) those kept under
    data/earlier_pairs/, labelled "<stem> (previous pair)"."""
    found = {p.stem: LatencyProfile.load(p) for p in sorted(Path(directory or DATA_DIR / "profiles").glob("*.json"))}
    if earlier_pairs:
        found |= {f"{p.stem} (previous pair)": LatencyProfile.load(p) for p in sorted(EARLIER_PAIRS_DIR.glob("*/*.json"))}
    return found


def find_profile(pair: Pair, directory: str | Path, fingerprint: dict | None = None) -> LatencyProfile | None:
    """A saved profile of this pair on this kind of device from `directory` (the device must
    match exactly: a profile measured with the target on "cuda" is never used for a CPU run);
    with `fingerprint`, only one measured on a machine of that fingerprint
    (duolab.artefacts.machine_fingerprint)."""
    for path in sorted(Path(directory).glob("*.json")):
        prof = LatencyProfile.load(path)
        runners = (prof.notes.get("draft_runner", "fast"), prof.notes.get("target_runner", "transformers"))
        if (prof.target, prof.draft, prof.target_device) == (
                portable_source(pair.target_source), portable_source(pair.draft_source),
                str(pair.target_device)) and runners == (pair.draft_runner, pair.target_runner) and (
                fingerprint is None or prof.notes.get("fingerprint") == fingerprint):
            return prof
    return None
