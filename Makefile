# Every target sets itself up: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test fuzz verify clean oracle bench

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

test: $(STAMP)
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

bench: oracle
	$(PY) bench/bench_forward.py --autodetect-blas
	$(PY) bench/bench_sweep.py
