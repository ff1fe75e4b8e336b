# The two commands on a fresh machine:  make demo  (the main job, live)  and  make test  (the whole suite).
VENV ?= .venv
METAMON := $(VENV)/bin/metamon

.PHONY: install system helm demo test test-sdk test-ha stack-up stack-down stack-status stack-up-ha stack-down-ha lint load bench previews

install: system $(VENV)/.installed

system:
	bash monitoring/stack/install-system.sh

# helm for the chart's lint and template tests, built from the Go module proxy.
helm:
	bash deploy/helm/install-helm.sh

$(VENV)/.installed: pyproject.toml sdk/pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]' -e './sdk[langchain,otel]'
	touch $@

stack-up: install
	$(METAMON) stack up

stack-down:
	$(METAMON) stack down

stack-status:
	$(METAMON) stack status

# The HA profile, beside the standard stack: `eval "$$(.venv/bin/metamon stack env --ha)"` points a shell at it.
stack-up-ha: install
	$(METAMON) stack up --ha

stack-down-ha:
	$(METAMON) stack down --ha

# The demo runs the fast alerting profile (seconds instead of minutes); `make test` switches back.
demo: install
	METAMON_ALERTING_PROFILE=fast $(METAMON) stack up
	METAMON_ALERTING_PROFILE=fast $(METAMON) demo
	$(METAMON) stack status

# tests/ha starts the HA stack once for its tests (and stops it); `make test-ha` runs only those.
test: test-sdk stack-up helm
	$(VENV)/bin/pytest

test-ha: install
	$(VENV)/bin/pytest tests/ha -s -p no:cacheprovider

# The SDK's own tests, in an environment holding only the SDK and pytest (no server, no extras).
SDK_VENV ?= .venv-sdk
test-sdk:
	rm -rf $(SDK_VENV)
	python3 -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install -q './sdk[test]'
	cd sdk && ../$(SDK_VENV)/bin/python -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check .

# README's dashboard pictures, from the running stack's data (seed it first): `make previews FROM=now-7d`.
FROM ?= now-7d
previews: install
	$(METAMON) dashboards preview --out docs/images --from $(FROM)

# The mixed load (locust headless, loopback, bounded): `make load USERS=50,100,150 RUN_TIME=60s`.
USERS ?= 100
RUN_TIME ?= 60s
load: stack-up
	$(VENV)/bin/python loadtests/load.py --users $(USERS) --run-time $(RUN_TIME)

# Every benchmark of loadtests/, then loadtests/RESULTS.md: `make bench SIZE=full ONLY=traces,load`.
SIZE ?= small
ONLY ?=
bench: stack-up
	$(VENV)/bin/python loadtests/bench.py --size $(SIZE) --only '$(ONLY)'
