"""What the notebooks and scripts teach and report with: benchmarks run round-robin (`bench`),
figures (`plots`, `draft_trees`), widgets and the regime map's explorable, checks that a method
is lossless (`lossless`) and where two greedy outputs part (`divergence`), the exercises' `check`,
the plumbing of notebook 01's from-scratch verifier, the sentences a lesson states
(`lesson_text`, `regime_text`), the shipped pair's own report (`pair_report`), and the studies
the scripts print (`recommend_check`, `regime_check`, `outcome_study`, `duo_bounds`,
`duo_report`, `soak`, `h100_budget`: a case study of the previous pair's H100 run). Everything
here calls the package's entry point (`duolab.generate`), its measuring or its timing model;
nothing below imports it.
"""
