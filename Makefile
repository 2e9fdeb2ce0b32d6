# Two commands matter: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CRBIO  := $(VENV)/bin/crbio

.PHONY: run test java examples bench bench-search bench-export bench-bulk bench-ingest bench-spark \
	fuzz lint clean

# Debian packages, installed (as root, one apt-get update) only when missing: Pango,
# HarfBuzz's subsetter and DejaVu fonts for printing (WeasyPrint), Chromium for the
# browser tests.
PRINT_PACKAGES   := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
BROWSER_PACKAGES := chromium
define debian_packages
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages (install them as root): $$missing"; fi; \
	fi
endef

.PHONY: print-packages browser-packages
print-packages:
	$(call debian_packages,$(PRINT_PACKAGES))

browser-packages:
	$(call debian_packages,$(PRINT_PACKAGES) $(BROWSER_PACKAGES))

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The tests and bench-spark also need the spark extra (pyspark, ~500 MB) and Java.
$(VENV)/.installed-spark: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test,spark]'
	touch $@

## java: the Java runtime of the Spark tests (Debian's default-jre-headless), when missing
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends default-jre-headless; \
	  else \
	    echo "no java: the Spark tests will be skipped (apt-get install default-jre-headless)" >&2; \
	  fi; }

## run: install, ingest the example documents, serve http://127.0.0.1:8000 (pages; FHIR at /fhir)
run: $(VENV)/.installed print-packages
	$(CRBIO) serve --host 127.0.0.1 --port 8000 --ingest fhir_examples

## test: install and run the whole test suite
test: $(VENV)/.installed-spark java browser-packages
	$(PY) -m pytest

## examples: regenerate fhir_examples/*.json from fhir_examples/*.xml
examples: $(VENV)/.installed
	$(CRBIO) convert fhir_examples -o fhir_examples --pretty

## lint: ruff's checks and formatting (pyproject.toml's [tool.ruff])
lint: $(VENV)/.installed
	$(PY) -m pip install --quiet 'ruff>=0.17,<0.18'
	$(VENV)/bin/ruff check bridge tests bench
	$(VENV)/bin/ruff format --check bridge tests bench

## bench: conversion speed and memory, terminology, search and ingestion speed, each against a floor
bench: $(VENV)/.installed
	$(PY) bench/convert.py
	$(PY) bench/memory.py
	$(PY) bench/translate.py
	$(PY) bench/search.py --quick
	$(PY) bench/forward.py --documents 100
	$(PY) bench/ingest.py --quick

## bench-search: search over HTTP on 2,000 patients (200k+ Observations; loads take minutes)
bench-search: $(VENV)/.installed
	$(PY) bench/search.py

## bench-export: bulk export speed and memory against a plain read (2,000 documents to load)
bench-export: $(VENV)/.installed
	$(PY) bench/export.py

## bench-bulk: crbio convert --format ndjson over 1,000 and 10,000 generated documents (RSS, rate)
bench-bulk: $(VENV)/.installed
	$(PY) bench/bulk.py --sizes 1000,10000

## bench-ingest: ingestion vs conversion, bytes per document, 60 s mixed load (108k Observations)
bench-ingest: $(VENV)/.installed
	$(PY) bench/ingest.py

## bench-spark: crbio spark-convert over 1,000 generated documents, on local[1] and local[2]
bench-spark: $(VENV)/.installed-spark java
	$(PY) bench/spark.py --documents 1000

## fuzz: 100,000 mutated CR-BIO documents through the converter on every core (findings: out/fuzz/)
FUZZ_INPUTS ?= 100000
fuzz: $(VENV)/.installed
	$(PY) -m tests.fuzzing --inputs $(FUZZ_INPUTS)

## fuzz-api: schemathesis, every check, both engines, with and without API keys (minutes)
.PHONY: fuzz-api
fuzz-api: $(VENV)/.installed
	$(PY) -m tests.api.fuzz_api --max-examples 200

clean:
	rm -rf $(VENV) out .pytest_cache
