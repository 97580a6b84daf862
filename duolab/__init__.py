"""duolab: learn, measure and tune heterogeneous speculative decoding (DuoDecoding).

    from duolab import load_pair, generate
    pair = load_pair()                       # shipped default pair (target, draft, tokenizer)
    g = generate(pair, "User: hi", method="sps", budget=4)
    g.text, g.stats, g.trace
    duolab.recommend(pair)                   # sps or duo, and its budget, on this machine
    duolab.profile(pair, quick=True)         # measure its latencies now (else on first budget="auto")

Importing duolab needs no GPU and starts nothing.
"""

from duolab.generation import generate
from duolab.lab.divergence import Divergence, first_divergence
from duolab.measure.profile_store import profile
from duolab.measure.recommend import recommend
from duolab.methods import METHODS
from duolab.models import Pair, load_pair
from duolab.predict.recommendation import Recommendation
from duolab.run import Generation
from duolab.sampling import SamplingConfig

__all__ = ["METHODS", "Divergence", "Generation", "Pair", "Recommendation", "SamplingConfig", "first_divergence",
           "generate", "load_pair", "profile", "recommend"]
