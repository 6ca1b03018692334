# Quick start:  make demo   (sample mailbox → report)     make test   (the whole suite)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup sysdeps model demo test bench train clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,eval]'
	touch $(STAMP)

# Debian packages the tests need: Dovecot (IMAP server), openssl, systemd-analyze
sysdeps:
	sh .ci/install-deps.sh

# the committed model is used when it loads here; otherwise (another scikit-learn) retrain it
model: setup
	@$(BIN)/python -c "from clientwatch.tone import ToneModel; ToneModel.load()" 2>/dev/null \
	  || (echo "tone model missing or from another scikit-learn: training it (about a minute)"; \
	      $(BIN)/clientwatch train)

demo: model
	$(BIN)/clientwatch demo

test: setup sysdeps
	$(BIN)/python -m pytest -q

train: setup
	$(BIN)/clientwatch train --card models/MODEL_CARD.md

bench: setup sysdeps model
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/classify.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
