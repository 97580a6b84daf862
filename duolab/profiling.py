"""Measure the latencies the budget model and the simulator run on, on the machine at hand.

`profile_pair(pair)` times, with warm-up, repeats and medians (CUDA-synchronized when the target
is on a GPU): the target's forward over n new tokens with a KV cache, T_t(n), n = 1..64; its
prefill against prompt length; the draft worker's time per drafted token (the duo path, fast
runner) and the in-process draft's (the SpS path); the channel's round trip; the per-round sync.
The result is a `LatencyProfile`, saved to / loaded from JSON so machines can be compared.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from duolab.kvcache import CachedModel
from duolab.models import REPO_DIR, Pair
from duolab.runtime import target_placement

VERIFY_SIZES = list(range(1, 65))
PREFILL_SIZES = [16, 32, 64, 128, 256, 512]


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
    # AR's decode step, measured back to back (the target's weights stay warm in the CPU caches,
    # unlike T_t(1) between drafting or forwards of other sizes); None: use T_t(1)
    ar_step_ms: float | None = None
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

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyProfile:
        data = json.loads(Path(path).read_text())
        data["prefill_ms"] = {int(k): v for k, v in data["prefill_ms"].items()}
        return cls(**data)


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 1000 * (time.perf_counter() - t)


def _token_ids(pair: Pair, n: int) -> list[int]:
    g = torch.Generator().manual_seed(0)
    return torch.randint(4, len(pair.tokenizer), (n,), generator=g).tolist()


def measure_target(pair: Pair, sizes=VERIFY_SIZES, context: int = 128, repeats: int = 9,
                   warmup: int = 1) -> list[float]:
    """Median T_t(n) in ms: a forward over n new tokens after `context` cached ones. Sizes are
    measured in interleaved passes, so a slow spell of the machine hits every n alike."""
    model = CachedModel(pair.target, pair.target_device)
    ids = _token_ids(pair, context + max(sizes))
    times: dict[int, list[float]] = {n: [] for n in sizes}
    with target_placement(pair.layout):
        model.forward(ids[:context])
        for r in range(warmup + repeats):
            for n in sizes:
                ms = _timed(lambda n=n: model.forward(ids[context:context + n]), pair.target_device)
                model.rollback(context)
                if r >= warmup:
                    times[n].append(ms)
    return [_median(times[n]) for n in sizes]


def measure_ar_step(pair: Pair, context: int = 128, steps: int = 48) -> float:
    """Median time (ms) of one AR decode step (forward of one token, then the next, ...)."""
    model = CachedModel(pair.target, pair.target_device)
    ids = _token_ids(pair, context + steps)
    times = []
    with target_placement(pair.layout):
        model.forward(ids[:context])
        for i in range(steps):
            times.append(_timed(lambda i=i: model.forward([ids[context + i]]), pair.target_device))
    return _median(times[steps // 4:])


def measure_prefill(pair: Pair, sizes=PREFILL_SIZES, repeats: int = 5) -> dict[int, float]:
    """Median time (ms) of a fresh cache's first forward over a prompt of each length (interleaved)."""
    ids = _token_ids(pair, max(sizes))
    sizes = [s for s in sizes if s < pair.context_length]
    times: dict[int, list[float]] = {n: [] for n in sizes}
    with target_placement(pair.layout):
        for r in range(repeats + 1):
            for n in sizes:
                model = CachedModel(pair.target, pair.target_device)
                ms = _timed(lambda n=n, m=model: m.forward(ids[:n]), pair.target_device)
                if r:
                    times[n].append(ms)
    return {n: _median(times[n]) for n in sizes}


def measure_worker(pair: Pair, context: int = 128, repeats: int = 9) -> tuple[float, float, float]:
    """(ms per draft token, fixed ms per request, channel round trip ms) of the duo worker.

    Each request drafts after a context that differs from the last in its final two tokens, as
    after a typical round, so the fixed cost includes re-feeding them."""
    from duolab.duo import draft_worker

    worker = draft_worker(pair)
    ids = _token_ids(pair, context + 8)
    xs, ys = [], []
    for n in (1, 4, 8, 16, 24):
        times = []
        for r in range(repeats + 1):
            ctx = ids[:context - 2] + ids[context + r % 4: context + r % 4 + 2]
            tree = worker.wait(worker.request(ctx, n, 1), 30.0)
            if tree is None:
                raise RuntimeError("the draft worker did not answer while profiling")
            if r:
                times.append(1000 * (tree["end"] - tree["start"]))
        xs.append(n)
        ys.append(_median(times))
    slope, intercept = _fit_line(xs, ys)
    return slope, intercept, 1000 * worker.ping(200)


def measure_sps_draft(pair: Pair, context: int = 128, n: int = 8, repeats: int = 5) -> float:
    """ms per token of SpS's drafter (in process, on the target's core, greedy), per round as
    SpS runs it: re-feed the last two tokens, then draft n."""
    from duolab.drafting import ChainDrafter
    from duolab.sampling import SamplingConfig

    drafter = ChainDrafter(pair.draft, pair.draft_device, SamplingConfig(0.0), None)
    ids = _token_ids(pair, context + 8)
    times = []
    with target_placement(pair.layout):
        for r in range(repeats + 1):
            ctx = ids[:context - 2] + ids[context + r % 4: context + r % 4 + 2]
            t = time.perf_counter()
            drafter.propose(ctx, n)
            if r:
                times.append(1000 * (time.perf_counter() - t) / n)
    return _median(times)


def measure_sync(pair: Pair) -> float:
    """Median per-round sync time of a short duo generation (verify, sample, roll back)."""
    from duolab.generation import generate

    trace = generate(pair, "The", method="duo", max_new_tokens=48).trace
    sync = trace[trace["kind"] == "sync"]
    return float(1000 * (sync["end_s"] - sync["start_s"]).median())


def _fit_line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return slope, my - slope * mx


def profile_pair(pair: Pair, quick: bool = False) -> LatencyProfile:
    """Measure everything in a LatencyProfile (about a minute on 2 CPU cores; seconds if quick)."""
    sizes = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64] if quick else VERIFY_SIZES
    curve = measure_target(pair, sizes, repeats=5 if quick else 9)
    if quick:  # fill 1..64 by linear interpolation between the measured sizes
        curve = [interpolate(sizes, curve, n) for n in VERIFY_SIZES]
    per_token, overhead, channel = measure_worker(pair, repeats=5 if quick else 9)
    return LatencyProfile(
        machine=f"{platform.node()} {platform.processor() or platform.machine()}",
        target=portable_source(pair.target_source), draft=portable_source(pair.draft_source),
        target_device=str(pair.target_device),
        target_forward_ms=curve, prefill_ms=measure_prefill(pair, repeats=1 if quick else 5),
        draft_ms_per_token=per_token, draft_overhead_ms=max(overhead, 0.0),
        sps_draft_ms_per_token=measure_sps_draft(pair, repeats=2 if quick else 9),
        channel_ms=channel, sync_ms=measure_sync(pair), ar_step_ms=measure_ar_step(pair),
        notes={"quick": quick, "torch": torch.__version__,
               "layout": str(pair.layout), "when": time.strftime("%Y-%m-%d %H:%M")},
    )


def interpolate(xs: list[float], ys: list[float], x: float) -> float:
    """Piecewise-linear y(x) through the points (xs ascending), extended linearly past both ends."""
    if len(xs) == 1:
        return ys[0]
    i = 1
    while i < len(xs) - 1 and x > xs[i]:
        i += 1
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def portable_source(source: str) -> str:
    """A model path inside the repository, relative to it (so profiles match across clones)."""
    try:
        return str(Path(source).resolve().relative_to(REPO_DIR))
    except ValueError:
        return source


def find_or_measure(pair: Pair, directory: str | Path, quick: bool = False) -> LatencyProfile:
    """A saved profile of this pair on this kind of device from `directory`, else a new one."""
    for path in sorted(Path(directory).glob("*.json")):
        prof = LatencyProfile.load(path)
        if (prof.target, prof.draft, prof.target_device) == (
                portable_source(pair.target_source), portable_source(pair.draft_source),
                str(pair.target_device)):
            return prof
    return profile_pair(pair, quick=quick)


def cached_profile(pair: Pair, quick: bool = False) -> LatencyProfile:
    """The pair's profile, measured on first use and kept for the pair's lifetime."""
    prof = pair.resources.get("latency_profile")
    if prof is None:
        prof = profile_pair(pair, quick=quick)
        pair.resources["latency_profile"] = prof
    return prof
