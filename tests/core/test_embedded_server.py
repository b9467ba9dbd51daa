"""The embedded default (`make run`: SQLite, the delivery thread, one gunicorn process)
serves several people at once: the process's threads answer while one request is stuck.

A client that sends half a request and waits (a phone on a bad connection, an upload in
progress) used to hold the one ``sync`` worker until the timeout, and every other resident
waited behind it. With ``server.threads`` the ``gthread`` worker keeps answering."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

SHEQU = str(Path(sys.executable).parent / "shequ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "SHEQU__APP__INSTANCE_PATH": str(tmp_path / "instance"),
            "SHEQU__PLUGINS__ENABLED": "[]", "SHEQU__APP__DEMO_DATA": "false",
            "SHEQU_CONFIG": "", **extra}


def _serve(tmp_path: Path, **extra: str) -> tuple[subprocess.Popen[bytes], int]:
    env = _env(tmp_path, **extra)
    subprocess.run([SHEQU, "db", "upgrade"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=120)
    port = _free_port()
    proc = subprocess.Popen([SHEQU, "run", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):  # loopback
                return proc, port
        except OSError:
            time.sleep(0.2)
    os.killpg(proc.pid, 9)
    raise AssertionError(proc.communicate(timeout=10)[0].decode()[-2000:])


def _stop(proc: subprocess.Popen[bytes]) -> str:
    os.killpg(proc.pid, 15)
    return proc.communicate(timeout=30)[0].decode()


def _answers_beside_a_stuck_client(port: int) -> bool:
    """Open a connection that sends half a request, then ask for the home page on a second
    one. True when the second is answered while the first is still held open."""
    stuck = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        stuck.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        time.sleep(0.5)  # the worker has accepted it and is reading
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=8) as resp:
                return resp.status == 200
        except OSError:
            return False
    finally:
        stuck.close()


def test_the_embedded_default_answers_while_one_client_is_stuck(tmp_path):
    proc, port = _serve(tmp_path)
    try:
        assert _answers_beside_a_stuck_client(port)
    finally:
        out = _stop(proc)
    assert "Using worker: gthread" in out, out[-2000:]


def test_one_thread_is_the_sync_worker_and_a_stuck_client_blocks_it(tmp_path):
    """The control: with ``threads = 1`` the same stuck client holds the only worker, which
    is why one process does not default to 1 (and proves the check above can fail)."""
    proc, port = _serve(tmp_path, SHEQU__SERVER__THREADS="1", SHEQU__SERVER__TIMEOUT="20")
    try:
        assert not _answers_beside_a_stuck_client(port)
    finally:
        out = _stop(proc)
    assert "Using worker: sync" in out, out[-2000:]


def test_several_workers_default_to_sync_workers(tmp_path):
    """With several processes (events delivered by ``shequ worker``, so SQLite does not
    force one) and ``threads`` unset, each process is a sync worker: the processes give the
    concurrency, and threads would only share each worker's core (docs/operations.md)."""
    proc, _port = _serve(tmp_path, SHEQU__SERVER__WORKERS="2",
                         SHEQU__EVENTS__DELIVERY="worker")
    out = _stop(proc)
    assert "Using worker: sync" in out, out[-2000:]
    assert out.count("Booting worker") == 2, out[-2000:]
