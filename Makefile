# The README's two commands: `make run` and `make test`. Both bootstrap first
# (system packages, appliance kernel, venv); bootstrapping again is a no-op.
VENV   := .venv
BIN    := $(VENV)/bin
IMAGE  ?=
SAMPLE := .cache/sample/centos-sample.qcow2
PYTEST_ARGS ?=

.PHONY: run test bootstrap bench sample clean

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
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: bootstrap
	$(BIN)/python benchmarks/bench_check.py

clean:
	rm -rf .cache build dist *.egg-info
