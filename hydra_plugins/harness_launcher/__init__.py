"""The harness's Hydra sweeper and launcher (`hydra/sweeper=harness`, `hydra/launcher=harness`, the defaults in
conf/config.yaml): Hydra's basic ones, except that every job is composed once and validated once, all before
anything of the sweep is written or run (harness.app.sweep.check_jobs, from the sweep callback's start), and the
launcher runs those very configs (harness.app.sweep.launch_local). Hydra's basic sweeper composes each job of a
batch to check it and its launcher composes it again to run it.
Hydra finds plugins only in the `hydra_plugins` namespace, so these thin classes live here (harness.app.register
registers them). No `from __future__ import annotations`: Hydra may load plugin modules without registering
them, and a dataclass then cannot resolve string annotations."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper, BasicSweeperConf
from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher


@dataclass
class HarnessLauncherConf:
    _target_: str = "hydra_plugins.harness_launcher.HarnessLauncher"


@dataclass
class HarnessSweeperConf(BasicSweeperConf):
    _target_: str = "hydra_plugins.harness_launcher.HarnessSweeper"


ConfigStore.instance().store(group="hydra/launcher", name="harness", node=HarnessLauncherConf, provider="harness")
ConfigStore.instance().store(group="hydra/sweeper", name="harness", node=HarnessSweeperConf, provider="harness")


class HarnessLauncher(BasicLauncher):
    def launch(self, job_overrides: Any, initial_job_idx: int) -> Any:
        from harness.app.sweep import launch_local

        return launch_local(self, job_overrides, initial_job_idx)


class HarnessSlurmLauncher(SlurmLauncher):
    """hydra-submitit-launcher's Slurm launcher; harness.app.slurm checks the cluster before it submits and
    collects every job's end, a job that died without a result included (conf/hydra/launcher/slurm-gpu.yaml).
    Module level: submitit pickles the launcher into every job."""

    def launch(self, job_overrides: Any, initial_job_idx: int) -> Any:
        from harness.app.slurm import launch

        return launch(self, job_overrides, initial_job_idx)


class HarnessSweeper(BasicSweeper):
    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Nothing here: every job was composed and validated when the sweep started
        (harness.app.sweep.check_jobs), whatever the launcher."""
