# kotae: `make chat` to use it, `make test` to test it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kotae-installed

.PHONY: setup chat test eval bench soak browser clean

setup: $(STAMP)

# The CPU build of torch is installed first and pinned: an unpinned torch
# would pull a CUDA build of several GB.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

chat: setup
	$(BIN)/kotae chat

# The browser tests drive Debian's Chromium; install it when it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto.*cjk" || { \
		echo "installing Debian's chromium and a Japanese font for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
		|| echo "warning: could not install chromium; browser tests will be skipped"; }

test: setup browser
	$(BIN)/python -m pytest

eval: setup
	$(BIN)/kotae eval

bench: setup
	$(BIN)/kotae bench

# Kills `kotae ingest` at random moments and checks the index after each kill (not part of `make test`).
soak: setup
	$(BIN)/python tests/soak_kill.py --kills $(or $(KILLS),300)

clean:
	rm -rf $(VENV) build *.egg-info
