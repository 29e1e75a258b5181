# The README's two commands: `make book` and `make test`.
# Both create .venv on first use and install everything into it; later runs reuse it.
#
#   make book              render the book from the notebooks' stored outputs (no execution)
#   make book EXECUTE=1    re-execute every chapter on this machine first, so the latency
#                          figures become yours; long sweeps are re-measured too (MNLAB_REMEASURE=1)
#   make test              unit tests, every chapter re-executed and compared with its stored
#                          outputs (nbval), and the book built with warnings as errors
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
EXECUTE ?= 0
CHAPTERS = $(sort $(wildcard chapters/*.ipynb))

.PHONY: book test venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

book: $(STAMP)
ifeq ($(EXECUTE),1)
	MNLAB_REMEASURE=1 $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=3600 $(CHAPTERS)
endif
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

test: $(STAMP)
	$(PY) -m pytest tests $(CHAPTERS) --nbval --nbval-current-env --sanitize-with tests/nbval_sanitize.cfg

clean:
	rm -rf _build
