# Solutions to notebook 01's exercises. Each block replaces the answer lines of the exercise
# cell with the same id (everything between its "# Exercise" line and its check(...) call);
# tests/test_exercises.py runs them.

# %% 01-1
def my_verify(p, q, drafts, generator):
    for i, d in enumerate(drafts):
        p_d, q_d = float(p[i, d]), float(q[i, d])
        accept = p_d >= q_d or (p_d > 0 and float(torch.rand((), generator=generator)) * q_d < p_d)
        if accept:
            continue
        residual = (p[i] - q[i]).clamp_min(0)
        residual = residual / residual.sum()
        return i, draw(residual, generator)
    return len(drafts), draw(p[len(drafts)], generator)

# %% 01-2
answer = (1 - 0.8 ** 5) / (1 - 0.8)  # 1 + α + α² + α³ + α⁴ = 3.36

# %% 01-3
def broken(p, q, drafts, generator):
    for i, d in enumerate(drafts):
        p_d, q_d = float(p[i, d]), float(q[i, d])
        if p_d >= q_d or (p_d > 0 and float(torch.rand((), generator=generator)) * q_d < p_d):
            continue
        residual = (p[i] - q[i]).clamp_min(0)
        return i, draw(residual / residual.sum(), generator)
    # the break: the bonus from the draft's last row instead of the target's extra row. It shows
    # only at position γ, after all drafts passed: a first-token test never sees it
    return len(drafts), draw(q[len(drafts) - 1], generator)
