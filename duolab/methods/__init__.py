"""The decoders, each registered under a name with one signature (duolab.methods.registry):

- `ar` (autoregressive.py): one target forward per token, the baseline;
- `sps` and `pld` (speculative.py): draft, then verify, in turn; the draft model or prompt lookup;
- `duo` (duo.py): DuoDecoding, the draft in a CPU worker process (worker.py) drafting the next
  block while the target verifies this one, its per-round choices made by round_policy.py;
- `hf` (hf_assisted.py): transformers' own assisted generation, the peer a user would pick.

drafting.py holds the drafters: a drafter proposes, the verifier (duolab.sampling) decides.
A decoder never measures: what duo's per-round choices need (a latency profile, a prior alpha)
is passed in by the caller (duolab.generation.generate finds or measures it in duolab.measure).
"""

from duolab.methods import autoregressive, duo, hf_assisted, speculative  # noqa: F401  (register)
from duolab.methods.registry import (
    METHODS,
    Call,
    GenerationSettings,
    Method,
    check_call,
    decode,
    run_call,
)

__all__ = ["METHODS", "Call", "GenerationSettings", "Method", "check_call", "decode", "run_call"]
