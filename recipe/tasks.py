"""Seeded generators for the seven miniature tasks of the default pair.

Every task yields ``Example(task, prompt, completion)``.  Training documents are
``prompt + completion`` (then EOS); the held-out prompt sets use the same prompt
form with a different seed, so the model sees exactly the format it learnt.
Prompts never end in whitespace and completions start with whitespace, so the
byte-level BPE splits prompt and completion at the same token boundary in
training and at inference.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import random
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path

from duolab.prompts import TASKS  # noqa: F401  (the task names, shared with the runtime)

HELDOUT_SEED = 20_250_301  # prompt sets; the corpus uses small seeds, so streams differ


@dataclass(frozen=True)
class Example:
    task: str
    prompt: str
    completion: str

    @property
    def text(self) -> str:
        return self.prompt + self.completion


# --------------------------------------------------------------------------- shared words
FIRST = ("Anna Ben Clara David Elena Felix Grace Hugo Iris Jonas Kara Leo Maya Nora Oscar "
         "Paula Quinn Rosa Samuel Tara Umar Vera Walter Xenia Yusuf Zoe Amir Bella Carl "
         "Dina Emil Fiona Greta Henry Ida Jack Lena Milo Nina Owen").split()
LAST = ("Adams Baker Carter Dalton Ellis Fisher Garner Hale Irving Jensen Keller Lowe Moreno "
        "Novak Olsen Price Quint Reyes Stone Turner Ueda Vance Walsh Young Zeller Brandt "
        "Castro Dunn Ferris Gill").split()
TOWNS = ("Millbrook Ashford Redhill Stonebridge Fairhaven Oakridge Westmere Larkspur "
         "Brightwater Elmstead Northcott Pinecrest Silverlake Thornbury Willowby Caldmoor "
         "Eastwick Greyhaven Highfield Kestrel Lowmarsh Marrow Netherby Oldcastle").split()
JOBS = ("baker teacher nurse farmer carpenter librarian painter fisherman engineer doctor "
        "gardener tailor pilot chemist potter mechanic musician shopkeeper").split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
COLORS = "red blue green yellow black white grey brown orange purple".split()
ANIMALS = "cat dog horse goat parrot rabbit tortoise pony donkey hen".split()
PETS = "Biscuit Pepper Ziggy Mabel Rufus Clover Hazel Moss Toffee Juniper Pip Sage".split()
HOBBIES = ("chess, sailing, painting, fishing, baking bread, climbing, birdwatching, "
           "knitting, gardening, running, playing the violin, astronomy").split(", ")


def _name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST), rng.choice(LAST)


# --------------------------------------------------------------------------- translation
# Made-up language "Veltish": a fixed word-for-word lexicon plus two order rules:
# adjectives follow their noun, and the verb moves to the end of the sentence.
NOUNS = ("cat dog bird farmer child teacher king river house tree ship horse woman man baker "
         "garden city road stone apple bread book letter boat mountain village friend sister "
         "brother window door lamp table field fish song wolf queen soldier merchant").split()
ADJS = ("old young small big red green quiet happy tired brave dark bright cold warm tall "
        "clever poor rich strange gentle").split()
VERBS = ("saw found carried painted followed helped watched built sold bought took visited "
         "opened washed lost loved fed met called pulled").split()
PREPS = "near behind under beside across inside before after".split()
DETS = ("the", "a")
POS = {**{w: "N" for w in NOUNS}, **{w: "A" for w in ADJS}, **{w: "V" for w in VERBS},
       **{w: "P" for w in PREPS}, **{w: "D" for w in DETS}}


def _make_lexicon() -> dict[str, str]:
    # Fixed seed: the lexicon is part of the task definition, not of any sample.
    rng = random.Random(7)
    onset, vowel, coda = "b d f g k l m n p r s t v z th sh".split(), "a e i o u ai ei".split(), ["", "n", "r", "s", "l"]
    lex, used = {}, set()
    for w in sorted(POS):
        while True:
            syl = 1 if POS[w] in "DP" else rng.choice((2, 2, 3))
            v = "".join(rng.choice(onset) + rng.choice(vowel) for _ in range(syl)) + rng.choice(coda)
            if v not in used:
                used.add(v)
                lex[w] = v
                break
    return lex


LEXICON = _make_lexicon()
INVERSE = {v: k for k, v in LEXICON.items()}


def _np(rng: random.Random) -> list[str]:
    adjs = rng.sample(ADJS, rng.choice((0, 1, 1, 2)))
    return [rng.choice(DETS), *adjs, rng.choice(NOUNS)]


def english_sentence(rng: random.Random) -> list[list[str]]:
    """Chunks: subject NP, [verb], object NP, and optionally [prep] + NP."""
    chunks = [_np(rng), [rng.choice(VERBS)], _np(rng)]
    if rng.random() < 0.6:
        chunks += [[rng.choice(PREPS)], _np(rng)]
    return chunks


def _veltish_chunks(chunks: list[list[str]]) -> list[list[str]]:
    out = []
    for c in chunks:
        if POS[c[-1]] == "N":  # det adj* noun -> det noun adj*
            c = [c[0], c[-1], *c[1:-1]]
        out.append([LEXICON[w] for w in c])
    return out[:1] + out[2:] + out[1:2]  # verb to the end


def _render(words: list[str]) -> str:
    s = " ".join(words)
    return s[0].upper() + s[1:] + "."


def translate_to_veltish(sentence: str) -> str:
    """Translate one English sentence of the task grammar (used by tests and docs)."""
    words = sentence.rstrip(".").lower().split()
    chunks, cur = [], []
    for w in words:  # a chunk ends at a noun or is a lone verb/preposition
        cur.append(w)
        if POS[w] in "NVP":
            chunks.append(cur)
            cur = []
    return _render([w for c in _veltish_chunks(chunks) for w in c])


def translation(rng: random.Random) -> Example:
    sents = [english_sentence(rng) for _ in range(rng.randint(4, 6))]
    en = " ".join(_render([w for c in s for w in c]) for s in sents)
    vt = " ".join(_render([w for c in _veltish_chunks(s) for w in c]) for s in sents)
    if rng.random() < 0.5:
        return Example("translation", f"Translate from English to Veltish.\nEnglish: {en}\nVeltish:", f" {vt}")
    return Example("translation", f"Translate from Veltish to English.\nVeltish: {vt}\nEnglish:", f" {en}")


# --------------------------------------------------------------------------- summarization
EVENTS = ("opened a small bakery on the high street", "won the regional chess tournament",
          "rescued a dog from the frozen canal", "finished building a footbridge over the stream",
          "organised the first music festival in years", "found an old map hidden in the town hall",
          "set a new record in the spring marathon", "planted a hundred trees along the old railway",
          "restored the broken clock on the church tower", "started a free reading club for children",
          "repaired the roof of the village school", "grew the largest pumpkin at the county fair")
KEY_FACTS = ("The work cost about {n} pounds, most of it raised by neighbours.",
             "Around {n} people came to see it on the first day.",
             "It took {n} days from the first idea to the finished result.",
             "The council has promised {n} pounds to support similar projects.",
             "More than {n} volunteers offered to help.")
FILLERS = ("The weather in {town} was {wx} that morning.", "Local shops stayed open later than usual.",
           "{f2} {l2}, who lives nearby, said it was a {adj} surprise.",
           "Children from the school made posters for the occasion.",
           "The story was shared widely in {town} and beyond.",
           "A brass band played in the square until the evening.",
           "Some residents had doubted that it could be done.",
           "The mayor of {town} sent a letter of thanks.",
           "Tea and cake were served in the community hall.")
QUOTES = ("I just wanted to do something useful", "It was hard work but worth every minute",
          "None of this would have happened without my friends", "I hope it makes people smile",
          "We are already thinking about the next step", "I never expected so much attention")
PLANS = ("write a book about the experience", "teach others how to do the same",
         "repeat the event next summer", "travel to {town} to share the idea",
         "open a second project in {town}", "take a long rest by the sea")


def summarization(rng: random.Random) -> Example:
    f, last = _name(rng)
    town, job = rng.choice(TOWNS), rng.choice(JOBS)
    lead = f"On {rng.choice(DAYS)}, {f} {last}, a {job} from {town}, {rng.choice(EVENTS)}."
    key = rng.choice(KEY_FACTS).format(n=rng.randint(12, 950))
    f2, l2 = _name(rng)
    fillers = [t.format(town=town, wx=rng.choice(("cold", "sunny", "grey", "windy", "mild")), f2=f2, l2=l2,
                        adj=rng.choice(("welcome", "pleasant", "great", "happy")))
               for t in rng.sample(FILLERS, rng.randint(2, 4))]
    quote = f"\"{rng.choice(QUOTES)},\" said {last}."
    plan = f"{last} now plans to {rng.choice(PLANS).format(town=rng.choice(TOWNS))}."
    body = fillers + [quote]
    rng.shuffle(body)
    body.insert(rng.randint(0, len(body)), key)
    story = " ".join([lead, *body, plan])
    # Extractive summary: the lead, the sentence with the key number, and the plan.
    return Example("summarization", f"Article: {story}\nSummarize the article in one line.\nSummary:",
                   f" {lead} {key} {plan}")


# --------------------------------------------------------------------------- qa
def _person_facts(rng: random.Random) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Passage sentences about one person, plus (question, answer span, evidence sentence)."""
    f, last = _name(rng)
    town, year, job = rng.choice(TOWNS), str(rng.randint(1901, 1999)), rng.choice(JOBS)
    years, color, animal = str(rng.randint(2, 40)), rng.choice(COLORS), rng.choice(ANIMALS)
    pet, hobby, moved = rng.choice(PETS), rng.choice(HOBBIES), rng.choice(TOWNS)
    sents = [f"{f} {last} was born in {town} in {year}.", f"{f} worked as a {job} for {years} years.",
             f"{f} owned a {color} {animal} called {pet}.", f"In the evenings {f} enjoyed {hobby}.",
             f"Later {f} moved to {moved}."]
    qas = [(f"Where was {f} {last} born?", town, sents[0]), (f"In which year was {f} {last} born?", year, sents[0]),
           (f"What was the job of {f} {last}?", f"a {job}", sents[1]),
           (f"What was the name of the pet of {f} {last}?", pet, sents[2]),
           (f"What did {f} {last} enjoy in the evenings?", hobby, sents[3]),
           (f"Where did {f} {last} move later?", moved, sents[4])]
    return sents, qas


def qa(rng: random.Random) -> Example:
    (sa, qa_a), (sb, qa_b) = _person_facts(rng), _person_facts(rng)
    q, a, ev = rng.choice(rng.choice((qa_a, qa_b)))
    passage = " ".join(sa + sb)
    return Example("qa", f"Passage: {passage}\nQuestion: {q}\nAnswer:", f" {a}\nEvidence: {ev}")


# --------------------------------------------------------------------------- rag
SEAS = "the North Sea, the Grey Bay, the Silver Sound, the Western Ocean, Lake Mirren".split(", ")


def _snippet(rng: random.Random) -> tuple[str, str, str]:
    kind, town, (f, last) = rng.randrange(5), rng.choice(TOWNS), _name(rng)
    year, n = str(rng.randint(1700, 2015)), rng.randint(120, 4800)
    if kind == 0:
        return (f"The {town} public library was founded in {year} by {f} {last} and holds {n} old maps.",
                f"Who founded the {town} public library?", f"{f} {last}")
    if kind == 1:
        return (f"Mount {last} rises {n} metres above {town} and was first climbed in {year}.",
                f"How tall is Mount {last}?", f"{n} metres")
    if kind == 2:
        sea = rng.choice(SEAS)
        return (f"The river {f} flows through {town} for {n % 300 + 20} kilometres before it reaches {sea}.",
                f"Where does the river {f} end?", sea)
    if kind == 3:
        return (f"The {town} bridge was designed by the engineer {f} {last} and opened in {year}.",
                f"When did the {town} bridge open?", year)
    return (f"{town} is known for its {rng.choice(COLORS)} {rng.choice(('tiles', 'boats', 'roofs', 'apples'))} "
            f"and has about {n} inhabitants.", f"How many people live in {town}?", f"about {n}")


def rag(rng: random.Random) -> Example:
    snips, questions = [], set()
    while len(snips) < rng.choice((4, 5)) or not snips:
        s, q, a = _snippet(rng)
        if q not in questions:  # one answer per question
            questions.add(q)
            snips.append((s, q, a))
    k = rng.randrange(len(snips))
    s, q, a = snips[k]
    docs = "\n".join(f"[{i + 1}] {t}" for i, (t, _, _) in enumerate(snips))
    return Example("rag", f"Retrieved snippets:\n{docs}\nQuestion: {q}\nAnswer:",
                   f" {a} [{k + 1}].\nSnippet [{k + 1}] says: {s}")


# --------------------------------------------------------------------------- math_reasoning
ITEMS = "apples marbles stickers books pencils shells coins cookies stamps eggs".split()


def math_reasoning(rng: random.Random) -> Example:
    f, _ = _name(rng)
    item = rng.choice(ITEMS)
    a, b, c = rng.randint(5, 60), rng.randint(2, 9), rng.randint(3, 15)
    prod, total = b * c, a + b * c
    q = [f"{f} has {a} {item}.", f"{f} buys {b} boxes with {c} {item} in each box."]
    steps = [f"{f} starts with {a} {item}.", f"{b} boxes with {c} {item} each is {b} * {c} = {prod} {item}.",
             f"After buying, {f} has {a} + {prod} = {total} {item}."]
    if rng.random() < 0.7:
        d = rng.randint(1, total - 1)
        q.append(f"Then {f} gives {d} {item} to a friend.")
        steps.append(f"After giving {d} away, {f} has {total} - {d} = {total - d} {item}.")
        total -= d
    if rng.random() < 0.5:
        k = rng.choice([x for x in (2, 3, 4, 5) if total % x == 0] or [1])
        if k > 1:
            q.append(f"{f} shares the {item} equally among {k} jars.")
            steps.append(f"Each jar gets {total} / {k} = {total // k} {item}.")
            total //= k
            return Example("math_reasoning",
                           f"Question: {' '.join(q)} How many {item} are in each jar?\nLet's think step by step.",
                           "\n" + "\n".join(steps) + f"\nThe answer is {total}.")
    return Example("math_reasoning", f"Question: {' '.join(q)} How many {item} does {f} have now?\n"
                   "Let's think step by step.", "\n" + "\n".join(steps) + f"\nThe answer is {total}.")


# --------------------------------------------------------------------------- mt_bench (dialogue)
TOPICS = {
    "sleep better": ("go to bed at the same time every night", "keep your bedroom dark and cool",
                     "avoid coffee after lunch", "put your phone away an hour before bed",
                     "take a short walk in the morning light", "write down your worries before you sleep"),
    "learn a new language": ("practise a little every day", "read short stories written for learners",
                             "speak with a partner once a week", "label things in your home with new words",
                             "listen to songs and radio in that language", "keep a small notebook of phrases"),
    "save money": ("write down everything you spend for a month", "cook at home more often",
                   "set aside a fixed amount on payday", "cancel subscriptions you do not use",
                   "wait a day before any large purchase", "compare prices before you buy"),
    "start running": ("begin with short runs and walking breaks", "buy a pair of comfortable shoes",
                      "run at an easy pace where you can still talk", "rest at least one day between runs",
                      "increase your distance slowly each week", "find a friend to run with"),
    "grow vegetables": ("start with easy plants like beans and lettuce", "choose a spot with plenty of sun",
                        "water the soil in the early morning", "add compost to the beds in spring",
                        "pull weeds while they are still small", "keep notes on what grows well"),
    "study for an exam": ("make a plan for each week before the exam", "test yourself instead of rereading",
                          "study in short sessions with breaks", "explain the ideas to a friend",
                          "solve old exam questions", "sleep well the night before"),
    "write clean code": ("give variables clear names", "keep functions short and focused",
                         "write tests for the tricky parts", "remove code that is no longer used",
                         "ask a colleague to review your changes", "write comments that explain why"),
    "cook a simple dinner": ("choose a recipe with few ingredients", "prepare everything before you start",
                             "use one large pan to save washing up", "taste the food as you cook",
                             "cook extra so you have lunch tomorrow", "keep rice and pasta in the cupboard"),
}
REASONS = ("it builds a habit that is easy to keep", "small changes are easier to repeat",
           "it removes the biggest obstacle first", "it gives you quick feedback",
           "it makes the rest of the plan much simpler")
OPENERS = ("Here are a few ideas.", "Good question.", "Sure, here is what usually helps.",
           "There are several simple things you can try.")


CLOSERS = ("Start small and be patient with yourself.", "Pick one of these and try it this week.",
           "Most of these take only a few minutes a day.", "Small steps add up faster than you think.")


def mt_bench(rng: random.Random) -> Example:
    topic, tips = rng.choice(sorted(TOPICS.items()))
    chosen = rng.sample(tips, 3)
    extra = [t for t in tips if t not in chosen]
    first = (f"{rng.choice(OPENERS)} To {topic}, {chosen[0]}. It also helps to {chosen[1]}. "
             f"Many people find it useful to {chosen[2]}. {rng.choice(CLOSERS)}")
    ask = rng.choice((f"How can I {topic}?", f"What is the best way to {topic}?",
                      f"I want to {topic}. Any advice?"))
    kind = rng.randrange(3)
    if kind == 0:
        q2 = "Can you turn that into a numbered list?"
        a2 = ("Of course. Here are the steps to " + topic + ".\n"
              + "\n".join(f"{i + 1}. {t[0].upper() + t[1:]}." for i, t in enumerate(chosen))
              + f"\nIf you can only do one of them, {chosen[0]}.")
    elif kind == 1:
        q2 = "Can you give me three more tips?"
        a2 = (f"Yes. You could also {extra[0]}. Another good idea is to {extra[1]}. "
              f"Some people also like to {extra[2]}. "
              f"Together with the earlier tips, this should help you {topic}.")
    else:
        q2 = "Why does the first tip matter?"
        a2 = (f"The first tip was to {chosen[0]}. It matters because {rng.choice(REASONS)}. "
              f"Once that is in place, it is easier to {chosen[1]}, and later to {chosen[2]}. "
              f"{rng.choice(CLOSERS)}")
    return Example("mt_bench", f"User: {ask}\nAssistant: {first}\nUser: {q2}\nAssistant:", f" {a2}")


# --------------------------------------------------------------------------- humaneval (stdlib)
def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files() -> list[Path]:
    """Pure-Python stdlib modules (no tests, no vendored packages), sorted for determinism."""
    return list(_stdlib_files())


@functools.cache
def _stdlib_files() -> tuple[Path, ...]:
    root, skip = stdlib_dir(), ("test", "tests", "idlelib", "site-packages", "lib2to3", "turtledemo",
                                "ensurepip", "__pycache__", "pydoc_data", "encodings", "tkinter")
    return tuple(sorted(p for p in root.rglob("*.py")
                        if not set(p.relative_to(root).parts) & set(skip) and p.stat().st_size < 400_000))


def is_heldout_file(path: Path) -> bool:
    """About 15 % of stdlib files, chosen by a hash of their path, never go into training."""
    rel = path.relative_to(stdlib_dir()).as_posix()
    return int(hashlib.sha256(rel.encode()).hexdigest(), 16) % 100 < 15


def code_functions(heldout: bool) -> list[Example]:
    """Signature + docstring -> body for documented functions of the chosen stdlib split."""
    return list(_code_functions(heldout))


@functools.cache  # parsing the stdlib takes seconds; the corpus and the prompt set both ask
def _code_functions(heldout: bool) -> tuple[Example, ...]:
    out = []
    for path in stdlib_files():
        if is_heldout_file(path) != heldout:
            continue
        try:
            src = path.read_text(encoding="utf-8")
            tree = ast.parse(src)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        lines = src.splitlines()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.decorator_list:
                continue
            doc = node.body[0] if node.body else None
            if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
                    and isinstance(doc.value.value, str)) or len(node.body) < 2:
                continue
            head = textwrap.dedent("\n".join(lines[node.lineno - 1:doc.end_lineno]))
            body_lines = lines[doc.end_lineno:node.end_lineno]
            indent = len(lines[node.lineno - 1]) - len(lines[node.lineno - 1].lstrip())
            body = "\n".join(row[indent:] for row in body_lines)
            # Modest prompt, a body long enough to be worth drafting, but not a whole module.
            if not head.rstrip().endswith(('"""', "'''")) or not 120 <= len(body) <= 900 or len(head) > 700:
                continue
            out.append(Example("humaneval", head.rstrip(), "\n" + body.rstrip()))
    return tuple(out)


def humaneval_prompts(n: int, seed: int) -> list[Example]:
    # Some stdlib helpers are copied between modules (shutil/tarfile._get_uid): drop any
    # held-out function whose signature and docstring also occur in a training-split file.
    train_src = "\n".join(p.read_text(encoding="utf-8", errors="replace")
                           for p in stdlib_files() if not is_heldout_file(p))
    pool = [e for e in code_functions(heldout=True)
            if not all(line.strip() in train_src for line in e.prompt.splitlines()[:2])]
    return random.Random(seed).sample(pool, min(n, len(pool)))


# --------------------------------------------------------------------------- entry points
GENERATORS = {"mt_bench": mt_bench, "translation": translation, "summarization": summarization,
              "qa": qa, "math_reasoning": math_reasoning, "rag": rag}


def generate(task: str, n: int, seed: int) -> list[Example]:
    """n examples of a synthetic task; deterministic for (task, seed)."""
    rng = random.Random(f"{task}:{seed}")
    return [GENERATORS[task](rng) for _ in range(n)]


def prompt_set(task: str, n: int = 60, seed: int = HELDOUT_SEED) -> list[Example]:
    """Held-out prompts: a seed never used for the corpus, de-duplicated, or held-out stdlib files."""
    if task == "humaneval":
        return humaneval_prompts(n, seed)
    seen, out, rng = set(), [], random.Random(f"{task}:{seed}")
    while len(out) < n:
        ex = GENERATORS[task](rng)
        if ex.prompt not in seen:
            seen.add(ex.prompt)
            out.append(ex)
    return out
