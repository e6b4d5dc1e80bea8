# The single entry point: `make demo` and `make test` set everything up themselves on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.8
UV := $(shell command -v uv 2>/dev/null || echo .tools/uv/bin/uv)
PY := .venv/bin/python
RUN := $(UV) run --frozen --no-sync
# Each mk/*.mk file adds its checks to TEST_TARGETS; pytest goes last so its summary closes the output.
TEST_TARGETS := lint typecheck imports

include $(sort $(wildcard mk/*.mk))
TEST_TARGETS += pytest

.PHONY: help venv test lint typecheck imports pytest demo format

help: ## List the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# A fresh machine has no uv: put the pinned one in its own venv (works where pip --user is refused, PEP 668).
$(UV):
	python3 -m venv .tools/uv
	.tools/uv/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --all-groups
	@touch $@

venv: .venv/.synced ## Create/refresh the locked virtualenv

test: $(TEST_TARGETS) ## Every check CI runs

lint: venv ## ruff lint + format check
	$(RUN) ruff check src tests scripts bench
	$(RUN) ruff format --check src tests scripts bench

format: venv
	$(RUN) ruff format src tests scripts bench
	$(RUN) ruff check --fix src tests scripts bench

typecheck: venv ## mypy --strict
	$(RUN) mypy

imports: venv ## import-linter layering contracts
	$(RUN) lint-imports

pytest: venv ## unit + integration tests (real clients against local fakes)
	$(RUN) pytest $(PYTEST_ARGS)

demo: venv ## Run a CustomJob and a PipelineJob through the launcher against the built-in emulator
	$(RUN) python scripts/demo.py
