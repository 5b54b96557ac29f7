"""Pure demo functions on loaded models (one module per demo).

Each takes the loaded role(s) (:class:`inference.worker.loading.Loaded`) and cleaned parameters
and returns the result dict of the inference contract. No Redis, no Celery: the tasks in
``inference/worker/tasks.py`` publish what these return. torch is imported inside functions.
"""
