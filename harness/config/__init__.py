"""Configuration: the typed schema (schema.py), its validation (validate.py) and Hydra registration (register.py)."""
