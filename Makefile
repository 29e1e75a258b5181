# The README's two commands: `make book` and `make test`.
# Both create .venv on first use and install everything into it; later runs reuse it.
#
#   make book              render the book from the notebooks' stored outputs (no execution)
#   make book EXECUTE=1    re-execute every chapter on this machine first, so the latency
#                          figures become yours; long sweeps are re-measured too (MNLAB_REMEASURE=1)
#   make test              unit tests, every chapter re-executed and compared with its stored
#                          outputs (nbval) on another numeric code path (OTHER_PATH below), the
#                          book built with warnings as errors, and the rendered book driven in
#                          headless Chromium (installs Debian's chromium)
#   make mathjax           re-vendor MathJax into _static/mathjax from the npm registry
#   make figures           redraw every diagram from the models' code into figures/*.svg
#                          (matplotlib only; the same bytes on every run)
#   make lock              re-resolve the book's environment into $(LOCK) (torch $(TORCH))
#   make compat            install the wheel into fresh venvs with other releases (not in CI)
#   make screenshot        re-take figures/screenshot-chapter.png (the README's) in Chromium
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
EXECUTE ?= 0
CHAPTERS = $(sort $(wildcard chapters/*.ipynb))
# The book's environment: the package's ranges (pyproject.toml) resolved once and pinned in
# $(LOCK), so that every machine and CI install the same releases. These machines keep the CPU
# build of torch $(TORCH) on disk and pip prefers it to PyPI's CUDA one; elsewhere add PyTorch's
# CPU index (PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu), as the CI workflow does.
LOCK    := book-lock.txt
TORCH   := 2.13.0
EXTRAS  := dev

.PHONY: book test venv clean chromium mathjax figures lock compat screenshot other-path

venv: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c $(LOCK) --upgrade pip
	$(PY) -m pip install --quiet -c $(LOCK) -e ".[$(EXTRAS)]"
	touch $(STAMP)

# A fresh venv resolves the ranges with torch $(TORCH); every release it installed is pinned,
# pip included (torch without its "+cpu" local label, so that the pin matches every platform's
# build of that release). setuptools is left to each build's own isolated environment.
lock:
	rm -rf _build/lock-venv
	$(PYTHON) -m venv _build/lock-venv
	_build/lock-venv/bin/python -m pip install --quiet --upgrade pip
	_build/lock-venv/bin/python -m pip install --quiet "torch==$(TORCH)" -e ".[$(EXTRAS)]"
	{ echo "# The book's environment, pinned. Written by 'make lock'; 'make' installs with pip -c $(LOCK)."; \
	  echo "# Resolved on $$(_build/lock-venv/bin/python -c 'import platform; print("Python", platform.python_version(), platform.machine())') with extras [$(EXTRAS)] and torch $(TORCH)."; \
	  _build/lock-venv/bin/python -m pip freeze --all --exclude-editable --exclude setuptools \
	    --exclude wheel | sed -e 's/+cpu$$//'; } > $(LOCK)
	rm -rf _build/lock-venv

# The wheel in fresh venvs (tests/test_packaging.py): with the newest torch pip may install
# here, then with every dependency at its floor (the oldest releases pyproject.toml allows).
COMPAT_TORCH ?= 2.14.1
compat: $(STAMP)
	MNLAB_WHEEL_TORCH=$(COMPAT_TORCH) $(PY) -m pytest tests/test_packaging.py -m wheel -v -s -p no:cacheprovider
	MNLAB_WHEEL_FLOORS=1 $(PY) -m pytest tests/test_packaging.py -m wheel -v -s -p no:cacheprovider

# The README's screenshot: the MobileNetV1 chapter of the built book, taken in Chromium by
# tests/test_browser.py (the same run checks every page).
screenshot: book chromium
	MNLAB_BOOK_HTML=_build/html MNLAB_SCREENSHOT=figures/screenshot-chapter.png \
		$(PY) -m pytest tests/test_browser.py -k rendered_book -q -p no:cacheprovider

book: $(STAMP)
ifeq ($(EXECUTE),1)
	MNLAB_REMEASURE=1 $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=3600 $(CHAPTERS)
endif
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

# The chapters are stored executed on this machine's default numeric path (the widest vector
# kernels it has). `make test` re-executes them on a different one, so that an output depending on
# float rounding or kernel choice fails on every machine, not only on another vendor's CPU: with
# AVX-512, the AVX2 kernels of ATen, oneDNN, MKL, OpenBLAS and NumPy; without it, their baseline ones.
ifneq ($(shell grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo yes),)
OTHER_PATH := ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
	OPENBLAS_CORETYPE=Haswell NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"
else
OTHER_PATH := ATEN_CPU_CAPABILITY=default DNNL_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2 \
	OPENBLAS_CORETYPE=Sandybridge NPY_DISABLE_CPU_FEATURES="X86_V3 X86_V4 AVX512_ICL AVX512_SPR"
endif

test: $(STAMP) chromium
	$(OTHER_PATH) $(PY) -m pytest tests $(CHAPTERS) --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg

other-path:   # what `make test` sets (tests/test_book.py checks that it changes the kernels)
	@echo '$(OTHER_PATH)'

# The diagrams are drawn from mnlab.models by mnlab.diagrams (matplotlib, a dependency already).
figures: $(STAMP)
	$(PY) -m mnlab.diagrams figures

# Debian's Chromium for tests/test_browser.py (CI runs as root). Fast when it is there; if it
# cannot be installed the browser test skips locally and fails under CI=true.
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "could not install chromium: the browser test will skip (and fail under CI=true)"

# MathJax is committed in _static/mathjax (the book loads nothing from outside); this re-creates it.
MATHJAX_VERSION := 3.2.2
mathjax:
	rm -rf _build/mathjax && mkdir -p _build/mathjax
	cd _build/mathjax && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null && tar xzf mathjax-$(MATHJAX_VERSION).tgz
	rm -rf _static/mathjax/tex-chtml-full.js _static/mathjax/output
	mkdir -p _static/mathjax/output/chtml/fonts
	cp _build/mathjax/package/es5/tex-chtml-full.js _build/mathjax/package/LICENSE _static/mathjax/
	cp -r _build/mathjax/package/es5/output/chtml/fonts/woff-v2 _static/mathjax/output/chtml/fonts/

clean:
	rm -rf _build
