"""Benchmarks of the site against the obvious alternatives, measured in the same run.

``make bench`` (``python -m bench.run``) writes ``bench/results/<date>.json`` and a Markdown
report with plots; ``make bench-smoke`` (``--smoke``) runs the same code paths in seconds
on the tiny models and writes to ``bench/results/tmp/``. See ``bench/run.py``.
"""
