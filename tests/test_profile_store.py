"""A pair's profile is measured once per machine, visibly, and its prior alpha comes from prompts
that fit it (duolab.measure.profile_store)."""

import pytest

import duolab
from duolab import generate, load_pair
from duolab.measure import profile_store


def test_first_profile_says_what_it_measures_then_comes_from_disk(toy_paths, capsys, monkeypatch, tmp_path):
    # a cache of this test's own: another test in this process may have profiled the toy pair
    monkeypatch.setattr(profile_store, "profile_cache_dir", lambda: tmp_path / "profiles")
    pair = load_pair(*toy_paths)
    path = profile_store.profile_cache_path(pair, quick=True)
    assert not path.exists()
    prof = duolab.profile(pair, quick=True)
    out = capsys.readouterr().err  # progress goes to stderr: stdout stays the caller's
    assert "profiling this pair on this machine (quick), about" in out
    assert "target forwards over 1..64 new tokens" in out
    for stage in range(1, 7):
        assert f"[{stage}/6]" in out
    assert f"saved {path}" in out and path.exists()
    assert prof.notes["quick"] is True

    # a new process would load the pair anew: same folders, a new Pair, nothing measured
    monkeypatch.setattr(profile_store, "profile_pair", lambda *a, **k: pytest.fail("measured twice"))
    again = load_pair(*toy_paths)
    assert duolab.profile(again, quick=True).target_forward_ms == prof.target_forward_ms
    assert capsys.readouterr().err == ""
    # a full profile is not replaced by a quick one
    with pytest.raises(pytest.fail.Exception, match="measured twice"):
        duolab.profile(again, quick=False)
    pair.close()
    again.close()


def test_cache_key_is_machine_pair_content_and_setup(toy_paths, letter_pair):
    toy = load_pair(*toy_paths)
    a = profile_store.profile_cache_path(toy, quick=False).name
    b = profile_store.profile_cache_path(letter_pair, quick=False).name
    slug = duolab.artefacts.machine_slug()
    assert a.startswith(slug) and b.startswith(slug) and a != b
    assert a.split("-")[3] == duolab.artefacts.pair_hash(*toy_paths)
    toy.draft_runner = "transformers"
    assert profile_store.profile_cache_path(toy, quick=False).name != a


def test_workload_prompts_are_used_and_named(toy_pair):
    g = generate(toy_pair, "The cat", method="duo", max_new_tokens=6, workload_prompts=["The dog sat", "A cat"])
    assert g.stats["alpha_prompts"] == "workload_prompts (2 given)"
    mine = profile_store.workload_estimate(toy_pair, ["The dog sat", "A cat"])
    assert g.stats["alpha_prior"] == round(mine.alpha, 4) and len(mine.shapes) == 2
    d = generate(toy_pair, "The cat", method="duo", max_new_tokens=6)
    assert d.stats["alpha_prompts"] == "shipped prompts (7 tasks)"  # the toy tokenizer has no chat template


@pytest.mark.parametrize("bad, match", [
    ("The dog", "workload_prompts must be a non-empty list"),
    ([], "workload_prompts must be a non-empty list"),
    (["ok", ""], "workload_prompts must be a non-empty list"),
])
def test_bad_workload_prompts(toy_pair, bad, match):
    with pytest.raises(ValueError, match=match):
        generate(toy_pair, "The cat", method="duo", max_new_tokens=4, workload_prompts=bad)


def test_workload_prompts_only_where_used(toy_pair):
    with pytest.raises(ValueError, match="workload_prompts= is used only by options that choose per round"):
        generate(toy_pair, "The cat", method="sps", max_new_tokens=4, workload_prompts=["A cat"])


def test_chat_template_wraps_the_shipped_prompts(toy_paths, monkeypatch):
    pair = load_pair(*toy_paths)
    with pytest.raises(ValueError, match="has no chat template"):
        pair.chat_prompt("hi")
    pair.tokenizer.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    assert pair.chat_prompt("hi") == "<user>hi<assistant>"
    seen = []
    monkeypatch.setattr(profile_store, "measure_workload", lambda p, prompts, n: seen.extend(prompts) or
                        profile_store.Workload(0.5, [], n))
    est = profile_store.workload_estimate(pair)
    assert est.source == "shipped prompts (7 tasks) in the chat template"
    assert len(seen) == 7 and all(s.startswith("<user>") and s.endswith("<assistant>") for s in seen)


def test_prior_alpha_is_measured_once_per_pair_and_prompts(toy_paths, capsys, monkeypatch):
    pair = load_pair(*toy_paths)
    first = profile_store.workload_estimate(pair, ["The dog ran", "A bird"])
    assert "measuring this pair's greedy agreement (the prior alpha) on workload_prompts (2 given)" in \
        capsys.readouterr().err
    monkeypatch.setattr(profile_store, "measure_workload", lambda *a: pytest.fail("measured twice"))
    again = profile_store.workload_estimate(load_pair(*toy_paths), ["The dog ran", "A bird"])
    assert again == first and capsys.readouterr().err == ""
    with pytest.raises(pytest.fail.Exception, match="measured twice"):
        profile_store.workload_estimate(pair, ["Another prompt"])
