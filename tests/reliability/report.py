"""reliability/results.json and docs/reliability.md from one run of the suite.

The document is generated, never edited by hand, so what it claims is what the last run
of ``make reliability`` measured (the machine and time are in its header).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "reliability" / "results.json"
DOC = ROOT / "docs" / "reliability.md"

INTRO = """# Reliability

What the platform has survived, measured by the reliability suite in `tests/reliability/`.
Each scenario starts real processes (`shequ run` with gunicorn workers, `shequ worker`)
against its own PostgreSQL database, injects a failure or a load, and checks the database
afterwards. Run it with

```sh
make reliability        # needs PostgreSQL and Redis on 127.0.0.1; a few minutes
```

which writes `reliability/results.json` (a list of `{scenario, injected, checked, figures,
pass}`) and regenerates this page. CI runs it on every change (`.ci/run`). The scaled
deployment the scenarios use is described in docs/operations.md (`make run-scaled`).
"""


def _git() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=False).stdout.strip() or "?"
    except OSError:
        return "?"


def _figures(figures: dict[str, Any]) -> str:
    return "<br>".join(f"{k.replace('_', ' ')}: {json.dumps(v, ensure_ascii=False)}"
                       for k, v in figures.items())


def write_report(results: list[dict[str, Any]]) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [INTRO, f"## Latest run\n\n{when}, git `{_git()}`, {os.cpu_count()} CPUs, "
             f"Python {platform.python_version()}: "
             f"**{sum(r['pass'] for r in results)} of {len(results)} scenarios passed.**\n",
             "| scenario | injected | checked | figures | pass |", "|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['scenario']} | {r['injected']} | {r['checked']} | "
                     f"{_figures(r['figures'])} | {'yes' if r['pass'] else '**NO**'} |")
    DOC.write_text("\n".join(lines) + "\n")
