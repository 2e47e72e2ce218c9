# The README's two commands: `make run` and `make test`. Both create .venv/ and install what is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 5000
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo)
# Debian packages: a CJK TrueType font embedded in PDF reports, poppler for report tests, Chromium for browser tests.
SYSTEM_PACKAGES_RUN := fonts-wqy-microhei
SYSTEM_PACKAGES_TEST := fonts-wqy-microhei poppler-utils chromium
PYTEST_ARGS ?=

.PHONY: run test lint system-run system-test install clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --upgrade pip >/dev/null
	$(BIN)/pip install -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

system-run:
	@missing=""; for p in $(SYSTEM_PACKAGES_RUN); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null; then \
	  echo "installing system packages:$$missing"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

system-test:
	@missing=""; for p in $(SYSTEM_PACKAGES_TEST); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null; then \
	  echo "installing system packages:$$missing"; $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

run: system-run install
	$(BIN)/exam db upgrade
	$(BIN)/exam demo
	$(BIN)/exam run --port $(PORT)

lint: install
	$(BIN)/ruff check .

test: system-test install lint
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
