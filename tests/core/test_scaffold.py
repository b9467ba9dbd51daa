"""``shequ plugin new NAME`` (issue 22): the scaffold is a working, tested, installable
plugin. Built in a temporary directory, "installed" the way pip would (its folder on the
path and a dist-info with the ``shequ.plugins`` entry point), its own tests run in a fresh
interpreter and pass, and its page serves when it is enabled by config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from core.cli import main
from core.scaffold import ScaffoldError, create, names
from core.testing import build_test_app, login
from tests.core.test_boundary import PUBLIC, imported_modules

ROOT = Path(__file__).resolve().parents[2]


def install_like_pip(project: Path, plugin_id: str, site: Path) -> dict[str, str]:
    """A dist-info with the entry point, as ``pip install -e`` would leave it; returns the
    environment whose PYTHONPATH finds the package and the entry point."""
    n = names(plugin_id)
    dist = site / f"{n['__pkg__']}-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {n['__dist__']}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(f"[shequ.plugins]\n{plugin_id} = {n['__pkg__']}\n")
    return {**os.environ,
            "PYTHONPATH": os.pathsep.join([str(project), str(site), str(ROOT)])}


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("scaffold")
    result = CliRunner().invoke(main, ["plugin", "new", "library", "--dir", str(where)])
    assert result.exit_code == 0, result.output
    assert "created" in result.output and "shequ_library" in result.output
    return where / "shequ-library"


def test_it_has_the_rooms_of_a_built_in_plugin(library):
    pkg = library / "shequ_library"
    for room in ("__init__.py", "models.py", "schemas.py", "services.py", "api.py",
                 "views.py", "templates/library/index.html", "migrations/env.py",
                 "migrations/script.py.mako", "translations/zh/LC_MESSAGES/messages.po",
                 "translations/zh/LC_MESSAGES/messages.mo"):
        assert (pkg / room).is_file(), room
    assert len(list((pkg / "migrations" / "versions").glob("*_library_item_table.py"))) == 1
    pyproject = (library / "pyproject.toml").read_text()
    assert '[project.entry-points."shequ.plugins"]\nlibrary = "shequ_library"' in pyproject
    assert (library / "tests" / "test_library.py").is_file()


def test_it_imports_only_the_public_core_modules(library):
    offenders = [f"{path.name}:{line} {module}"
                 for path in library.rglob("*.py")
                 for line, module in imported_modules(path)
                 if module.startswith("core") and module not in PUBLIC]
    assert not offenders


def test_its_own_tests_pass_once_installed(library, tmp_path):
    env = install_like_pip(library, "library", tmp_path / "site")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "--rootdir", str(library), str(library / "tests")],
        cwd=library, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "6 passed" in done.stdout


def test_it_serves_its_page_and_api_when_enabled_by_config(library, tmp_path, monkeypatch):
    site = tmp_path / "site"
    install_like_pip(library, "library", site)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(library))
    from core.plugins import discover

    assert discover()["library"].value == "shequ_library"  # found through the entry point
    app, cleanup = build_test_app(tmp_path / "app", plugins=["library"])
    try:
        client = app.test_client()
        login(client, app, "community_worker")
        page = client.get("/library/")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "<h1>Library</h1>" in html and "还没有条目。" in html  # zh catalogue works
        assert client.get("/api/v1/library/items").status_code == 200
        kernel = app.extensions["shequ"]
        assert {"library.item.read", "library.item.manage"} <= set(kernel.permissions)
        assert "library:follow_move" in kernel.bus.subscribers
        # The first migration matches the models exactly.
        from core.db import Base

        with kernel.db.engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert [d for d in diff if "library_" in str(d) and "alembic_version" not in str(d)] == []
    finally:
        cleanup()


def test_bad_names_and_existing_folders_are_refused(tmp_path):
    for bad in ("Library", "x", "1abc", "core", "my-lib"):
        with pytest.raises(ScaffoldError, match="not a plugin id"):
            create(bad, tmp_path)
    create("lib_two", tmp_path)
    assert (tmp_path / "shequ-lib-two" / "shequ_lib_two" / "__init__.py").is_file()
    assert 'url="/lib-two/"' in (tmp_path / "shequ-lib-two" / "shequ_lib_two"
                                 / "__init__.py").read_text()
    with pytest.raises(ScaffoldError, match="exists already"):
        create("lib_two", tmp_path)
    result = CliRunner().invoke(main, ["plugin", "new", "Bad", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "not a plugin id" in result.output
