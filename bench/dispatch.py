"""Hook dispatch, in-process, with ``timeit`` (ns per call, median of several repeats).

* ``hook_dispatch``: ``pm.hook.x(a=..., b=...)`` on a pluggy manager with 4 trivial
  implementations, against one direct Python call of such a function (the floor). No
  target: it prices pluggy itself, so hooks stay off per-request hot paths.
* ``hook_ui_slot``: ``PluginHost.call_slot("nav_items", user=...)`` on an app built by
  ``create_app`` with the shipped plugins (``config/default.toml``), against a plain Python
  loop calling the same plugin functions and flattening their lists (target ratio <= 5).
"""

from __future__ import annotations

import tempfile
import timeit
from pathlib import Path
from typing import Any

import pluggy

from bench.common import Result, Settings, Target, log, median, shipped_plugins

#: Every plugin ``config/default.toml`` enables.
BUILTIN_PLUGINS = shipped_plugins()


def ns_per_call(stmt: str, env: dict[str, Any], settings: Settings) -> float:
    """Median ns per execution of ``stmt`` (compiled into timeit's loop: no extra call)."""
    timer = timeit.Timer(stmt, globals=env)
    number, elapsed = timer.autorange()
    number = max(1, int(number * settings.repeat_seconds / max(elapsed, 1e-9)))
    runs = timer.repeat(repeat=settings.repeats, number=number)
    return median(runs) / number * 1e9


# ------------------------------------------------------------------------------ pluggy


def _synthetic_manager() -> Any:
    spec = pluggy.HookspecMarker("benchx")
    impl = pluggy.HookimplMarker("benchx")

    class Spec:
        @spec
        def x(self, a: int, b: int) -> int:  # pragma: no cover - specification only
            ...

    pm = pluggy.PluginManager("benchx")
    pm.add_hookspecs(Spec)
    for i in range(4):
        cls = type(f"P{i}", (), {"x": impl(lambda self, a, b: a + b)})
        pm.register(cls(), name=f"p{i}")
    return pm


def _direct(a: int, b: int) -> int:
    return a + b


def hook_dispatch(settings: Settings) -> list[Result]:
    pm = _synthetic_manager()
    hook = pm.hook.x
    assert hook(a=1, b=2) == [3, 3, 3, 3]
    funcs = [_direct] * 4

    def loop4(a: int, b: int) -> list[int]:
        return [f(a=a, b=b) for f in funcs]

    env = {"pm": pm, "hook": hook, "f": _direct, "loop4": loop4}
    via_pm = ns_per_call("pm.hook.x(a=1, b=2)", env, settings)
    floor = ns_per_call("f(a=1, b=2)", env, settings)
    bound_hook = ns_per_call("hook(a=1, b=2)", env, settings)
    plain_loop = ns_per_call("loop4(1, 2)", env, settings)
    log(f"hook_dispatch: {via_pm:.0f} ns vs direct call {floor:.0f} ns")
    return [
        Result(
            "hook_dispatch",
            via_pm,
            "ns",
            floor,
            None,
            meta={
                "implementations": 4,
                "floor_is": "one direct call of one implementation",
                "hook_caller_cached_ns": round(bound_hook, 1),
                "plain_loop_of_4_ns": round(plain_loop, 1),
                "repeats": settings.repeats,
                "pluggy": pluggy.__version__,
            },
        )
    ]


# ------------------------------------------------------------------------------ UI slot


def build_app(tmp: Path, plugins: list[str]) -> Any:
    """An app the way core.testing.build_test_app builds one (no migration: nothing here
    touches the database)."""
    from core.app import create_app
    from core.config import DEFAULT_CONFIG, load_config

    overrides = {
        "app": {
            "env": "test",
            "instance_path": str(tmp / "instance"),
            "secret_key": "bench-secret-key",
            "demo_data": False,
        },
        "database": {"url": f"sqlite:///{tmp}/bench.db"},
        "events": {"delivery": "manual"},
        "plugins": {"enabled": plugins},
    }
    return create_app(load_config(DEFAULT_CONFIG, overrides=overrides, environ={}))


def hook_ui_slot(settings: Settings) -> list[Result]:
    from core.identity import Anonymous

    with tempfile.TemporaryDirectory(prefix="shequ-bench-") as tmp:
        app = build_app(Path(tmp), BUILTIN_PLUGINS)
        kernel = app.extensions["shequ"]
        host = kernel.plugins
        user = Anonymous()
        try:
            funcs = [impl.function for impl in host._impls("nav_items")]
            assert funcs, "no nav_items implementation among the shipped plugins"

            def plain_loop(user: Any) -> list[Any]:
                out: list[Any] = []
                for fn in funcs:
                    res = fn(user=user)
                    if res is None:
                        continue
                    if isinstance(res, list | tuple):
                        out.extend(res)
                    else:
                        out.append(res)
                return out

            expected = host.call_slot("nav_items", user=user)
            assert [i.url for i in plain_loop(user)] == [i.url for i in expected]
            env = {"host": host, "user": user, "plain_loop": plain_loop}
            value = ns_per_call("host.call_slot('nav_items', user=user)", env, settings)
            floor = ns_per_call("plain_loop(user)", env, settings)
            impls = ns_per_call("host._impls('nav_items')", env, settings)
            pluggy_call = ns_per_call("host.pm.hook.nav_items(user=user)", env, settings)
        finally:
            kernel.bus.stop()
            kernel.db.dispose()
    log(f"hook_ui_slot: {value:.0f} ns vs plain loop {floor:.0f} ns")
    return [
        Result(
            "hook_ui_slot",
            value,
            "ns",
            floor,
            Target("ratio", "<=", 5),
            meta={
                "plugins": BUILTIN_PLUGINS,
                "nav_items_implementations": len(funcs),
                "floor_is": "plain loop over the same plugin functions, lists flattened",
                "of_which_impls_sort_ns": round(impls, 1),
                "pm_hook_nav_items_ns": round(pluggy_call, 1),
                "repeats": settings.repeats,
            },
        )
    ]
