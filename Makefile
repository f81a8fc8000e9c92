# Dr.Gero backend: local stack, checks and tests.
#
#   make dev        start the local stack (emulators + every function behind one base URL)
#   make dev-reset  the same, after wiping the persisted emulator data in .dev/data
#   make test       lint -> types -> layers -> tests (each step must pass before the next)
#   make lint | fmt | bench | clean
#   make deploy-plan PROJECT=.. REGION=.. DOMAIN=..   every action a deploy would take, one per line
#   make deploy      PROJECT=.. REGION=.. DOMAIN=..   create or update everything (idempotent)
#   make deploy-check                                 the deploy against stand-ins + offline gcloud
#   make mutation   mutation testing of shared/domain with tests/unit (~20 min; not in make test)
#
# Two virtual environments: .venv holds the project and its dev tools; .venv-tasks holds only
# the Cloud Tasks emulator, which pins protobuf<5 and cannot share a venv with the current
# google-cloud libraries. Stamp files make re-runs instant and re-install when requirements change.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
TASKS_VENV := .venv-tasks
PY := $(VENV)/bin/python
TASKS_EMULATOR_VERSION := 0.6.2
# What gcloud-tasks-emulator 0.6.2 resolved to when it was verified (it pins protobuf<5 itself).
TASKS_EMULATOR_PINS := gcloud-tasks-emulator==$(TASKS_EMULATOR_VERSION) google-cloud-tasks==2.23.0 \
	protobuf==4.25.9 grpcio==1.85.1 grpcio-status==1.62.3 PyYAML==6.0.3

VENV_STAMP := $(VENV)/.installed
TASKS_STAMP := $(TASKS_VENV)/.installed-$(TASKS_EMULATOR_VERSION)

.PHONY: help venv tasks-venv dev dev-reset test lint fmt typecheck bench clean \
	deploy deploy-plan deploy-check target-given mutation browser

help:
	@echo "make dev | dev-reset | test | lint | fmt | bench | venv | tasks-venv | clean"
	@echo "make deploy-plan | deploy PROJECT=my-project REGION=europe-west1 DOMAIN=api.example.com"
	@echo "make deploy-check"

venv: $(VENV_STAMP)

# Last, the project itself: editable, without dependencies (pinned above), for .venv/bin/drgero.
$(VENV_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

tasks-venv: $(TASKS_STAMP)

$(TASKS_STAMP): Makefile
	test -x $(TASKS_VENV)/bin/python || $(PYTHON) -m venv $(TASKS_VENV)
	$(TASKS_VENV)/bin/pip install --quiet $(TASKS_EMULATOR_PINS)
	rm -f $(TASKS_VENV)/.installed-*
	touch $@

dev: venv tasks-venv
	$(PY) -m devstack.run

dev-reset: venv tasks-venv
	$(PY) -m devstack.run --reset

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: venv
	$(VENV)/bin/mypy

test: venv tasks-venv browser
	@echo "== lint";  $(VENV)/bin/ruff check .
	@echo "== format"; $(VENV)/bin/ruff format --check .
	@echo "== types"; $(VENV)/bin/mypy
	@echo "== layers"; $(VENV)/bin/lint-imports --no-cache
	@echo "== tests"; $(PY) -m pytest -q

# Headless Chromium for the browser (CORS) tests, tests/browser: Debian's package, installed when
# missing and when this machine can (root with apt-get; `apt-get update` only when the install
# fails, e.g. the CI image has no package lists). Never fails: without it those tests skip.
browser:
	@command -v chromium >/dev/null && exit 0; \
	if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then \
	  echo "== installing chromium for the browser tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null \
	  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
	  || echo "chromium could not be installed: the browser tests will be skipped"; \
	else echo "chromium is not installed (needs root and apt-get): the browser tests will be skipped"; fi

bench: venv tasks-venv
	@shopt -s nullglob; scripts=(bench/*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no bench/*.py scripts yet"; fi; \
	for script in "$${scripts[@]}"; do echo "== $$script"; $(PY) "$$script"; done

# The deploy (infra/deploy): Python reads infra/*.yaml, gcloud and the google clients act.
DEPLOY_ARGS = --project="$(PROJECT)" --region="$(REGION)" --domain="$(DOMAIN)"

target-given:
	@if [ -z "$(PROJECT)" ] || [ -z "$(REGION)" ] || [ -z "$(DOMAIN)" ]; then \
	  echo "set PROJECT, REGION and DOMAIN, e.g.:" >&2; \
	  echo "  make $(MAKECMDGOALS) PROJECT=my-project REGION=europe-west1 DOMAIN=api.example.com" >&2; \
	  exit 2; fi

deploy-plan: venv target-given
	$(PY) -m infra.deploy plan $(DEPLOY_ARGS)

deploy: venv target-given
	$(PY) -m infra.deploy apply $(DEPLOY_ARGS)

deploy-check: venv tasks-venv
	$(PY) -m pytest -q tests/deploy

# Mutation testing (pyproject.toml [tool.mutmut]); the verdict compares the survivors with
# mutation-baseline. MUTANTS narrows the run, e.g. MUTANTS='shared.domain.quota*'.
mutation: venv
	$(VENV)/bin/mutmut run --max-children $$(nproc) $(MUTANTS)
	$(PY) -m tools.mutation_report

clean:
	rm -rf $(VENV) $(TASKS_VENV) .dev .dev.env .pytest_cache .mypy_cache .ruff_cache mutants
