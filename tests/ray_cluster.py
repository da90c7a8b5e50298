"""A real local Ray head for the contract tests of the `ray` backend, started and stopped here.

It runs in its own process group with its own temp folder; only that group is stopped at the
end (never `ray stop`, which would stop every Ray on the machine).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayHead:
    def __init__(self, cpus: int = 2):
        self.tmp = tempfile.mkdtemp(prefix="ray-t-", dir="/tmp")  # short: socket paths
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Token authentication stays on, with a token of its own (never ~/.ray's).
        self.token_path = Path(self.tmp) / "auth_token"
        self.token_path.write_text(secrets.token_hex(32))
        self.token_path.chmod(0o600)
        self.env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.token_path)}
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        ray = Path(os.sys.executable).with_name("ray")
        self.log = open(Path(self.tmp) / "head.log", "wb")
        self.process = subprocess.Popen(
            [
                str(ray),
                "start",
                "--head",
                "--block",
                f"--num-cpus={cpus}",
                f"--port={self.port}",
                f"--temp-dir={self.tmp}",
                "--include-dashboard=false",
                "--disable-usage-stats",
                "--node-ip-address=127.0.0.1",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start failed: {self.tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"ray head not ready after {timeout} s: {self.tail()}")

    def tail(self) -> str:
        return (Path(self.tmp) / "head.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
