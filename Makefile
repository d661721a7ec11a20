# Every target sets itself up: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test verify clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	@$(VENV)/bin/costcalc compare inception-naive inception-bottleneck

test: $(STAMP)
	$(PY) -m pytest -q

verify: $(STAMP)
	$(VENV)/bin/costcalc verify

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
