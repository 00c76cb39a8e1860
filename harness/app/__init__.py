"""The application: the `harness` command (cli.py, commands/), composing and validating jobs (compose.py,
validate.py, register.py), the Hydra job and the sweep's checks (sweep.py), the sweep callback (callback.py), the
regression gate (gate.py), the run history (history.py) and task cards (task_card.py)."""
