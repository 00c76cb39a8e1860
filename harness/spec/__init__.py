"""Frozen, content-hashed specs: a cell (cell.py) and a training run (finetune.py). What a worker process receives
as JSON: resolved values only."""
