# The README's commands: `make run`, `make test` (everything, as CI runs it) and `make test-fast`
# (no appliance, no boot). All bootstrap first (system packages, appliance kernel, venv); bootstrapping
# again is a no-op. The tests' machine cache (images, debootstrap trees, recorded reports) is
# ${XDG_CACHE_HOME:-~/.cache}/workbench-tests, or $WORKBENCH_TEST_CACHE: safe to delete.
VENV   := .venv
BIN    := $(VENV)/bin
IMAGE  ?=
SAMPLE := .cache/sample/centos-sample.qcow2
PYTEST_ARGS ?=
# one pytest worker per core (xdist); JOBS=0 runs in one process
JOBS   ?= auto
PARALLEL := $(if $(filter 0,$(JOBS)),,-n $(JOBS) --dist loadgroup)
FAST   := -m "not appliance and not boot"
MATRIX := -m matrix

.PHONY: run test test-fast test-matrix bootstrap bench bench-suite sample clean

bootstrap:
	@scripts/bootstrap.sh

run: bootstrap
ifeq ($(strip $(IMAGE)),)
	@[ -f $(SAMPLE) ] || $(BIN)/workbench demo $(SAMPLE)
	$(BIN)/workbench $(SAMPLE)
else
	$(BIN)/workbench "$(IMAGE)"
endif

test: bootstrap
	$(BIN)/python -m pytest $(PARALLEL) $(PYTEST_ARGS)

# the conformance matrix alone (make test runs it too): every init system and network stack booted for real
# (README, Supported systems)
test-matrix: bootstrap
	$(BIN)/python -m pytest $(PARALLEL) $(MATRIX) $(PYTEST_ARGS)

test-fast: bootstrap
	$(BIN)/python -m pytest $(PARALLEL) $(FAST) $(PYTEST_ARGS)

bench: bootstrap
	$(BIN)/python benchmarks/bench_check.py

bench-suite: bootstrap
	$(BIN)/python benchmarks/bench_suite.py

clean:
	rm -rf .cache build dist *.egg-info
