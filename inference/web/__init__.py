"""The web side of the demos: pages, the JSON API, event streams, demo panels, forms and
presenters. It never imports the worker side, the training code, torch or transformers, so
a web process starts fast and small (held by tests/test_architecture.py)."""
