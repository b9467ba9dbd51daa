"""A plugin written against the core API 1.0 docs runs unchanged on 1.1.

``tests/fixtures/example_plugin_1_0`` is the example plugin exactly as the 1.0 docs
showed it. Its own test suite runs in a fresh interpreter with that copy first on the path
(so ``shequ_hello`` is the old code, found through the installed entry point ``hello``),
and must pass; loading it warns once per old import, naming the toolkit replacement.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FROZEN = ROOT / "tests" / "fixtures" / "example_plugin_1_0"
PYBABEL = Path(sys.executable).with_name("pybabel")


def test_the_1_0_example_plugin_passes_its_own_tests(tmp_path):
    copy = tmp_path / "example_plugin_1_0"
    shutil.copytree(FROZEN, copy)
    subprocess.run([str(PYBABEL), "-q", "compile", "-f", "-d",
                    str(copy / "shequ_hello" / "translations"), "-D", "messages"], check=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(ROOT)])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
         "-W", "always::DeprecationWarning", "--rootdir", str(copy), str(copy / "tests")],
        cwd=copy, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert " passed" in out and " failed" not in out, out[-2000:]
    # It really was the old code that ran, and the author was told what to use instead.
    assert str(copy) in subprocess.run(
        [sys.executable, "-c", "import shequ_hello; print(shequ_hello.__file__)"],
        env=env, capture_output=True, text=True, check=True).stdout
    assert "core.db.current_session" in out and "core.toolkit.current_session" in out, out[-3000:]
