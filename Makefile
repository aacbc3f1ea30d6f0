PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench scaling validate-why clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/breakup --db $${BREAKUP_DB:-demo.duckdb} demo
	$(BIN)/breakup --db $${BREAKUP_DB:-demo.duckdb} report --html demo-report.html > /dev/null
	@echo "HTML report: $(CURDIR)/demo-report.html"

test: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python benchmarks/run.py --out docs/bench.json

validate-why: $(STAMP)
	$(BIN)/python benchmarks/validate_why.py --out docs/why-validation.json

scaling: $(STAMP)
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python benchmarks/scaling.py

clean:
	rm -rf $(VENV) demo.duckdb demo.duckdb.wal demo-report.html
