"""Configuration: the typed schema (schema.py) and the loader of one option outside Hydra (options.py). Composing
and validating jobs is the app's (harness/app/compose.py, validate.py, register.py)."""
