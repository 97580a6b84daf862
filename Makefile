# duolab: two commands matter — `make figures` and `make test`. Each builds .venv when missing.
PYTHON ?= python3
VENV ?= .venv
# GPU users: make TORCH_SPEC="torch==2.13.0 --index-url <your CUDA wheel index>" (or any build you like)
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: figures test lint models benchmarks clean-venv

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# Regenerate every figure (and results table) by running each notebook headless in full mode.
figures: $(VENV)/.installed
	@mkdir -p build/executed
	for nb in $(NOTEBOOKS); do \
	  echo "== $$nb"; \
	  $(PY) -m jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=-1 \
	    --output-dir build/executed "$$nb" || exit 1; \
	done

# The whole suite: lint, unit tests, and every notebook in quick mode under nbval (one pytest run).
test: $(VENV)/.installed
	$(VENV)/bin/ruff check duolab tests scripts recipe
	DUOLAB_QUICK=1 MPLBACKEND=Agg $(PY) -m pytest tests notebooks --nbval-lax -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check duolab tests scripts recipe

# The benchmark scripts behind the issue numbers (tables in data/results/, ~20 min on 2 cores).
benchmarks: $(VENV)/.installed
	$(PY) scripts/profile_pair.py
	$(PY) scripts/bench_methods.py
	$(PY) scripts/bench_budget.py
	$(PY) scripts/bench_channel.py
	$(PY) scripts/bench_fast_llama.py
	$(PY) scripts/soak_duo.py

# Rebuild the default model pair and prompt sets from scratch (hours on 2 CPU cores).
models: $(VENV)/.installed
	$(PY) scripts/build_models.py

clean-venv:
	rm -rf $(VENV)
