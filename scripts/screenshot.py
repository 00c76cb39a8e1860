"""The README's picture of a report's first screen (its decision panel), taken by headless chromium at 1400 x 900.

    .venv/bin/python scripts/screenshot.py                                  # reports/default/index.html (make run)
    .venv/bin/python scripts/screenshot.py path/to/index.html --out docs/img/decision-panel.png

Run it after `make run` (the default job writes reports/default/); it needs chromium (scripts/setup.sh --browser).
The picture is what the page shows first: nothing is drawn or typed for it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", nargs="?", default=str(REPO / "reports" / "default" / "index.html"))
    p.add_argument("--out", default=str(REPO / "docs" / "img" / "decision-panel.png"))
    a = p.parse_args()
    from harness.report.pdf import FLAGS, find_chromium

    report, chromium = Path(a.report), find_chromium()
    if not report.exists():
        print(f"screenshot: {report} does not exist: run `make run` first, or name a report", file=sys.stderr)
        return 2
    if chromium is None:
        print("screenshot: chromium is not installed: run `scripts/setup.sh --browser`", file=sys.stderr)
        return 2
    out = Path(a.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="harness-shot-") as profile:
        subprocess.run(
            [
                chromium,
                *FLAGS,
                f"--user-data-dir={profile}",
                "--hide-scrollbars",
                "--window-size=1400,900",
                f"--screenshot={out}",
                report.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
