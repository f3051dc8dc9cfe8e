"""A real broker for the whole session: `baton serve` from this repository as a child process on a
free port, over an embedded PostgreSQL in a temporary directory (or BATON_TEST_BROKER_URL)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from baton_client import Client

REPO_ROOT = Path(__file__).resolve().parents[3]
PYTHON_ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"broker exited during start:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"broker not healthy within 90 s:\n{log_path.read_text()}")


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    if url := os.environ.get("BATON_TEST_BROKER_URL"):
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="baton-py-test-") as data_dir:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("BATON_DATABASE_URL", "DATABASE_URL")}
        # Queue history is flushed every second rather than every 5: tests read it sooner.
        env.update(BATON_DATA_DIR=data_dir, BATON_PORT=str(port), BATON_HOST="127.0.0.1", BATON_HISTORY_FLUSH_SECONDS="1")
        log_path = Path(data_dir) / "broker.log"
        with log_path.open("wb") as log:
            # From source (tsx), so it is always the broker of this checkout.
            process = subprocess.Popen(
                ["node", "--import", "tsx", "src/cli/main.ts", "serve"],
                cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                _wait_healthy(url, process, log_path)
                yield url
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()


@pytest.fixture(scope="session")
async def client(broker_url: str) -> AsyncIterator[Client]:
    async with Client(broker_url) as shared:
        yield shared


_queues = itertools.count(1)


@pytest.fixture
def queue() -> str:
    """A queue name no other test uses."""
    return f"py-test-{os.getpid()}-{next(_queues)}"


class ChildProcess:
    """A Python program of this package running as a child, printing JSON lines."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue
            self._changed.set()
        self._changed.set()

    async def wait_for(self, name: str, **fields: Any) -> dict[str, Any]:
        """The first event with this name and fields, past or future."""
        async with asyncio.timeout(20):
            while True:
                for event in self.events:
                    if event.get("event") == name and all(event.get(k) == v for k, v in fields.items()):
                        return event
                if self._reader.done():
                    raise AssertionError(f"process exited before event {name} {fields}")
                self._changed.clear()
                await self._changed.wait()

    async def exited(self) -> int:
        async with asyncio.timeout(30):
            return await self.process.wait()


@pytest.fixture
async def spawn(broker_url: str) -> AsyncIterator[Any]:
    """Starts Python programs with BATON_URL set; kills those still running at the end."""
    children: list[ChildProcess] = []

    async def start(script: str, *args: str, env: Mapping[str, str] | None = None) -> ChildProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(PYTHON_ROOT / script), *args,
            env={**os.environ, "BATON_URL": broker_url, **(env or {})},
            stdout=asyncio.subprocess.PIPE,
        )
        child = ChildProcess(process)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.process.returncode is None:
            child.process.kill()
        await child.process.wait()
