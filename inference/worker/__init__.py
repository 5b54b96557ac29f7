"""The model worker: process start-up (`process`), the models it holds (`runtime`,
`loading`), batching, the engines, the Celery tasks in one envelope, and the example
recorder. Only worker processes and the demo-model build import it."""
