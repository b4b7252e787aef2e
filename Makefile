# Two entry points (see README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.wsad-installed
PLUGINS := plugins/baselines plugins/ddpt plugins/medsam plugins/rasalore plugins/diffusion

.PHONY: setup demo test test-all lint bench clean

# torch and torchvision are pinned first: this pair comes from the machine's local wheel store
# (shared/docs/environment.md §2); pyproject files keep lower bounds only.
$(STAMP): pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet -e ".[dev]" $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

setup: $(STAMP)

# The full RASALoRE pipeline offline in about 5 minutes on 2 cores: zscore stands in for DDPT (no CLIP
# weights offline), LiteMedSAM refines, RASALoRE trains at reduced size (cpu-small) with the faster
# adamw-cosine recipe (not the paper's SGD) for 16 epochs on 8 of the 10 synthetic cases; every output row
# lists these departures. The last line prints the wall time.
DEMO_OPTIONS := -o data.max_cases=8 \
	-o segmenter.preset=cpu-small -o segmenter.recipe=adamw-cosine \
	-o segmenter.epochs=16
demo: setup  ## full pipeline on the embedded synthetic dataset; results in runs/<timestamp>-...
	@echo "make demo: zscore -> LiteMedSAM -> RASALoRE on 8 synthetic cases; RASALoRE cpu-small, adamw-cosine" \
	    "recipe (not the paper's), 16 epochs: sized to finish in about 5 minutes on 2 CPU cores"
	@start=$$(date +%s); \
	$(BIN)/wsad run --generator zscore --refiner medsam --segmenter rasalore --data demo $(DEMO_OPTIONS); \
	status=$$?; \
	echo "make demo: wsad run took $$(( $$(date +%s) - start )) s"; \
	exit $$status

test: setup  ## the CI test suite (excludes tests marked slow)
	$(BIN)/python -m pytest -m "not slow"

test-all: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: setup
	$(BIN)/python benchmarks/bench_metrics.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
