# OpenChargeback — `make demo` to try it, `make test` for the full check.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export DEBUG ?= true
# The port `make demo` and `make serve` listen on: make demo PORT=8001
PORT ?= 8000

.PHONY: demo test lint typecheck pytest pytest-postgres venv clean serve focus-validator mutate

$(BIN)/openchargeback: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(BIN)/openchargeback

venv: $(BIN)/openchargeback

demo: venv
	$(BIN)/openchargeback migrate --no-input -v 0
	$(BIN)/openchargeback load-demo
	@echo ""
	@echo "OpenChargeback is running on http://127.0.0.1:$(PORT)/admin/"
	@echo "Sign in as finance@example.edu with password 'demo-finance' and the authenticator code"
	@echo "of secret OCBDEMO2FINANCE7AUTHENTICATORAPP, or a recovery code printed above (see README)."
	@echo "PIs: http://127.0.0.1:$(PORT)/portal/ as alice.chen@example.edu with password 'demo-pi'."
	@echo "Press Ctrl+C to stop."
	$(BIN)/openchargeback serve --host 127.0.0.1 --port $(PORT)

serve: venv
	$(BIN)/openchargeback serve --host 127.0.0.1 --port $(PORT)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy .

pytest: venv
	$(BIN)/pytest

# The FinOps Foundation's FOCUS validator in .venv-focus/ (Python >= 3.12; the tests create it too).
focus-validator: venv
	$(BIN)/python scripts/focus_validator.py setup

pytest-postgres: venv
	$(BIN)/python scripts/pytest_postgres.py

test: lint typecheck pytest pytest-postgres

# Mutation testing of the modules that decide money ([tool.mutmut] in pyproject.toml); not part of
# `make test`. MUTANTS narrows the run, e.g. make mutate MUTANTS='chargeback.money.*'.
MUTANTS ?=
mutate: venv
	$(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) .venv-focus var .mypy_cache .ruff_cache .pytest_cache mutants
