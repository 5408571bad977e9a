"""An HTTP/1.1 load generator for webhook deliveries, on loopback only.

It writes requests on keep-alive connections with asyncio streams instead of
an HTTP client library, to keep the generator's own CPU cost low on a small
machine where it shares the cores with the server it measures. Every run is
bounded by a request count.

- :func:`open_loop` starts request ``i`` at ``i / rate`` seconds whether or not
  earlier ones finished, and measures latency from that scheduled start, so a
  slow server cannot hide its queueing delay.
- :func:`closed_loop` keeps ``concurrency`` requests in flight back to back: the
  saturation throughput.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jwt

MAX_CONNECTIONS = 256
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Sent:
    """One delivery: its id, the wall-clock time it was due, its latency and its status."""

    delivery_id: str
    due_ms: float
    latency_s: float
    status: int


def app_token(client_id: str, client_secret: str, cloud_id: str, ttl_s: int = 3600) -> str:
    """Return the bearer JWT Jira signs an OAuth app's webhook deliveries with."""
    now = int(time.time())
    return jwt.encode({"iss": cloud_id, "aud": client_id, "iat": now, "exp": now + ttl_s},
                      client_secret, algorithm="HS256")


class Deliveries:
    """Builds request bytes: the bodies in turn, each with a new delivery id."""

    def __init__(self, port: int, path: str, bodies: Sequence[bytes], token: str) -> None:
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n"
        ).encode()
        self._bodies = bodies
        self._run = uuid.uuid4().hex[:8]
        self._next = 0

    def next(self) -> tuple[str, bytes]:
        index = self._next
        self._next += 1
        body = self._bodies[index % len(self._bodies)]
        delivery_id = f"bench-{self._run}-{index}"
        head = self._head + (
            f"X-Atlassian-Webhook-Identifier: {delivery_id}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        return delivery_id, head + body


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class _Pool:
    def __init__(self, port: int) -> None:
        self._port = port
        self._idle: list[_Connection] = []
        self._all: list[_Connection] = []
        self._released = asyncio.Condition()

    async def acquire(self) -> _Connection:
        # A server slower than the offered rate makes requests wait here for a
        # connection; their latency still counts from the scheduled start.
        async with self._released:
            while not self._idle and len(self._all) >= MAX_CONNECTIONS:
                await self._released.wait()
            if self._idle:
                return self._idle.pop()
            reader, writer = await asyncio.open_connection(HOST, self._port)
            connection = _Connection(reader, writer)
            self._all.append(connection)
            return connection

    async def reconnect(self, stale: _Connection) -> _Connection:
        stale.close()
        reader, writer = await asyncio.open_connection(HOST, self._port)
        connection = _Connection(reader, writer)
        self._all[self._all.index(stale)] = connection
        return connection

    async def release(self, connection: _Connection) -> None:
        async with self._released:
            self._idle.append(connection)
            self._released.notify()

    def close(self) -> None:
        for connection in self._all:
            connection.close()


async def open_loop(deliveries: Deliveries, port: int, *, rate: float, count: int,
                    clock: Callable[[], float] = time.perf_counter) -> list[Sent]:
    """Send ``count`` deliveries at ``rate`` per second and return each one's latency."""
    pool = _Pool(port)
    results: list[Sent] = []

    async def one(due: float, wall_ms: float) -> None:
        delivery_id, request = deliveries.next()
        connection = await pool.acquire()
        try:
            status = await connection.exchange(request)
        except (asyncio.IncompleteReadError, ConnectionError):
            # uvicorn closes keep-alive connections idle for 5 s; such a request
            # never reached the app, so it is sent again on a new connection.
            connection = await pool.reconnect(connection)
            status = await connection.exchange(request)
        await pool.release(connection)
        results.append(Sent(delivery_id, wall_ms, clock() - due, status))

    tasks = []
    started = clock()
    wall_started_ms = time.time() * 1000
    try:
        for index in range(count):
            due = started + index / rate
            delay = due - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, wall_started_ms + index * 1000 / rate)))
        await asyncio.gather(*tasks)
    finally:
        pool.close()
    return results


async def closed_loop(deliveries: Deliveries, port: int, *, concurrency: int,
                      count: int) -> tuple[int, float]:
    """Send ``count`` deliveries from ``concurrency`` connections; return (2xx count, seconds)."""
    remaining = count
    succeeded = 0

    async def worker() -> None:
        nonlocal remaining, succeeded
        reader, writer = await asyncio.open_connection(HOST, port)
        connection = _Connection(reader, writer)
        try:
            while remaining > 0:
                remaining -= 1
                _, request = deliveries.next()
                if 200 <= await connection.exchange(request) < 300:
                    succeeded += 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return succeeded, time.perf_counter() - started


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile (``fraction`` in 0..1) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]
