# The two commands of the README: `make book` and `make test`.
# Both create .venv on first use and install everything into it; later runs reuse it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: book test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --path-output . 

test: $(STAMP)
	$(PY) -m pytest tests

clean:
	rm -rf _build
