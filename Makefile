# The two commands of the README:  `make run` (the gateway) and `make test` (the whole suite).
# Everything else here is how they set themselves up from a fresh clone.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# The Debian packages the interop tests talk to: xmlsec1 (C), Apache WSS4J (Java); the dashboard's test: chromium.
DEBS   := xmlsec1 libwss4j-java default-jdk-headless chromium

.PHONY: run test bench venv system-deps clean

$(BIN)/oso-gateway: setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "oso-gateway needs Python 3.11 (spyne 2.14 does not import on 3.12+); set PYTHON=/path/to/python3.11")'
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
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

run: venv
	$(BIN)/oso-gateway serve --dev

test: venv system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: venv
	@for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var build *.egg-info
