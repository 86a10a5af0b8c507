# Two entry points, as the README says: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test system lint bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

system:
	bash scripts/setup-system.sh

demo: $(VENV)/.installed
	$(VENV)/bin/govsign demo

test: system $(VENV)/.installed
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(PY) -m pip install -q ruff mypy
	$(VENV)/bin/ruff check src cli tests bench
	$(VENV)/bin/ruff format --check src cli tests bench
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	$(PY) bench/bench_sign_verify.py
	$(PY) bench/bench_encrypt.py
