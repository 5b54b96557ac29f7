"""Small scripts the Makefile runs (``python -m tools.NAME``)."""
