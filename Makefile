# Store Cover Portal: `make run` serves the portal, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export FLASK_APP := app.py

.PHONY: run test test-fast lint format setup setup-dev bench clean translations

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

setup: $(VENV)/.installed

setup-dev: $(VENV)/.installed-dev

## Set up, migrate, seed a demo when the database is empty, and serve on http://127.0.0.1:$(PORT)
run: setup
	$(BIN)/flask init-db
	$(BIN)/flask seed-demo
	GUNICORN_BIND=127.0.0.1:$(PORT) SESSION_COOKIE_SECURE=$${SESSION_COOKIE_SECURE:-0} $(BIN)/gunicorn --config gunicorn.conf.py app:app

## Set up and run every test, browser tests included
test: setup-dev
	bash scripts/test.sh $(PYTEST_ARGS)

## Everything but the browser tests
test-fast: setup-dev
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

## Lint and format check (ruff, settings in pyproject.toml); `make format` rewrites in place
lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Translations: extract the words into translations/messages.pot, update each catalogue's .po, compile the .mo
translations: setup-dev
	PYTHONPATH=. $(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs=".* instance node_modules" --add-location=file --sort-output \
		--project="Store Cover Portal" --copyright-holder="Store Cover Portal" -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d translations --statistics

## Benchmarks under bench/ (results are written to bench/results/)
bench: setup-dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache
