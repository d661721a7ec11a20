# Every target sets itself up: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test fuzz verify clean oracle bench browser

# PyTorch (CPU build) is an optional test/benchmark dependency: the oracle in tests/test_oracle.py
# and the comparison in bench/. Pinned; never a plain `pip install torch` (a multi-GB CUDA build).
TORCH_VERSION ?= 2.13.0
ONNXSCRIPT_VERSION ?= 0.7.2

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@$(VENV)/bin/costcalc compare inception-naive inception-bottleneck

# make test sets up everything its tests use: the PyTorch oracle and the browser (each test that
# needs one skips with its reason when it cannot be installed here).
test: $(STAMP) oracle browser
	$(PY) -m pytest -q

# The property tests (tests/test_properties.py) with a large random budget instead of make test's
# fixed, derandomized one: FUZZ_EXAMPLES examples for the main properties (others scaled).
FUZZ_EXAMPLES ?= 5000
fuzz: $(STAMP)
	COSTCALC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q -p no:cacheprovider tests/test_properties.py

verify: $(STAMP)
	$(VENV)/bin/costcalc verify

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache

oracle: $(STAMP)
	@$(PY) -m pip show torch 2>/dev/null | grep -Eq '^Version: $(subst .,\.,$(TORCH_VERSION))(\+cpu)?$$' \
		|| $(PY) -m pip install --quiet --disable-pip-version-check torch==$(TORCH_VERSION)
	@# torch.onnx.export(dynamo=True) needs onnxscript (tests/test_import_onnx.py)
	@$(PY) -m pip show onnxscript >/dev/null 2>&1 \
		|| $(PY) -m pip install --quiet --disable-pip-version-check onnxscript==$(ONNXSCRIPT_VERSION)

# The browser test (tests/test_browser.py): Debian's chromium driven by Playwright's Python
# package (never `playwright install`, which downloads its own browser).
PLAYWRIGHT_VERSION ?= 1.65.2
browser: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
		{ apt-get install -y -qq chromium >/dev/null 2>&1 || \
		  { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }; }; } \
		|| echo "make browser: could not install chromium; tests/test_browser.py will skip"
	@$(PY) -m pip show playwright >/dev/null 2>&1 || \
		$(PY) -m pip install --quiet --disable-pip-version-check playwright==$(PLAYWRIGHT_VERSION) \
		|| echo "make browser: could not install playwright; tests/test_browser.py will skip"

bench: oracle
	$(PY) bench/bench_forward.py --autodetect-blas
	$(PY) bench/bench_sweep.py
