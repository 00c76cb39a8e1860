"""Hydra's side of the config: the schema and one `task=<name>` option per task folder, in Hydra's ConfigStore.

Only the command line (harness.app.cli) and tests import this; the stage code reads plain dataclasses.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from harness.config.schema import HarnessConfig


def register_configs() -> None:
    """Register the schema (first in conf/config.yaml's defaults) and one `task=<name>` option per task folder.
    Broken task files are skipped with a warning (harness.tasks.discover); their text is escaped, never
    interpolated (harness.tasks.task_node)."""
    from hydra.core.plugins import Plugins

    from harness.tasks import discover, task_node

    plugins = Plugins.instance()  # Hydra's plugin scan first: it loads (and would re-run) the module below
    from hydra_plugins.harness_launcher import HarnessLauncher, HarnessSlurmLauncher, HarnessSweeper

    # the sweeper and launcher (hydra/sweeper=harness, hydra/launcher=harness); the scan misses them in an
    # editable install, whose finder it cannot list: registered by hand (a wheel's are found; twice is harmless)
    plugins.register(HarnessLauncher)
    plugins.register(HarnessSlurmLauncher)  # hydra/launcher=slurm-gpu's _target_
    plugins.register(HarnessSweeper)
    cs = ConfigStore.instance()
    cs.store(name="harness_schema", node=HarnessConfig)
    for name, (path, doc) in discover().items():
        cs.store(group="task", name=name, node=task_node(name, path, doc))
