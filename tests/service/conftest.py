"""Fixtures of the operator command tests: contract topics and canned HTTP servers."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from streams.admin import ensure_topics
from streams.topics import TopicNames


@pytest.fixture
async def contract_names(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[TopicNames]:
    """Create the contract topics under ``topic_prefix`` and delete them afterwards."""
    names = TopicNames(topic_prefix)
    await ensure_topics(kafka_bootstrap, names.specs())
    try:
        yield names
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([spec.name for spec in names.specs()])
        finally:
            await admin.close()


@dataclass
class CannedServer:
    """A loopback HTTP server that sends one status and body in reply to every request."""

    url: str
    paths: list[str] = field(default_factory=list)


CannedServerFactory = Callable[..., CannedServer]


@pytest.fixture
def canned_http() -> Iterator[CannedServerFactory]:
    """Return a factory of servers on 127.0.0.1, which all stop when the test ends."""
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(status: int, body: bytes, content_type: str = "text/html") -> CannedServer:
        paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                paths.append(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = _answer
            do_POST = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return CannedServer(f"http://127.0.0.1:{server.server_address[1]}", paths)

    try:
        yield start
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join()
