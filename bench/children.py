"""Start benchmark servers and workers as child processes and stop them by their pid."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Child:
    """One child process whose stdout carries a ``READY {json}`` line and whose stderr is logged."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=self._log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.ready: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self.process.pid

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> dict[str, Any]:
        assert self.process.stdout is not None
        stdout = self.process.stdout
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(loop.run_in_executor(None, stdout.readline),
                                          max(deadline - time.monotonic(), 0.1))
            if not line:
                break
            if line.startswith(b"READY "):
                self.ready = orjson.loads(line[len(b"READY "):])
                return self.ready
        self.stop()
        raise RuntimeError(
            f"child {' '.join(self.args)} did not report READY within {timeout_s:.0f} s "
            f"(exit code {self.process.poll()}); see {self.log_path}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("child pid %d did not stop within %.0f s; killing it",
                            self.pid, STOP_TIMEOUT_S)
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


@asynccontextmanager
async def child(args: list[str], log_path: Path) -> AsyncIterator[Child]:
    """Run ``python ARGS`` until the block ends, yielding once it reported READY."""
    started = Child(args, log_path)
    try:
        await started.wait_ready()
        yield started
    finally:
        started.stop()


def rss_mb(pid: int) -> float:
    """Return the resident set size of ``pid`` in MiB, read from ``/proc`` (Linux only)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line")
