"""scripts/ensure_browser.sh, run by `make test` before pytest: a no-op when Chromium and
the CJK font are there; installs them when it may (root or passwordless sudo); otherwise
stops at once (status 2) with the one command to run."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ensure_browser.sh"


def stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def run(tmp_path: Path, *, uid: str, sudo_ok: bool, present: bool = False
        ) -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "apt-calls"
    stub(bin_dir, "id", f"echo {uid}")
    stub(bin_dir, "sudo", f'[ "$1" = "-n" ] || exit 1; {"" if sudo_ok else "exit 1"}\n'
                          'shift; [ "$1" = true ] && exit 0; exec "$@"')
    stub(bin_dir, "apt-get", f'echo "$@" >> {calls}')
    chromium = tmp_path / "chromium"
    font = tmp_path / "wqy-microhei.ttc"
    if present:
        chromium.write_text("#!/bin/sh\n")
        chromium.chmod(0o755)
        font.write_text("")
    return subprocess.run(
        ["/bin/sh", str(SCRIPT)], capture_output=True, text=True, timeout=30,
        env={"PATH": str(bin_dir), "SHEQU_CHROMIUM": str(chromium), "SHEQU_CJK_FONT": str(font)})


def test_a_machine_that_has_both_is_a_fast_no_op(tmp_path):
    started = time.monotonic()
    out = run(tmp_path, uid="1000", sudo_ok=False, present=True)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == ""
    assert time.monotonic() - started < 2
    assert not (tmp_path / "apt-calls").exists()


def test_without_root_it_stops_at_once_with_the_one_command(tmp_path):
    out = run(tmp_path, uid="1000", sudo_ok=False)
    assert out.returncode == 2
    assert "sudo apt-get install -y chromium fonts-wqy-microhei" in out.stderr
    assert not (tmp_path / "apt-calls").exists()


def test_as_root_it_installs_what_is_missing(tmp_path):
    out = run(tmp_path, uid="0", sudo_ok=False)
    assert out.returncode == 0, out.stderr
    calls = (tmp_path / "apt-calls").read_text().splitlines()
    assert calls[0].startswith("update")
    assert calls[1].split()[-2:] == ["chromium", "fonts-wqy-microhei"]


def test_with_passwordless_sudo_it_installs_too(tmp_path):
    out = run(tmp_path, uid="1000", sudo_ok=True)
    assert out.returncode == 0, out.stderr
    assert "install" in (tmp_path / "apt-calls").read_text()


def test_make_test_runs_it_before_pytest():
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("ensure_browser.sh") < recipe.index("pytest")
