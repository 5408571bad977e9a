"""A single-node Apache Kafka broker run as a local Java process, for development and tests.

The broker's jars come from Maven Central through ``kafka/pom.xml`` and are copied once
into a cache directory (``KAFKA_CACHE_DIR``, by default ``~/.cache/naumu-jira/kafka-4.1.1``).
Each broker has a data directory that contains everything about it::

    <data dir>/server.properties   the broker's configuration
    <data dir>/logs/               the KRaft metadata log and the topic partitions
    <data dir>/broker.pid          the process id while the broker runs
    <data dir>/broker.json         port, controller port, version, cluster id
    <data dir>/broker.log          the broker's own log (slf4j-simple)

One process is both broker and controller (KRaft, static quorum), and every internal
topic has replication factor 1. Topics are created only through the admin API
(``auto.create.topics.enable=false``): a typo in a topic name fails instead of
creating an empty topic, and Faust creates its changelog topics itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from streams.errors import SyncError

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
DEFAULT_PORT = 9092
DEFAULT_DATA_DIR = Path("var/kafka")
MIN_JAVA = 17
INSTALL_HINT = "apt-get install openjdk-17-jre-headless maven"

_POM = Path(__file__).resolve().parents[1] / "kafka" / "pom.xml"
# Written last into the jar cache, so a cache without it is incomplete.
LIBS_DONE = ".complete"
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')

# Children started by this process, kept so they can be reaped and are never
# garbage-collected while running (Popen warns when that happens).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class LocalKafkaError(SyncError):
    """The local broker could not be installed, started, stopped or inspected."""


class PortInUseError(LocalKafkaError):
    """A port the broker needs is already taken by another process."""


@dataclass(frozen=True)
class BrokerStatus:
    """The state of the broker of one data directory, as ``status`` reports it."""

    running: bool
    data_dir: Path
    port: int | None = None
    controller_port: int | None = None
    pid: int | None = None
    version: str = KAFKA_VERSION
    startup_seconds: float | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def describe(self) -> str:
        """Return one human-readable line, as ``naumu-jira kafka status`` prints it."""
        if not self.running:
            return f"stopped (data dir {self.data_dir})"
        return (
            f"running: Kafka {self.version} on {self.bootstrap}, controller port "
            f"{self.controller_port}, pid {self.pid}, data dir {self.data_dir}"
        )


def default_cache_dir() -> Path:
    """Return the jar cache directory: ``KAFKA_CACHE_DIR`` or the per-user default."""
    configured = os.environ.get("KAFKA_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "naumu-jira" / f"kafka-{KAFKA_VERSION}"


# --- installation ------------------------------------------------------------------------


def java_major_version(java: str = "java") -> int:
    """Return the major version of ``java``, or raise naming the package to install."""
    if shutil.which(java) is None:
        raise LocalKafkaError(
            f"Java {MIN_JAVA} or newer is required to run the local Kafka broker and "
            f"'{java}' is not on PATH; install it with: {INSTALL_HINT}"
        )
    completed = subprocess.run(
        [java, "-version"], capture_output=True, text=True, check=False, timeout=30
    )
    match = _JAVA_VERSION.search(completed.stderr + completed.stdout)
    if match is None:
        raise LocalKafkaError(
            f"could not read the Java version from '{java} -version': {completed.stderr.strip()!r}"
        )
    major = int(match.group(1))
    # Java 8 and older report themselves as "1.8".
    if major == 1 and match.group(2):
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise LocalKafkaError(
            f"Kafka {KAFKA_VERSION} needs Java {MIN_JAVA} or newer, found Java {major}; "
            f"install it with: {INSTALL_HINT}"
        )
    return major


def install(cache_dir: Path | None = None, *, pom: Path = _POM) -> Path:
    """Copy the broker's jars into ``cache_dir/libs`` unless they are already there.

    Returns the directory of jars. The copy goes to a temporary directory that is
    renamed when complete, so an interrupted install is redone on the next call.
    """
    cache_dir = cache_dir or default_cache_dir()
    libs = cache_dir / "libs"
    if (libs / LIBS_DONE).exists():
        return libs

    if shutil.which("mvn") is None:
        raise LocalKafkaError(
            f"Maven is required to download Kafka {KAFKA_VERSION} into {cache_dir} and "
            f"'mvn' is not on PATH; install it with: {INSTALL_HINT}"
        )
    if not pom.exists():
        raise LocalKafkaError(
            f"{pom} is missing; the local broker runs from a source checkout of the project"
        )

    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = cache_dir / f"libs.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    log.info("downloading Kafka %s jars into %s", KAFKA_VERSION, libs)
    started = time.monotonic()
    command = [
        "mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(pom),
        "dependency:copy-dependencies", f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        output = (completed.stdout + completed.stderr).strip()[-2000:]
        raise LocalKafkaError(
            f"'mvn dependency:copy-dependencies' failed with exit code {completed.returncode} "
            f"for {pom}; check that Maven Central is reachable. Output:\n{output}"
        )

    (staging / LIBS_DONE).write_text(KAFKA_VERSION + "\n")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    jars = len(list(libs.glob("*.jar")))
    log.info("installed %d jars for Kafka %s in %.1f s", jars, KAFKA_VERSION,
             time.monotonic() - started)
    return libs


# --- ports -------------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _port_owner(port: int) -> str | None:
    # `ss` names the listening process where the kernel lets us see it; it is optional.
    if shutil.which("ss") is None:
        return None
    completed = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False,
        timeout=10,
    )
    match = re.search(r'users:\(\("([^"]+)",pid=(\d+)', completed.stdout)
    return f"{match.group(1)} (pid {match.group(2)})" if match else None


def check_port_free(port: int, role: str = "broker") -> None:
    """Raise :class:`PortInUseError` naming the port and its owner if ``port`` is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Kafka binds with SO_REUSEADDR, so connections of a stopped broker that are
        # still in TIME_WAIT do not keep it from listening; the probe must agree.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen(1)
        except OSError as exc:
            owner = _port_owner(port)
            taken_by = f" by {owner}" if owner else ""
            raise PortInUseError(
                f"{role} port {port} on 127.0.0.1 is already in use{taken_by}; stop that "
                f"process or choose another port with --port/--controller-port"
            ) from exc


# --- configuration -----------------------------------------------------------------------


def server_properties(port: int, controller_port: int, log_dir: Path) -> str:
    """Return ``server.properties`` for a single broker+controller on 127.0.0.1."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "delete.topic.enable": "true",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


# --- state files -------------------------------------------------------------------------


def _pid_file(data_dir: Path) -> Path:
    return data_dir / "broker.pid"


def _state_file(data_dir: Path) -> Path:
    return data_dir / "broker.json"


def _log_file(data_dir: Path) -> Path:
    return data_dir / "broker.log"


def _is_our_broker(pid: int, data_dir: Path) -> bool:
    # A stale pid file may name a pid the system has since given to another process.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return _alive(pid)
    return "kafka.Kafka" in cmdline and str(data_dir.resolve()) in cmdline


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(data_dir: Path) -> int | None:
    try:
        return int(_pid_file(data_dir).read_text().strip())
    except (OSError, ValueError):
        return None


def _log_tail(data_dir: Path, lines: int = 30) -> str:
    try:
        text = _log_file(data_dir).read_text(errors="replace")
    except OSError:
        return "(no broker log)"
    return "\n".join(text.splitlines()[-lines:])


def status(data_dir: Path = DEFAULT_DATA_DIR) -> BrokerStatus:
    """Report whether the broker of ``data_dir`` runs, with its ports and pid."""
    data_dir = data_dir.resolve()
    pid = _read_pid(data_dir)
    if pid is None or not _is_our_broker(pid, data_dir):
        return BrokerStatus(running=False, data_dir=data_dir)

    try:
        state = json.loads(_state_file(data_dir).read_text())
    except (OSError, ValueError):
        state = {}
    return BrokerStatus(
        running=True,
        data_dir=data_dir,
        port=state.get("port"),
        controller_port=state.get("controller_port"),
        pid=pid,
        version=state.get("version", KAFKA_VERSION),
        startup_seconds=state.get("startup_seconds"),
    )


# --- start and stop ----------------------------------------------------------------------


def _format_storage(libs: Path, data_dir: Path, properties: Path) -> None:
    if (data_dir / "logs" / "meta.properties").exists():
        return

    classpath = f"{libs}/*"
    cluster_id = subprocess.run(
        ["java", "-cp", classpath, "kafka.tools.StorageTool", "random-uuid"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.strip()
    completed = subprocess.run(
        ["java", "-cp", classpath, "kafka.tools.StorageTool", "format",
         "-t", cluster_id, "-c", str(properties)],
        capture_output=True, text=True, check=False, timeout=120,
    )
    if completed.returncode != 0:
        raise LocalKafkaError(
            f"formatting KRaft storage in {data_dir / 'logs'} failed: "
            f"{(completed.stdout + completed.stderr).strip()[-2000:]}"
        )
    log.info("formatted KRaft storage in %s with cluster id %s", data_dir / "logs", cluster_id)


def _accepts_connections(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


async def wait_ready(bootstrap: str, wait_seconds: float = 60.0) -> None:
    """Wait until ``bootstrap`` accepts a topic creation and deletion.

    Raises :class:`LocalKafkaError` when ``wait_seconds`` pass first.
    """
    deadline = time.monotonic() + wait_seconds
    last_error: Exception | None = None
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    while time.monotonic() < deadline:
        # Until the port accepts connections aiokafka would log an error per attempt.
        if not _accepts_connections(host, int(port)):
            await asyncio.sleep(0.25)
            continue

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            probe = f"_naumu_probe_{uuid.uuid4().hex}"
            await admin.create_topics([NewTopic(probe, 1, 1)])
            await admin.delete_topics([probe])
            return
        except (KafkaError, OSError) as exc:
            last_error = exc
        finally:
            await admin.close()
        await asyncio.sleep(0.25)
    raise LocalKafkaError(
        f"Kafka at {bootstrap} did not accept a topic creation within {wait_seconds:.0f} s; "
        f"last error: {last_error!r}"
    )


def start(
    port: int = DEFAULT_PORT,
    *,
    data_dir: Path = DEFAULT_DATA_DIR,
    controller_port: int | None = None,
    cache_dir: Path | None = None,
    heap: str = "512m",
    timeout: float = 90.0,
) -> BrokerStatus:
    """Start the broker of ``data_dir`` on ``port`` and wait until it serves requests.

    Steps:

    1. raise if this data directory's broker already runs or a port is taken;
    2. install the jars, write the configuration, format the storage on first use;
    3. launch the JVM in its own session, so it outlives the command that started it;
    4. wait for a topic creation to succeed.

    The returned status carries the start-up time in seconds. The controller
    listens on ``controller_port`` (``port + 1`` by default).
    """
    data_dir = data_dir.resolve()
    controller_port = controller_port if controller_port is not None else port + 1

    current = status(data_dir)
    if current.running:
        raise LocalKafkaError(
            f"a broker already runs for {data_dir} on port {current.port} (pid {current.pid}); "
            "stop it first with 'naumu-jira kafka stop'"
        )
    check_port_free(port, "broker")
    check_port_free(controller_port, "controller")
    java_major_version()
    libs = install(cache_dir)

    started = time.monotonic()
    data_dir.mkdir(parents=True, exist_ok=True)
    properties = data_dir / "server.properties"
    properties.write_text(server_properties(port, controller_port, data_dir / "logs"))
    _format_storage(libs, data_dir, properties)

    log_path = _log_file(data_dir)
    command = [
        "java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSZ",
        "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
        # Kafka's own request logging is a line per request at INFO.
        "-Dorg.slf4j.simpleLogger.log.kafka.request.logger=warn",
        "-Dorg.slf4j.simpleLogger.log.state.change.logger=warn",
        "-cp", f"{libs}/*", "kafka.Kafka", str(properties),
    ]
    with log_path.open("ab") as log_handle:
        process = subprocess.Popen(
            command, stdout=log_handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=data_dir, start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    _pid_file(data_dir).write_text(f"{process.pid}\n")
    log.info("started Kafka %s as pid %d on 127.0.0.1:%d", KAFKA_VERSION, process.pid, port)

    bootstrap = f"127.0.0.1:{port}"
    try:
        asyncio.run(_wait_ready_or_exit(process, bootstrap, timeout, data_dir))
    except BaseException:
        _terminate(process.pid, data_dir, timeout=10.0)
        raise

    elapsed = round(time.monotonic() - started, 2)
    state = {"port": port, "controller_port": controller_port, "version": KAFKA_VERSION,
             "pid": process.pid, "startup_seconds": elapsed}
    _state_file(data_dir).write_text(json.dumps(state, indent=2) + "\n")
    log.info("Kafka %s on %s ready in %.2f s", KAFKA_VERSION, bootstrap, elapsed)
    return BrokerStatus(running=True, data_dir=data_dir, port=port,
                        controller_port=controller_port, pid=process.pid,
                        startup_seconds=elapsed)


async def _wait_ready_or_exit(
    process: subprocess.Popen[bytes], bootstrap: str, wait_seconds: float, data_dir: Path
) -> None:
    ready = asyncio.ensure_future(wait_ready(bootstrap, wait_seconds))
    try:
        while not ready.done():
            if process.poll() is not None:
                raise LocalKafkaError(
                    f"Kafka exited with code {process.returncode} before it was ready; "
                    f"the end of {_log_file(data_dir)}:\n{_log_tail(data_dir)}"
                )
            await asyncio.sleep(0.2)
        ready.result()
    finally:
        ready.cancel()


def _wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    child = _CHILDREN.get(pid)
    while time.monotonic() < deadline:
        if child is not None:
            if child.poll() is not None:
                return True
        elif not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _terminate(pid: int, data_dir: Path, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not _wait_exit(pid, timeout):
        log.warning("Kafka pid %d did not stop within %.0f s of SIGTERM; sending SIGKILL",
                    pid, timeout)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_exit(pid, 10.0)
    _CHILDREN.pop(pid, None)
    _pid_file(data_dir).unlink(missing_ok=True)


def stop(data_dir: Path = DEFAULT_DATA_DIR, *, timeout: float = 30.0) -> BrokerStatus:
    """Stop the broker of ``data_dir``: SIGTERM, then SIGKILL after ``timeout`` seconds.

    Returns the status before stopping; stopping a broker that is not running
    only removes a stale pid file.
    """
    data_dir = data_dir.resolve()
    before = status(data_dir)
    if not before.running or before.pid is None:
        stale = _read_pid(data_dir)
        if stale is not None:
            # A broker of this process that died on its own (or was killed) is reaped
            # here, so no zombie is left and Popen does not warn when it is collected.
            child = _CHILDREN.pop(stale, None)
            if child is not None:
                child.poll()
        _pid_file(data_dir).unlink(missing_ok=True)
        return before

    log.info("stopping Kafka pid %d (data dir %s)", before.pid, data_dir)
    _terminate(before.pid, data_dir, timeout)
    return before


def status_dict(current: BrokerStatus) -> dict[str, object]:
    """Return ``current`` as JSON-ready values, for ``kafka status --json``."""
    values = asdict(current)
    values["data_dir"] = str(current.data_dir)
    return values
