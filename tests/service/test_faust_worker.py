"""The worker's Faust runner logs at the configured level, without Faust's spinner."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import faust
import pytest

from service.faust_worker import ServiceWorker


@pytest.fixture
def restored_root() -> Iterator[None]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    stdout, stderr = sys.stdout, sys.stderr
    yield
    sys.stdout, sys.stderr = stdout, stderr
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("level", ["WARNING", "info", "ERROR"])
def test_root_level_configured(level: str, restored_root: None) -> None:
    app = faust.App("test-faust-worker", broker="kafka://127.0.0.1:9", autodiscover=False)
    worker = ServiceWorker(app, level=level)

    worker._setup_logging()

    assert worker.spinner is None
    assert logging.getLogger().level == logging.getLevelName(level.upper())
    assert not logging.getLogger("faust.topics").isEnabledFor(logging.DEBUG)


def test_standard_output_kept(restored_root: None) -> None:
    app = faust.App("test-faust-worker", broker="kafka://127.0.0.1:9", autodiscover=False)
    before = sys.stdout, sys.stderr

    ServiceWorker(app, level="WARNING")._setup_logging()

    assert (sys.stdout, sys.stderr) == before
