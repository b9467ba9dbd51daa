"""Start-up: ``create_app`` with the shipped plugins (``config/default.toml``) against none.

Each sample is a fresh interpreter (``python -m bench.startup --child ...``), timed from
before ``import core.app`` to ``create_app`` returning: what an operator waits for at
``shequ run`` before gunicorn forks, minus the interpreter's own start. Median of N.
Target: the full app under 2000 ms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT, Result, Settings, Target, log, median, shipped_plugins

#: Every plugin ``config/default.toml`` enables.
PLUGINS = shipped_plugins()


def _child(plugins: list[str], tmp: str) -> None:
    t0 = time.perf_counter()
    from core.app import create_app
    from core.config import DEFAULT_CONFIG, load_config

    t1 = time.perf_counter()
    overrides = {
        "app": {
            "env": "production",
            "instance_path": f"{tmp}/instance",
            "secret_key": "bench-secret-key",
            "demo_data": False,
        },
        "database": {"url": f"sqlite:///{tmp}/startup.db"},
        "events": {"delivery": "worker"},
        # one process: production refuses per-process (memory://) limits with several
        "server": {"workers": 1},
        "plugins": {"enabled": plugins},
        # production refuses the console channel; the bench sends nothing
        "messaging": {"sms": "none", "email": "none"},
    }
    app = create_app(load_config(DEFAULT_CONFIG, overrides=overrides, environ={}))
    t2 = time.perf_counter()
    kernel = app.extensions["shequ"]
    print(
        json.dumps(
            {
                "total_ms": (t2 - t0) * 1000,
                "import_ms": (t1 - t0) * 1000,
                "create_app_ms": (t2 - t1) * 1000,
                "kernel_startup_ms": kernel.startup_ms,
                "plugin_load_ms": kernel.plugins.load_seconds * 1000,
                "modules": len(sys.modules),
            }
        )
    )


def _sample(plugins: list[str], pycache: str) -> dict[str, float]:
    # Bytecode goes to a private cache (the environment may set PYTHONDONTWRITEBYTECODE,
    # and the bench must not write into the source tree): the first sample compiles,
    # the measured ones start warm, as a deployed server does.
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("SHEQU")
    }
    env["PYTHONPYCACHEPREFIX"] = pycache
    with tempfile.TemporaryDirectory(prefix="shequ-bench-") as tmp:
        out = subprocess.run(
            [sys.executable, "-m", "bench.startup", "--child", ",".join(plugins), tmp],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    if out.returncode != 0:
        raise RuntimeError(f"start-up child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def startup(settings: Settings) -> list[Result]:
    full: list[dict[str, float]] = []
    bare: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="shequ-bench-pycache-") as pycache:
        cold = _sample(PLUGINS, pycache)  # compiles everything into the cache; not counted
        log(f"startup without bytecode cache: {cold['total_ms']:.0f} ms (not counted)")
        for i in range(settings.startup_runs):
            # Interleaved, so drift on the machine hits both sides alike.
            full.append(_sample(PLUGINS, pycache))
            bare.append(_sample([], pycache))
            log(
                f"startup run {i + 1}/{settings.startup_runs}: {full[-1]['total_ms']:.0f} ms "
                f"(no plugins {bare[-1]['total_ms']:.0f} ms)"
            )

    def med(rows: list[dict[str, float]], key: str) -> float:
        return round(median([r[key] for r in rows]), 1)

    meta = {
        "runs": settings.startup_runs,
        "measures": "fresh interpreter: import core.app + load_config + create_app, "
        "bytecode cache warm",
        "cold_no_bytecode_cache_ms": round(cold["total_ms"], 1),
        "plugins": PLUGINS,
        **{
            f"full_{k}": med(full, k)
            for k in (
                "import_ms",
                "create_app_ms",
                "kernel_startup_ms",
                "plugin_load_ms",
                "modules",
            )
        },
        **{
            f"none_{k}": med(bare, k)
            for k in ("import_ms", "create_app_ms", "kernel_startup_ms", "modules")
        },
    }
    return [
        Result(
            "startup",
            med(full, "total_ms"),
            "ms",
            med(bare, "total_ms"),
            Target("value", "<", 2000),
            meta=meta,
        )
    ]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child([p for p in sys.argv[2].split(",") if p], sys.argv[3])
    else:
        sys.exit("usage: python -m bench.startup --child <plugins,...> <tmpdir>")
