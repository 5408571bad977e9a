"""The ``naumu-jira`` command line.

Each subcommand is a :class:`Command` in :data:`COMMANDS`. This module defines
``kafka`` and ``topics``. The modules in :data:`COMMAND_MODULES` add the others
(such as ``demo``, ``serve``, ``worker``, ``status``, ``replay`` and ``reconcile``)
by calling :func:`register` when they are imported.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.settings import VARIABLES as INGEST_VARIABLES
from reconcile.settings import VARIABLES as RECONCILE_VARIABLES
from streams import localkafka
from streams.admin import ensure_topics
from streams.errors import SyncError
from streams.settings import VARIABLES, Settings
from streams.topics import TopicNames

log = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]

# Exit code of `kafka status` when the broker is stopped, as LSB init scripts use.
EXIT_NOT_RUNNING = 3


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, its help line, its options and the function that runs it."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Handler


COMMANDS: dict[str, Command] = {}

# Modules that register further subcommands on import. A module that does not
# exist is skipped. A module that fails to import leaves a subcommand of its own
# name that reports the import error, so the other subcommands keep working.
COMMAND_MODULES: tuple[str, ...] = (
    "service.demo",
    "service.serve",
    "service.worker",
    "service.status",
    "service.replay",
    "service.keys",
)


def register(command: Command) -> Command:
    """Add ``command`` to the CLI; a second command with the same name is an error."""
    if command.name in COMMANDS and COMMANDS[command.name] != command:
        raise ValueError(f"subcommand {command.name!r} is already registered")
    COMMANDS[command.name] = command
    return command


def _load_command_modules() -> None:
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        try:
            importlib.import_module(name)
        except ImportError as exc:
            log.debug("subcommand module %s failed to import: %r", name, exc)
            _register_unavailable(name.rpartition(".")[2], name, exc)


def _register_unavailable(command_name: str, module: str, error: ImportError) -> None:
    if command_name in COMMANDS:
        return

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def report(args: argparse.Namespace) -> int:
        print(f"naumu-jira {command_name}: unavailable because {module} failed to import: "
              f"{error}", file=sys.stderr)
        return 1

    COMMANDS[command_name] = Command(
        command_name, f"(unavailable: {module} failed to import)", add_arguments, report
    )


# --- kafka start|stop|status -------------------------------------------------------------


def _add_kafka_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "stop", "status"),
                        help="start, stop or report the local broker")
    parser.add_argument("--port", type=int, default=localkafka.DEFAULT_PORT,
                        help="broker port on 127.0.0.1 (default: %(default)s)")
    parser.add_argument("--controller-port", type=int, default=None,
                        help="KRaft controller port (default: the broker port + 1)")
    parser.add_argument("--data-dir", type=Path, default=localkafka.DEFAULT_DATA_DIR,
                        help="directory of the broker's configuration, data, pid file and log "
                             "(default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=90.0,
                        help="seconds to wait for the broker to start or stop "
                             "(default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def _run_kafka(args: argparse.Namespace) -> int:
    if args.action == "start":
        started = localkafka.start(
            args.port, data_dir=args.data_dir, controller_port=args.controller_port,
            timeout=args.timeout,
        )
        print(f"Kafka {started.version} ready on {started.bootstrap} (pid {started.pid}) "
              f"in {started.startup_seconds:.1f} s; data dir {started.data_dir}")
        print(f"export KAFKA_BOOTSTRAP_SERVERS={started.bootstrap}")
        return 0

    if args.action == "stop":
        stopped = localkafka.stop(args.data_dir, timeout=args.timeout)
        if stopped.running:
            print(f"stopped Kafka pid {stopped.pid} on {stopped.bootstrap}")
        else:
            print(f"Kafka was not running (data dir {stopped.data_dir})")
        return 0

    current = localkafka.status(args.data_dir)
    if args.json:
        print(json.dumps(localkafka.status_dict(current)))
    else:
        print(current.describe())
    return 0 if current.running else EXIT_NOT_RUNNING


# --- topics ensure -----------------------------------------------------------------------


def _add_topics_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("ensure",),
                        help="create missing contract topics and report drift")
    parser.add_argument("--fix-drift", action="store_true",
                        help="also add missing partitions and reset differing configs")
    parser.add_argument("--bootstrap", default=None,
                        help="host:port list of brokers (default: KAFKA_BOOTSTRAP_SERVERS)")


def _run_topics(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    specs = TopicNames(settings.topic_prefix).specs()
    report = asyncio.run(ensure_topics(
        bootstrap, specs, replication_factor=settings.topic_replication_factor,
        fix_drift=args.fix_drift, request_timeout_ms=settings.kafka_request_timeout_ms,
    ))
    print(report.describe())
    return 1 if report.drift else 0


register(Command("kafka", "run a local single-node Kafka broker for development",
                 _add_kafka_arguments, _run_kafka))
register(Command("topics", "create the contract topics on the broker",
                 _add_topics_arguments, _run_topics))


# --- entry point -------------------------------------------------------------------------


# Commands that run once and print their own result, as opposed to the servers.
ONE_SHOT_COMMANDS = frozenset({"status", "reconcile", "replay", "topics", "keys"})

# Variables the command modules read themselves.
COMMAND_VARIABLES = ("LOG_FORMAT", "INGRESS_HOST", "INGRESS_PORT", "READ_API_URL",
                     "KAFKA_CACHE_DIR")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="naumu-jira",
        description="Two-way sync between Jira Cloud and a Naumu space.",
        epilog=(
            "environment variables: "
            + ", ".join([*VARIABLES, *COMMAND_VARIABLES, *INGEST_VARIABLES,
                         *RECONCILE_VARIABLES])
            + ". docs/configuration.md describes each one."
        ),
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        sub = subcommands.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(handler=command.handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        print(f"naumu-jira: LOG_LEVEL={level!r} is invalid; use DEBUG, INFO, WARNING or ERROR",
              file=sys.stderr)
        return 1
    log_format = os.environ.get("LOG_FORMAT", "text").strip().lower()
    if log_format not in ("text", "json"):
        print(f"naumu-jira: LOG_FORMAT={log_format!r} is invalid; use text or json",
              file=sys.stderr)
        return 1
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO; the Jira client logs its requests itself, with ids.
    logging.getLogger("httpx").setLevel(max(logging.getLevelName(level), logging.WARNING))
    _load_command_modules()
    args = build_parser().parse_args(argv)

    if args.command in ONE_SHOT_COMMANDS:
        # These commands report an unreachable broker in one line of their own. The
        # Kafka client's log line about the same failure would only repeat it.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    handler: Handler = args.handler
    try:
        return handler(args)
    except SyncError as exc:
        print(f"naumu-jira {args.command}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        # Configuration parsed late (ports, log formats) reports its own value and fix.
        print(f"naumu-jira {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # A directory or port the command needs: the error names the path or address.
        print(f"naumu-jira {args.command}: {exc}; check that the path or address named "
              "there is right and that this user may use it", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
