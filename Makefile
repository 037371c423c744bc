# aircall-sms-gateway — every command a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
# The Lambda runtime is python3.13, and `sam build` needs python3.13 on PATH: the venv provides it.
# (pyenv's shim exists even where 3.13 is not selected, so each candidate is asked to run.)
PYTHON313 := $(shell for p in $$(ls -d $(HOME)/.pyenv/versions/3.13*/bin/python3.13 2>/dev/null) $$(command -v python3.13); do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo "$$p"; break; }; done)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONPATH := $(CURDIR)/layers/shared:$(CURDIR)
# `make deploy` deploys where the deployer says (REGION=, AWS_REGION, AWS_DEFAULT_REGION, else the AWS profile's),
# read before the default below, which only the local tools need.
DEPLOY_REGION := $(or $(REGION),$(AWS_REGION),$(if $(filter environment%,$(origin AWS_DEFAULT_REGION)),$(AWS_DEFAULT_REGION)))
export AWS_DEFAULT_REGION ?= eu-west-1
export SAM_CLI_TELEMETRY := 0
INSTALLED := $(VENV)/.installed
# The security scanners live in their own venv (their dependencies would fight the dev group's pins), rebuilt
# from scratch whenever tools/requirements.txt or the interpreter changes: the stamp records what it was built from.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.stamp
TOOLS_WANTED = $(shell sha256sum tools/requirements.txt | cut -d' ' -f1) $(PYTHON313)
BANDIT_PATHS := layers/shared/aircall_sms functions local_stack aircall_sandbox tools
PROFILE ?= default

.PHONY: help install tools browser lint typecheck validate security build unit integration e2e test local demo bench deploy smoke prove-alarms clean

help: ## List the commands
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(INSTALLED): pyproject.toml layers/shared/requirements.txt
	@test -n "$(PYTHON313)" || { echo "python3.13 not found (install it, or use pyenv)"; exit 1; }
	test -x $(VENV)/bin/python3.13 || $(PYTHON313) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade "pip>=25.1"
	$(VENV)/bin/python -m pip install --quiet -r layers/shared/requirements.txt --group dev
	touch $@

install: $(INSTALLED) ## Create .venv with the layer's and the dev dependencies

tools: ## Create .venv-tools with the security scanners (tools/requirements.txt)
	@test -n "$(PYTHON313)" || { echo "python3.13 not found (install it, or use pyenv)"; exit 1; }
	@if [ "$$(cat $(TOOLS_STAMP) 2>/dev/null)" != "$(TOOLS_WANTED)" ]; then \
		echo "building $(TOOLS_VENV) from tools/requirements.txt"; \
		rm -rf $(TOOLS_VENV) && $(PYTHON313) -m venv $(TOOLS_VENV) && \
		$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tools/requirements.txt && \
		echo "$(TOOLS_WANTED)" > $(TOOLS_STAMP); \
	fi

# The console's browser tests drive Debian's chromium (Playwright never downloads a browser here).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser: ## Debian's chromium for the console's browser tests (apt-get installs it when missing)
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the console's browser tests"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) is still missing: install Debian's chromium package"; exit 1; }

lint: $(INSTALLED) ## ruff, and the package's import directions (import-linter contracts in pyproject.toml)
	ruff check .
	ruff format --check .
	lint-imports

typecheck: $(INSTALLED) ## mypy (strict)
	mypy layers/shared aircall_sandbox local_stack functions tests bench tools

validate: $(INSTALLED) ## sam validate --lint
	sam validate --lint

security: tools ## bandit (code), checkov (template.yaml), pip-audit (layers/shared/requirements.txt)
	$(TOOLS_VENV)/bin/bandit -q -c pyproject.toml -r $(BANDIT_PATHS)
	$(TOOLS_VENV)/bin/checkov -f template.yaml --framework cloudformation --quiet --compact --skip-download
	$(TOOLS_VENV)/bin/python tools/pip_audit_gate.py

build: $(INSTALLED) ## sam build (layer + functions, python3.13)
	sam build --cached --parallel

unit: $(INSTALLED) ## unit tests (no network)
	pytest tests/unit -q

integration: $(INSTALLED) ## integration tests (DynamoDB emulator + Aircall sandbox over HTTP, started by the tests)
	pytest tests/integration -q

e2e: $(INSTALLED) ## end-to-end tests through the whole local stack over HTTP
	pytest tests/e2e -q

test: browser lint typecheck validate security build ## Everything CI runs: chromium, lint, types, sam validate, security, sam build, unit, integration, e2e (browser tests included)
	pytest -q

local: $(INSTALLED) ## Run the local stack (API, DynamoDB emulator, Aircall sandbox) until Ctrl-C
	python -m local_stack

demo: $(INSTALLED) ## Start the local stack, send a message, follow its callback, read the archive, stop
	python -m local_stack.demo

bench: $(INSTALLED) ## Benchmarks: a table in the terminal and bench/report.json (cold starts in .venv-lambda)
	PYTHON313="$(PYTHON313)" python -m bench

deploy: $(INSTALLED) ## Deploy to your AWS account: make deploy [PROFILE=dev|prod] [REGION=eu-west-1] [ARGS=--update-credentials]
	env -u AWS_DEFAULT_REGION python tools/deploy.py --profile "$(PROFILE)" $(if $(DEPLOY_REGION),--region "$(DEPLOY_REGION)") $(ARGS)

smoke: $(INSTALLED) ## Check a deployment end to end: make smoke URL=<API URL> KEY=<API key> [FROM=<number_id>] [TO=<E.164>] [SEND=1]
	@test -n "$(URL)" || { echo 'usage: make smoke URL=<API URL> KEY=<API key> [FROM=<number_id>] [TO=<E.164>] [SEND=1]'; exit 2; }
	@SMOKE_API_KEY="$(KEY)" python tools/smoke.py --url "$(URL)" $(if $(FROM),--from "$(FROM)") $(if $(TO),--to "$(TO)") $(if $(SEND),--send)

prove-alarms: $(INSTALLED) ## After a deploy, prove the alarms reach the AlarmTopic's subscribers: make prove-alarms [PROFILE=dev|prod] [REGION=eu-west-1] [ALARM=UsageAlarm]
	env -u AWS_DEFAULT_REGION python -m tools.prove_alarms --profile "$(PROFILE)" $(if $(DEPLOY_REGION),--region "$(DEPLOY_REGION)") $(if $(ALARM),--alarm "$(ALARM)")

clean: ## Remove build outputs and the venvs
	rm -rf .aws-sam $(VENV) .venv-lambda $(TOOLS_VENV) .pytest_cache .mypy_cache .ruff_cache
