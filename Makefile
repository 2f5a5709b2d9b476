# smtui: `make run` trains the book's model headless, `make test` runs the tests.
# Both create the virtual environment on first use. `make test-fast` is the unit layer alone
# (no process, terminal or app test), `make lint` the checks CI runs before the tests.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run tui test test-fast lint bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)  ## the book's run: scratch softmax, batch 256, lr 0.1, 10 epochs
	$(BIN)/smtui --no-ui $(ARGS)

tui: $(STAMP)  ## the terminal UI
	$(BIN)/smtui $(ARGS)

test: $(STAMP) lint
	$(BIN)/python -m pytest -q -n auto $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n auto -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check tui_trainer tests benchmarks examples
	$(BIN)/mypy tui_trainer

bench: $(STAMP)
	$(BIN)/python -m benchmarks $(ARGS)

screenshots: $(STAMP)  ## the README's SVG screenshots, from a real run in the app
	$(BIN)/python -m tui_trainer.tools.screenshots assets

clean:
	rm -rf $(VENV) runs .pytest_cache
