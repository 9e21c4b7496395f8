# The two commands of the README:  `make run` (the gateway) and `make test` (the whole suite).
# Everything else here is how they set themselves up from a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
# The Debian packages the interop tests talk to: xmlsec1 (C), Apache WSS4J (Java); the dashboard's test: chromium.
DEBS   := xmlsec1 libwss4j-java default-jdk-headless chromium nginx
# The other Pythons the gateway supports (pyenv's, as installed on the CI machine): `make test-python PY=3.13`.
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PY     ?= 3.13
# The tests that show a Python can run the gateway end to end, when the whole suite is not run on it.
SMOKE  := tests/test_contract_golden.py tests/test_oso_rules.py tests/test_trafficcenter.py tests/test_transfer_e2e.py

.PHONY: run test test-python smoke-python wheel-check bench bundles venv system-deps clean

$(BIN)/oso-gateway: setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else "oso-gateway runs on Python 3.11, 3.12 or 3.13; set PYTHON=/path/to/python3.x")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

venv: $(BIN)/oso-gateway

system-deps:
	@missing=""; \
	command -v xmlsec1 >/dev/null || missing="$$missing xmlsec1"; \
	[ -f /usr/share/java/wss4j.jar ] || missing="$$missing libwss4j-java"; \
	command -v javac >/dev/null || missing="$$missing default-jdk-headless"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	[ -x /usr/sbin/nginx ] || missing="$$missing nginx"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

run: venv
	OSO_GATEWAY_PORT=$(PORT) $(BIN)/oso-gateway serve --dev

# The official dossier bundles (Edustandaard's OSO gegevensset, pinned by commit and sha256) into var/bundles.
bundles: venv
	$(BIN)/oso-gateway bundles fetch

# The tests read the bundles from OSO_GATEWAY_BUNDLES_DIR, else ../shared/oso-gegevensset, else var/bundles
# (tests/bundles_location.py): fetched first only when none of them is there.
test: venv system-deps
	@if [ -z "$$OSO_GATEWAY_BUNDLES_DIR" ] && [ ! -d ../shared/oso-gegevensset ] && [ ! -d var/bundles/2019.1 ]; then \
	  $(MAKE) --no-print-directory bundles; \
	fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The whole suite on another Python (pyenv's python$(PY)), in a virtualenv of its own (.venv-$(PY)).
.venv-%/bin/oso-gateway: setup.cfg pyproject.toml
	@py=$$(ls -d $(PYENV_ROOT)/versions/$*.*/bin/python$* 2>/dev/null | tail -1); \
	[ -n "$$py" ] || { echo "no Python $* under $(PYENV_ROOT)/versions: install it (pyenv install $*) or skip it"; exit 1; }; \
	$$py -m venv .venv-$* && .venv-$*/bin/pip install -q --upgrade pip && .venv-$*/bin/pip install -q -e '.[test]'
	@touch $@

test-python: .venv-$(PY)/bin/oso-gateway system-deps
	.venv-$(PY)/bin/python -m pytest $(PYTEST_ARGS)

smoke-python: .venv-$(PY)/bin/oso-gateway
	.venv-$(PY)/bin/python -m pytest $(PYTEST_ARGS) $(SMOKE)

# A wheel built from this repository, installed in a fresh virtualenv outside the clone: demo and serve run from it.
wheel-check: venv
	PYTHON=$(PYTHON) bash .ci/wheel-check

bench: venv
	@for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .venv-3.* var build *.egg-info
