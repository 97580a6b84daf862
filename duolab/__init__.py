"""duolab: learn, measure and tune heterogeneous speculative decoding (DuoDecoding).

    from duolab import load_pair, generate
    pair = load_pair()                       # shipped default pair (target, draft, tokenizer)
    g = generate(pair, "User: hi", method="sps", budget=4)
    g.text, g.stats, g.trace
    duolab.recommend(pair)                   # sps or duo, and its budget, on this machine

Importing duolab needs no GPU and starts nothing.
"""

from duolab import decoding as _decoding  # noqa: F401  (registers ar, sps, pld)
from duolab import duo as _duo  # noqa: F401  (registers duo)
from duolab import hf_assisted as _hf_assisted  # noqa: F401  (registers hf)
from duolab.divergence import Divergence, first_divergence
from duolab.generation import METHODS, Generation, generate
from duolab.models import Pair, load_pair
from duolab.recommendation import Recommendation, recommend
from duolab.sampling import SamplingConfig

__all__ = ["METHODS", "Divergence", "Generation", "Pair", "Recommendation", "SamplingConfig", "first_divergence",
           "generate", "load_pair", "recommend"]
