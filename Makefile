# kotae: `make chat` to use it, `make test` to test it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kotae-installed

.PHONY: setup chat test eval bench soak browser reader clean

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

# Retrain the reader's weights (README: The trained reader) from the public QA sets in $(QA):
# five stages, an average of the third and fourth, and the no-answer threshold, about 200
# minutes on a 2-core CPU. Each stage resumes from its checkpoint in reader-work/ck*, and a
# stage whose weights are written is not run again. The result goes to reader-work/final,
# never over the committed app/reader/weights: compare, then copy it there to use it.
QA    ?= ../shared/data/qa
RW    := reader-work
TRAIN  = $(BIN)/python -m kotae.app.reader.train --data $(QA)

reader: setup $(RW)/final/reader.safetensors

$(RW)/stage1/reader.safetensors:
	$(TRAIN) --work $(RW)/ck1 --out $(RW)/stage1
$(RW)/stage2/reader.safetensors: $(RW)/stage1/reader.safetensors
	$(TRAIN) --work $(RW)/ck2 --out $(RW)/stage2 --second-stage $(RW)/stage1
$(RW)/stage3/reader.safetensors: $(RW)/stage2/reader.safetensors
	$(TRAIN) --work $(RW)/ck3 --out $(RW)/stage3 --third-stage $(RW)/stage2
$(RW)/stage4/reader.safetensors: $(RW)/stage3/reader.safetensors
	$(TRAIN) --work $(RW)/ck4 --out $(RW)/stage4 --fourth-stage $(RW)/stage3
$(RW)/average34/reader.safetensors: $(RW)/stage4/reader.safetensors
	$(BIN)/python -m kotae.app.reader.average $(RW)/stage3 $(RW)/stage4 --out $(RW)/average34
$(RW)/stage5/reader.safetensors: $(RW)/average34/reader.safetensors
	$(TRAIN) --work $(RW)/ck5 --out $(RW)/stage5 --fifth-stage $(RW)/average34
$(RW)/final/reader.safetensors: $(RW)/stage5/reader.safetensors
	mkdir -p $(RW)/final.tmp
	cp $(RW)/stage5/reader.safetensors $(RW)/stage5/reader.json $(RW)/final.tmp/
	$(BIN)/python -m kotae.app.reader.calibrate --data $(QA) --weights $(RW)/final.tmp
	rm -rf $(RW)/final && mv $(RW)/final.tmp $(RW)/final

clean:
	rm -rf $(VENV) build *.egg-info
