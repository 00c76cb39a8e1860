"""pyproject.toml lists every subpackage (package discovery is off); the wheel, sdist and installed package are
tested in tests/e2e/test_install.py."""

from __future__ import annotations

import tomllib

from harness.paths import REPO_ROOT

# A junk file planted in the source copy: the package-data allow-list must keep it (and every other
# __pycache__) out of the wheel and the sdist.
JUNK = "tasks/helpdesk/__pycache__/utils.cpython-311.pyc"
BUILT_IN = {"helpdesk_en", "helpdesk_zh", "general_en", "general_zh", "ota_intent_en", "extract_format_en"}


def test_pyproject_lists_every_subpackage():
    """Package discovery is off (pyproject.toml says why): a subpackage missing from its list would be missing
    from every non-editable install, while editable installs and this checkout work fine."""
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(p.parent.relative_to(REPO_ROOT).parts)
        for top in ("harness", "hydra_plugins")  # hydra_plugins: the harness's Hydra sweeper and launcher
        for p in (REPO_ROOT / top).rglob("__init__.py")
    }
    listed = set(setuptools["packages"])
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - on_disk == {"harness._data.conf", "harness._data.tasks", "harness._data.runtimes"}
    data = ("conf", "tasks", "runtimes")
    assert {setuptools["package-dir"][f"harness._data.{d}"] for d in data} == set(data)
