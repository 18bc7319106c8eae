# Rhone: `make run` runs everything on this machine; `make test` runs the test suite.
# Both install what they need into .venv on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Every install, here and in the Dockerfile, is from these hash-pinned lock files (`make lock`).
LOCKS := requirements.lock requirements-dev.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCKS) | cksum | cut -d' ' -f1)
NODE_TESTS := tests/node
# kustomize's Go library, from a pinned, hash-checked PyPI wheel, to hold deploy/kustomize.py
# to kustomize's own output (deploy/kustomize_reference.py). Defined before `test` names it.
KUSTOMIZE_DIR := $(VENV)/kustomize
KUSTOMIZE_LIB := $(KUSTOMIZE_DIR)/libpykustomize.so

.PHONY: help install run test unit lint proto proto-check proto-lint certs bench clean kustomize-reference k8s-validate lock image

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(STAMP): pyproject.toml $(LOCKS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes --only-binary=:all: $(LOCKS:%=-r %)
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
		echo "the lock files miss what pyproject.toml asks for: run make lock" >&2; exit 1; }
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

test: $(STAMP) $(NODE_TESTS)/node_modules $(JS_INSTALLED) $(KUSTOMIZE_LIB) proto-check proto-lint lint k8s-validate ## everything CI runs
	@# The 25 slowest tests, then the whole suite's wall time: where a slow test hides.
	@start=$$(date +%s); $(BIN)/python -m pytest -q -p no:cacheprovider --durations=25; rc=$$?; \
		echo "test suite: $$(( $$(date +%s) - start ))s (exit $$rc)"; exit $$rc

unit: $(STAMP) ## only the fast tests
	$(BIN)/python -m pytest -q tests/unit

lint: $(STAMP) ## ruff, mypy and hadolint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

proto: $(STAMP) ## regenerate rhone/v1 from proto/
	./scripts/gen_proto.sh

proto-check: $(STAMP) ## fail when rhone/v1 drifts from proto/
	./scripts/check_proto.sh

# buf, pinned in tools/buf/package.json. Breaking changes are judged against the last released
# protos (tests/fixtures/released_proto, git commit 3e11ca1; docs/grpc.md, "Compatibility"):
# FILE for the public and shared files (buf.yaml), WIRE for every file (buf.wire.yaml).
BUF_DIR := tools/buf
BUF := $(BUF_DIR)/node_modules/.bin/buf

$(BUF): $(BUF_DIR)/package.json $(BUF_DIR)/package-lock.json
	cd $(BUF_DIR) && npm install --no-audit --no-fund --loglevel=error
	touch $@

proto-lint: $(BUF) ## buf lint, and buf breaking against the released protos
	$(BUF) lint
	$(BUF) breaking --against tests/fixtures/released_proto
	$(BUF) breaking --against tests/fixtures/released_proto --config buf.wire.yaml

certs: $(STAMP) ## a local CA and a certificate per service under .rhone/certs (mTLS; docs/grpc.md)
	$(BIN)/python -m rhone.runtime.certs .rhone/certs

# The lock files: every version and hash, from pyproject.toml, for Linux x86-64 and Python 3.11
# (the image's). The dev lock is constrained by the runtime one, so both agree.
LOCK_TOOL := .venv-lock
UV_COMPILE := $(LOCK_TOOL)/bin/uv pip compile pyproject.toml --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --generate-hashes --custom-compile-command 'make lock'

lock: ## regenerate requirements.lock and requirements-dev.lock from pyproject.toml
	test -x $(LOCK_TOOL)/bin/uv || { $(PYTHON) -m venv $(LOCK_TOOL) && \
		$(LOCK_TOOL)/bin/pip install -q uv==0.13.9; }
	$(UV_COMPILE) --quiet -o requirements.lock
	$(UV_COMPILE) --quiet --extra dev -c requirements.lock -o requirements-dev.lock

# The image: one for all four services (README, "Deploy on Kubernetes").
IMAGE ?= rhone:dev

image: ## build the container image with docker or podman
	@engine=$$(command -v docker || command -v podman) || \
		{ echo "make image needs docker or podman" >&2; exit 1; }; \
	echo "$$engine build -t $(IMAGE) ."; $$engine build -t $(IMAGE) .

# kustomize itself (its Go library: KUSTOMIZE_LIB, defined above `test`, which needs it).
$(KUSTOMIZE_LIB): deploy/kustomize-reference.txt | $(STAMP)
	rm -rf $(KUSTOMIZE_DIR) && mkdir -p $(KUSTOMIZE_DIR)
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.14 \
		--require-hashes -r deploy/kustomize-reference.txt -d $(KUSTOMIZE_DIR)
	$(BIN)/python -m zipfile -e $(KUSTOMIZE_DIR)/pykustomize-*.whl $(KUSTOMIZE_DIR)/wheel
	cp $(KUSTOMIZE_DIR)/wheel/pykustomize/_lib/linux-amd64/libpykustomize.so $@
	rm -rf $(KUSTOMIZE_DIR)/wheel $(KUSTOMIZE_DIR)/*.whl

kustomize-reference: $(KUSTOMIZE_LIB) ## kustomize's library, for the renderer's tests

k8s-validate: $(STAMP) ## render each deploy/k8s overlay; check Kubernetes schemas and policy
	$(BIN)/python -m deploy.validate

# The peer gateway lives in its own venv: its dependencies never mix with Rhone's.
PEER_VENV := .venv-bench
PEER_STAMP := $(PEER_VENV)/.installed-litellm-1.110.2

$(PEER_STAMP): bench/peer-requirements.txt
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install -q -r bench/peer-requirements.txt
	touch $@

bench: $(STAMP) $(PEER_STAMP) ## Rhone vs LiteLLM's proxy on one fake upstream: numbers and ratios
	$(BIN)/python -m bench.run --peer-python $(PEER_VENV)/bin/python
	$(BIN)/python -m bench.long_session
	$(BIN)/python -m bench.observability_cost
	$(BIN)/python -m bench.grpc_floor

clean:
	rm -rf $(VENV) $(PEER_VENV) $(LOCK_TOOL) .rhone $(NODE_TESTS)/node_modules clients/js/*/node_modules \
		$(BUF_DIR)/node_modules
