"""A lesson's sentences, rendered from the data they cite.

A notebook's markdown keeps explanation; every measured number, comparison or ranking it states
comes from a function here, shown by a code cell as `IPython.display.Markdown(text)`, so a rerun
cannot leave the text behind (tests/test_computed_prose.py). One section per notebook (06: duolab.lab.regime_text); add yours.
"""

from __future__ import annotations

import pandas as pd


def span(lo: float, hi: float, unit: str = "x") -> str:
    """"0.91-1.09x", or "0.96x" where both ends print alike."""
    return f"{lo:.2f}{unit}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f}{unit}"


def join_and(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# ---------------------------------------------------------------------------------------------
# 02 · Latency profiling

def _device_kind(profile) -> str:
    return "GPU" if str(profile.target_device).startswith("cuda") else "CPU"


def verification_growth(profiles: dict, n: int = 8) -> dict[str, dict[str, float]]:
    """T_t(n) / T_t(1) of each profile (`{name: LatencyProfile}`), by device ("CPU", "GPU")."""
    out: dict[str, dict[str, float]] = {}
    for name, p in profiles.items():
        out.setdefault(_device_kind(p), {})[name] = p.target_ms(n) / p.target_ms(1)
    return out


def verification_growth_text(profiles: dict, n: int = 8, this=None) -> str:
    """How much dearer verifying n tokens is than one, T_t(n) / T_t(1), in every profile of
    `profiles` ({name: LatencyProfile}, e.g. `latency_profile.measured_profiles()`) by device and
    target runner, and (`this`: (name, profile)) in this run's."""
    parts = []
    for kind, ratios in verification_growth(profiles, n).items():
        listed = ", ".join(f"{name}{_runner_note(profiles[name])} {r:.2f}x"
                           for name, r in sorted(ratios.items(), key=lambda kv: kv[1]))
        parts.append(f"{span(min(ratios.values()), max(ratios.values()))} in the {len(ratios)} "
                     f"{kind} profile{'s' * (len(ratios) > 1)} ({listed})")
    text = f"Verifying {n} tokens costs T_t({n}) / T_t(1) = " + "; ".join(parts)
    if this is not None:
        name, p = this
        text += f". This run's profile ({name}): {p.target_ms(n) / p.target_ms(1):.2f}x"
    return text + "."


def _runner_note(profile) -> str:
    runner = profile.notes.get("target_runner", "transformers")
    return "" if runner == "transformers" else f" ({runner} target runner)"


def profiles_title(profiles: dict, n: int = 64) -> str:
    """The profiles figure's title: T_t(n) / T_t(1) on the CPU profiles and on the GPU ones."""
    spans = [f"{span(min(r.values()), max(r.values()))} on the {kind} profile{'s' * (len(r) > 1)}"
             for kind, r in verification_growth(profiles, n).items()]
    return f"T_t({n}) / T_t(1): " + "; ".join(spans)


def runner_text(runner_times: pd.DataFrame, target_params: int, draft_params: int) -> str:
    """Notebook 02's runner table (columns `T_t(1) ms` and `draft ms/token`, one row per runner) in
    words: what the runner alone changes, against what the size alone changes under one runner."""
    t, d = runner_times["T_t(1) ms"], runner_times["draft ms/token"]
    by_runner = (t.max() / t.min(), d.max() / d.min())
    by_size = {r: t[r] / d[r] for r in runner_times.index if pd.notna(t[r]) and pd.notna(d[r])}
    size_lo, size_hi = min(by_size.values()), max(by_size.values())
    verdict = ("less than the size does" if max(by_runner) < size_lo else
               "more than the size does" if min(by_runner) > size_hi else "about as much as the size does")
    return (f"The runner alone makes one target step {by_runner[0]:.1f}x faster (the {t.idxmin()} runner "
            f"against the {t.idxmax()} one) and one draft token {by_runner[1]:.1f}x faster (the "
            f"{d.idxmin()} runner against the {d.idxmax()} one). The size alone, the target's "
            f"{target_params / draft_params:.1f}x the draft's parameters, makes one target step cost "
            + join_and(f"{v:.1f}x a draft token under the {r} runner" for r, v in by_size.items())
            + f": here the runner matters {verdict}.")


def remeasured_text(passes: pd.DataFrame, profile_values: dict) -> str:
    """Quantities that notebook 02's runner table measured again after the profile had: per
    (column, runner) of `profile_values` ({(column, runner): (the profile's value, how the profile
    measured it)}), the profile's value against this cell's median and its range over `passes`
    (one row per interleaved pass, columns (column, runner)), and whether it lies inside that range."""
    parts = []
    for (column, runner), (value, how) in profile_values.items():
        col = passes[(column, runner)]
        quantity = f"T_t(1) ({runner} runner)" if column.startswith("T_t(1)") else f"one {runner} draft token"
        inside = col.min() <= value <= col.max()
        parts.append(f"{quantity}: {value:.2f} ms in the profile ({how}), {col.median():.2f} ms here (median; "
                     f"{col.min():.2f}–{col.max():.2f} ms over this cell's {len(col)} passes), "
                     f"{'inside' if inside else 'outside'} that range")
    return ("**Measured twice.** The profile above timed two of these. " + "; ".join(parts)[0].upper()
            + "; ".join(parts)[1:] + ". The same work takes different times at different moments on this "
            "machine (the spread over the passes), so the runners are compared only within this table, "
            "whose four numbers come from the same interleaved passes.")


def latency_recap_text(profile, n: int = 64) -> str:
    """Notebook 02's numbers behind its recap: verifying n tokens at once against n AR steps, and
    the cost ratio t_d / T_t(1), from `profile`."""
    t1, tn, td = profile.target_ms(1), profile.target_ms(n), profile.draft_ms_per_token
    return (f"**In numbers** (this run's profile): verifying {n} tokens in one forward takes "
            f"{tn:.1f} ms, {tn / (n * t1):.2f} of the {n * t1:.0f} ms that {n} AR steps of "
            f"T_t(1) = {t1:.1f} ms take; duo's draft token costs t_d = {td:.2f} ms, a cost ratio "
            f"t_d / T_t(1) = {td / t1:.3f}.")


# ---------------------------------------------------------------------------------------------
# 03 · Choosing the budget

def _budgets(values) -> str:
    return "γ = " + join_and(int(v) for v in values)


def _idle_sides(idle: pd.DataFrame, tie: float = 0.005) -> list[str]:
    """Per row of `idle`: "draft", "target" (the side that idles more) or "even"."""
    gap = idle.idle_fraction_draft - idle.idle_fraction_target
    return ["even" if abs(g) < tie else "draft" if g > 0 else "target" for g in gap]


def idle_title(idle: pd.DataFrame) -> str:
    """Short: at which budgets each side idles more (`idle`: budget, idle_fraction_target,
    idle_fraction_draft, one row per budget, ascending)."""
    sides = _idle_sides(idle)
    if len(set(sides)) == 1:
        return {"draft": "the draft idles more at every γ", "target": "the target idles more at every γ",
                "even": "both sides idle alike at every γ"}[sides[0]]
    parts = [f"the {side} idles more at {_budgets(idle.budget[[s == side for s in sides]])}"
             for side in ("draft", "target") if side in sides]
    return "; ".join(parts) or "both sides idle alike"


def idle_text(idle: pd.DataFrame) -> str:
    """The idle table in words: which side idles more at which budget, by how much at the extremes,
    whether there is one crossover (and where the last side holds on to the sweep's end), and, with
    the columns `catch_up_fraction` and `empty_start_fraction`, how much of the target's idle time
    is its wait for catch-up chains."""
    idle = idle.sort_values("budget").reset_index(drop=True)
    sides = _idle_sides(idle)
    t, d, b = idle.idle_fraction_target, idle.idle_fraction_draft, idle.budget
    sentences = []
    for side, mine, other in (("draft", d, t), ("target", t, d)):
        rows = [i for i, s in enumerate(sides) if s == side]
        if rows:
            top = max(rows, key=lambda i: mine[i] - other[i])
            where = ("every γ of the sweep" if len(rows) == len(sides) and len(rows) > 1 else _budgets(b[rows]))
            sentences.append(f"the {side} idles more than the {'target' if side == 'draft' else 'draft'} at "
                             f"{where} (most at γ = {b[top]}: {mine[top]:.2f} of the wall time "
                             f"against {other[top]:.2f})")
    text = "In the simulation " + "; ".join(sentences) + "." if sentences else "Both sides idle alike."
    text += (f" At the smallest γ of the sweep ({b.iloc[0]}) the draft idles {d.iloc[0]:.2f} and the target "
             f"{t.iloc[0]:.2f}; at the largest ({b.iloc[-1]}), {d.iloc[-1]:.2f} and {t.iloc[-1]:.2f}.")
    changes = [i for i in range(1, len(sides)) if sides[i] != sides[i - 1]]
    if len(changes) == 1:
        i = changes[0]
        text += (f" One crossover, between γ = {b[i - 1]} and γ = {b[i]}: the {sides[i - 1]} idles more "
                 f"below it, the {sides[i]} from there on.")
    elif changes:
        last = changes[-1]
        text += f" The side that idles more changes {len(changes)} times along the sweep: no single crossover"
        text += (f"; from γ = {b[last]} to the sweep's end the {sides[last]} idles more." if len(sides) - last > 1
                 else ".")
    if {"catch_up_fraction", "empty_start_fraction"} <= set(idle.columns):
        share = idle.catch_up_fraction / t.where(t > 0)
        text += (f" The target's idle time is {'mostly' if share.min() >= 0.5 else 'partly'} its wait for "
                 f"catch-up chains: {span(idle.empty_start_fraction.min(), idle.empty_start_fraction.max(), '')} "
                 f"of the rounds start with nothing to verify, and drafting their catch-up chains takes "
                 f"{span(idle.catch_up_fraction.min(), idle.catch_up_fraction.max(), '')} of the wall time, "
                 f"{span(share.min(), share.max(), '')} of the target's idle time.")
    return text


def budget_recap_text(eq: dict, table: pd.DataFrame, predicted_best: int) -> str:
    """Notebook 03's numbers behind its recap: the equal-time rule on the shipped profile (`eq`,
    `budget.equal_time_check`), the prediction's error over the measured sweep (`table`: method,
    budget, predicted/measured tokens/s, error), and duo's predicted best γ against its measured best."""
    rule = (f"the equal-time rule has a solution, γ = {eq['budget']}" if eq["has_solution"] else
            f"drafting and verifying never meet on γ = 1..{eq['grid_end']}, so the equal-time rule falls "
            f"back to the smallest gap, γ = {eq['budget']}")
    err = table.error
    over = int((err > 0).sum())
    duo = table[table.method == "duo"].set_index("budget").measured_tokens_per_s
    best = int(duo.idxmax())
    at = duo.get(predicted_best)
    hit = (f"duo's predicted best γ ({predicted_best}) is its measured best" if best == predicted_best else
           f"duo's predicted best γ ({predicted_best}) reaches {at / duo.max():.2f} of its measured best "
           f"(γ = {best})" if at is not None else
           f"duo's predicted best γ ({predicted_best}) was not measured; its measured best is γ = {best}")
    return (f"**In numbers.** On the shipped profile {rule}. Over the {len(table)} measured configurations "
            f"the prediction is off by {abs(err).min():.0%}–{abs(err).max():.0%} "
            f"(median {abs(err).median():.0%}), above the measurement in {over} of them; {hit}.")


# ---------------------------------------------------------------------------------------------
# 04 · Draft trees

def teaching_text(picks: dict[str, int]) -> str:
    """Which of the three kinds of round (draft_trees.TEACHING) this generation shows, and in which
    round, from `teaching_rounds`; the kinds it lacks are named."""
    from duolab.lab.draft_trees import TEACHING

    shown = [f"{TEACHING[k]} in round {r}" for k, r in picks.items()]
    missing = [TEACHING[k] for k in TEACHING if k not in picks]
    text = f"This generation shows {join_and(shown)}" if shown else "This generation shows none of the three kinds"
    if missing:
        text += f"; no round of it shows {join_and(missing)}"
    return text + "."


def hedging_text(mean_k: pd.Series, prompts_per_task: int) -> str:
    """Tasks ranked by the drafter's mean k per round (`mean_k`: task -> mean k)."""
    ranked = mean_k.sort_values(ascending=False)
    return (f"Mean k per round over {prompts_per_task} prompt{'s' * (prompts_per_task > 1)} per task, most to "
            f"least hedging: " + ", ".join(f"{task} {k:.2f}" for task, k in ranked.items()) + ".")


def retrieved_tree_text(stats: dict, r: int | None, record=None) -> str:
    """Notebook 04: what retrieved chains did in one duo generation with retrieval= (its stats), and
    round r's tree (its DraftRound), the one drawn."""
    n, decided, beside = stats["rounds"], stats["retrieval_rounds"], stats["retrieval_branch_rounds"]
    text = (f"Retrieved chains decided {decided} of this generation's {n} rounds ({beside} of them through "
            f"a chain grafted beside the block's tokens, not after them); {stats['retrieved_accepted']} of the "
            f"{stats['retrieved_tokens']} retrieved tokens verified passed.")
    if r is None:
        return text + " No round verified a retrieved chain: try another prompt."
    placed = join_and([f"{'at the root' if record.cut(c) == 0 else f'after {record.cut(c)} block token(s)'} "
                       f"({ok} of {len(c)} passed)" for c, ok in zip(record.retrieved, record.retrieved_passed,
                                                                     strict=True)])
    return text + (f" Round {r}, drawn: a block of {len(record.verified)} model token(s), {record.accepted} passed; "
                   f"retrieved chains {placed}.")


def retrieval_text(measured: pd.DataFrame, gates: dict[str, pd.DataFrame] | None = None) -> str:
    """Notebooks 05 and 07: a measured round-robin with retrieved chains (retrieval_gate.measured_comparison's
    table), and, for the real pair, the simulation that gated it (retrieval_gate.gate_table per profile)."""
    med, tasks = measured.loc["median"], measured.drop("median")
    ahead = [t for t in tasks.index if tasks.loc[t, "duo+retrieval / best simple"] > 1]
    below_ar = [t for t in tasks.index if tasks.loc[t, "duo+retrieval"] < 1]
    text = (f"**Retrieved chains, measured.** duo with retrieval reached {med['duo+retrieval']:.2f}x AR "
            f"(median over tasks, its best setting per task), while the best of AR, PLD and SpS at its best γ "
            f"reached {med['best simple']:.2f}x; task by task, duo with retrieval over that best simple method "
            f"is {med['duo+retrieval / best simple']:.2f}x in the median. It is ahead of "
            f"that best simple method on {len(ahead)} of {len(tasks)} tasks"
            f"{' (' + join_and(ahead) + ')' if ahead else ''}")
    text += f", and slower than AR on {join_and(below_ar)}. " if below_ar else ", and never slower than AR. "
    over = med["duo+retrieval / sps+retrieval"]
    text += (f"SpS with retrieval reached {med['sps+retrieval']:.2f}x; duo with retrieval over it is {over:.2f}x "
             f"in the median: the parallel schedule {'adds' if over > 1.05 else 'adds little' if over > 1 else 'adds nothing'} "
             f"on top of retrieval "
             f"here. duo without retrieval "
             f"reached {med['duo']:.2f}x: retrieval {'helps' if med['duo+retrieval'] > med['duo'] else 'costs'} "
             f"duo on this pair. duo, with retrieval or without, uses two cores (its draft worker's and the "
             f"target's); every other method uses one.")
    if "duo+retrieval retrieval_decided" in med:
        text += (f" A retrieved chain decided {med['duo+retrieval retrieval_decided']:.0%} of duo with retrieval's "
                 f"rounds ({med['duo+retrieval branch_decided']:.0%} through a branch beside the block's tokens) "
                 f"and {med['sps+retrieval retrieval_decided']:.0%} of SpS with retrieval's (median over tasks).")
    if gates:
        sims = join_and([f"{g.loc['median', 'duo+retrieval / best simple']:.2f}x on the {name} profile"
                         for name, g in gates.items()])
        text += f" The simulation that gated this work predicted a ratio of {sims} (simulated, not measured)."
    return text
