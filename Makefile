# Set-up and checks. `make demo` and `make test` are the two commands a fresh machine needs.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[train,dev,ray]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install edgeopt (editable) with the train and dev extras

demo: $(STAMP)  ## train on the embedded MNIST digits, convert to float32 + int8, profile, print the table
	$(VENV)/bin/edgeopt run recipes/quickstart.yaml --out runs/quickstart

test: $(STAMP)  ## every test, the slow end-to-end ones included (what CI runs)
	$(PY) -m pytest -q -n 2 --dist loadfile

test-fast: $(STAMP)  ## the fast tests only
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not slow"

QUICKSTART := runs/quickstart/results.json
$(QUICKSTART): $(STAMP) recipes/quickstart.yaml
	$(VENV)/bin/edgeopt run recipes/quickstart.yaml --out runs/quickstart

bench: $(QUICKSTART)  ## figures, not tests: profiler overhead, training throughput per precision, gzip of pruned int8
	$(PY) benchmarks/profiler_overhead.py runs/quickstart/base_int8/model.tflite
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/prune_gzip.py

clean:
	rm -rf runs .pytest_cache
