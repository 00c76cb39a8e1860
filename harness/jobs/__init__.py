"""Whole jobs, above the stages and the executors: the cell loop of a job (run_cell.py), the LLM judge (judge/),
the load job (load_job.py, load_cells.py), data synthesis (synth.py) and `harness model check` (modelcheck.py)."""
