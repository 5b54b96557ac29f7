"""Pre-training of the site's own small BERT and GPT (the `demo` inference profile).

`manage.py build_demo_models` drives it: corpus -> tokenizers -> BERT -> GPT -> eval -> save.
Nothing here imports torch, transformers or tokenizers at module import time.
"""
