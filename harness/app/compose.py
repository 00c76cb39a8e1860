"""The front door's one way to turn a command line into jobs: every command (a sweep's check, `harness plan`,
`harness load`, `harness data synth`, `harness prepare`) and the tests compose here, each job once.

Before Hydra sees the arguments, two checks turn the commonest mistakes into one readable line: a YAML under
conf/ that does not parse (file:line:column) and an unknown option of a config group ("did you mean"). A sweep
run by Hydra composes its jobs through Hydra's config loader instead, each once, when the sweep starts
(harness.app.sweep.check_jobs).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from harness.app.register import register_configs
from harness.app.validate import HarnessConfig, _dataclass_of, _fields, validate
from harness.errors import HarnessError, did_you_mean
from harness.paths import CONF_DIR
from harness.tasks import load_yaml

register_configs()
# a single run (hydra.mode=RUN) whose job check_command_line validated: the job function does not again
RUN_CHECKED = False


def group_options(group: str) -> list[str]:
    """A config group's options: its YAML files, and for `task` every task folder found under tasks/."""
    from harness.config.options import option_files

    options = set(option_files(group))
    if group == "task":
        from harness.tasks import discover

        options |= set(discover())
    return sorted(options)


def check_conf_yaml() -> None:
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        load_yaml(path)  # raises HarnessError with file:line:column


def check_overrides(args: list[str]) -> None:
    """Each `group=option` names an option that exists (sweeps too), before anything is composed."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as e:  # noqa: BLE001 - Hydra's grammar errors are already readable
        raise HarnessError(f"cannot parse the command-line overrides: {e}") from None
    for o in parsed:
        group = o.key_or_group
        if group not in groups or o.is_delete():
            continue
        try:
            values = list(o.sweep_string_iterator()) if o.is_sweep_override() else [o.get_value_element_as_str()]
        except HydraException:  # glob(...): it lists the group's existing options itself when the sweep runs
            continue
        known = group_options(group)
        for v in values:
            if v not in known:
                from harness.tasks import broken_note

                raise HarnessError(did_you_mean(v, known, group) + (broken_note(v) if group == "task" else ""))


def _first_value(o: Any) -> str | None:
    """`key=value` for an override, a sweep at its first value; None for a sweep that cannot be enumerated (an
    interval, for another sweeper): the job then checks that key itself when it starts."""
    from hydra.errors import HydraException

    if not o.is_sweep_override():
        return o.input_line
    try:
        return f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}"
    except HydraException:
        return None


def _compose(overrides: list[str], with_hydra: bool = False) -> DictConfig:
    """One composition (the tests count calls of this function)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=with_hydra)


def _jobs(args: list[str]) -> tuple[list[list[str]], list[str], DictConfig]:
    """(the override list of every job, as Hydra's basic sweeper expands the command line's sweeps and the
    preset's hydra.sweeper.params; the overrides with each sweep at its first value, and their composition,
    Hydra's own node included)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    parsed = parser.parse_overrides([a for a in args if "=" in a and not a.startswith("-")])
    # a first composition, each sweep at its first value, gives the preset's sweeper params
    first = [line for o in parsed if (line := _first_value(o))]
    cfg = _compose(first, with_hydra=True)
    params = [f"{k}={v}" for k, v in (cfg.hydra.sweeper.get("params") or {}).items()]
    multirun = (
        cfg.hydra.mode is not None and str(cfg.hydra.mode).endswith("MULTIRUN") or "-m" in args or "--multirun" in args
    )
    if not multirun:
        return [first], first, cfg
    try:
        batches = BasicSweeper.split_arguments(parser.parse_overrides(params + [o.input_line for o in parsed]), None)
    except HydraException:  # a sweep the basic sweeper cannot expand (an interval, another sweeper's syntax)
        return [first], first, cfg  # each job still checks itself when it starts
    return batches[0], first, cfg


def check_command_line(args: list[str]) -> None:
    """A command line's keys and values compose (each sweep at its first value): a typo'd key or a value of the
    wrong type is named before Hydra starts. One composition per command line; a sweep's jobs are then composed
    and validated once each when it starts (harness.app.sweep.check_jobs); a single run (hydra.mode=RUN) is
    validated here."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    global RUN_CHECKED
    try:
        _, _, cfg = _jobs(args)
    except (HydraException, OmegaConfBaseException) as e:
        raise HarnessError(f"invalid configuration (nothing was run): {hydra_message(e)}") from None
    single = not (str(cfg.hydra.mode).endswith("MULTIRUN") or "-m" in args or "--multirun" in args)
    if single:  # hydra.mode=RUN: no sweep start to check it at; the job is this composition, checked now
        validate(_without_hydra(cfg))
        RUN_CHECKED = True


def job_overrides(args: list[str]) -> list[list[str]]:
    """The override list of every job a command line runs (`harness plan --jobs` prints them)."""
    return _jobs(args)[0]


def _without_hydra(cfg: DictConfig) -> DictConfig:
    from omegaconf import OmegaConf, open_dict

    out = cfg.copy()
    with open_dict(out):
        out.pop("hydra", None)
    OmegaConf.set_readonly(out, None)
    return out


def compose_jobs(args: list[str], *, sweep: bool = True, check: bool = True, what: str = "run") -> list[DictConfig]:
    """Every job's config of a command line, composed once each and (with `check`) validated once each: one
    HarnessError for the first bad job, saying nothing was `what` (run, planned, sent). With `sweep=False` the
    command line is one job as written (`harness load`, `harness data synth`): the preset's sweep is not
    expanded."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    check_conf_yaml()
    check_overrides(args)
    try:
        if not sweep:
            cfgs = [_compose(args)]
        else:
            jobs, first, first_cfg = _jobs(args)
            # one job of exactly the first composition's overrides (no sweep): that composition is the job's
            cfgs = [_without_hydra(first_cfg) if jobs == [first] else _compose(job) for job in jobs]
    except (HydraException, OmegaConfBaseException) as e:
        raise HarnessError(f"invalid configuration (nothing was {what}): {hydra_message(e)}") from None
    if check:
        for cfg in cfgs:
            validate(cfg)
    return cfgs


def hydra_message(e: Exception) -> str:
    """Hydra answers an unknown key with "To append to your config use +key=value", which would add the typo as
    a key nobody reads: name the key and the schema's nearest keys instead."""
    import re

    m = re.search(r"Could not override '([\w.]+)'", str(e))
    if not m:  # e.g. "Error merging override task.limit=abc" -- its cause says why
        cause = str(e.__cause__).split("\n")[0] if e.__cause__ else ""
        return f"{e}: {cause}" if cause and cause not in str(e) else str(e)
    path = m.group(1).split(".")
    cls: Any = HarnessConfig
    for i, part in enumerate(path):
        hints = _fields(cls)
        if part not in hints:
            prefix = "".join(f"{p}." for p in path[:i])
            return did_you_mean(m.group(1), [f"{prefix}{k}" for k in hints], "key")
        cls = _dataclass_of(hints[part])
        if cls is None:
            break
    return str(e).split("\n")[0]
