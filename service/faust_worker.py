"""Run a Faust app in the foreground with the service's own logging.

Faust's worker replaces the root logger's handlers when it starts. When the
level is WARNING or above it also installs a terminal spinner that sets the
root logger to DEBUG, so that every record turns the spinner. Every debug call
of Faust and aiokafka then builds a log record only for it to be filtered out
by the handler, which costs the worker a large share of its time per event.
This worker has no spinner and configures the root logger as
:func:`service.logs.configure` does for the other processes.
"""

from __future__ import annotations

import logging

import faust
from faust.worker import Worker

from service.logs import configure


class ServiceWorker(Worker):
    """Faust's worker without the spinner, logging at ``level`` in the service's format."""

    def __init__(self, app: faust.App, *, level: str) -> None:
        # Standard output stays as it is: Faust would otherwise route it into logging for
        # the rest of the process.
        super().__init__(app, loglevel=level, quiet=True, redirect_stdouts=False)
        self.spinner = None
        self._level = level.upper()

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        configure(self._level)


def run_worker(app: faust.App, *, level: str) -> None:
    """Run ``app`` until a signal stops it."""
    ServiceWorker(app, level=level).execute_from_commandline()
