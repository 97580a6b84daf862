"""What the notebooks teach with: benchmarks run round-robin (`bench`), figures (`plots`,
`draft_trees`), widgets and the regime map's explorable, checks that a method is lossless
(`lossless`) and where two greedy outputs part (`divergence`), the exercises' `check`, the
plumbing of notebook 01's from-scratch verifier, and the shipped pair's own report (`pair_report`:
loss, agreement and accuracy per task). Everything here calls the package's public entry point
(`duolab.generate`) or its timing model; nothing below imports it.
"""
