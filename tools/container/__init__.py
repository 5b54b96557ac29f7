"""The production image built and the compose stack run for real on this machine, with podman.

``make container-check`` (``python -m tools.container.check``): no Docker engine and no
container registry here, so the base images are made here too. A Debian bookworm root file
system (debootstrap) is imported as a local image (``images.py``), small Containerfiles in
this folder put bookworm's Python, Node, PostgreSQL and Redis on it, the project's
Dockerfile builds on those through its base-image build arguments, and
``compose.local.yml`` runs docker-compose.yml's services on the host network with ports of
their own (``check.py``). What podman needs on this kind of machine (runc, limits it may
set) is in ``engine.py``.
"""
