"""``naumu-jira demo``: the whole product on embedded defaults, end to end.

The demo starts (or reuses) a local Kafka broker, a Jira sandbox with a
generated site, the ingress and the worker, each as its own process, as a
deployment runs them. It then acts as a space admin over the real HTTP
endpoints: connect, consent and site choice. It waits for the import and
changes issues in the sandbox as Jira users would. It writes a Naumu edit of
every field back to Jira, runs a reconciliation against lost webhooks, replays
the event log, and checks the graph against the sandbox's truth. State lives
under ``var/demo``, so a demo interrupted during its import resumes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cryptography.fernet import Fernet

from ingest.identity import mint_user_token
from service.cli import Command, register
from service.demo_writeback import round_trips
from streams import codec, localkafka
from streams.admin import ensure_topics
from streams.contract import (
    SchemaAttribute,
    SchemaNodeType,
    SpaceSchemaUpdated,
    SpaceUpdated,
    WritebackResult,
)
from streams.ids import node_id
from streams.producer import Producer
from streams.settings import Settings as StreamsSettings
from streams.topics import TopicNames

SPACE_ID = "space-demo"
ADMIN_USER = "user-demo-admin"
CLIENT_ID = "naumu-demo-client"
RUN_FILE = "run.json"
STATE_ROOT = Path("var/demo")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class DemoConfig:
    seed: int
    issues: int
    projects: int
    users: int
    live_changes: int
    as_json: bool
    exit_after: bool
    import_timeout_s: float


@dataclass
class Processes:
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        # The child writes to its own copy of the file descriptor.
        with (log_dir / f"{name}.log").open("ab") as log:
            child = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        self.children.append(child)

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                # Reaped, so no zombie is left and Popen does not warn when collected.
                child.wait()

    def check(self) -> None:
        for child in self.children:
            if child.poll() is not None:
                raise RuntimeError(
                    f"process {_command_of(child)} exited with code "
                    f"{child.returncode}; see its log under {STATE_ROOT / 'logs'}"
                )


def _command_of(child: subprocess.Popen[bytes]) -> str:
    args = child.args
    if isinstance(args, list | tuple):
        return " ".join(str(part) for part in args[:4])
    return str(args)


def _die_with_parent() -> None:
    """Ask Linux to stop a child process when the demo dies, even by SIGKILL."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _secrets(state: Path) -> dict[str, str]:
    """Return the demo's keys, created once so a restarted demo can read its own state."""
    path = state / "secrets.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    values = {
        "client_secret": secrets.token_urlsafe(32),
        "token_key": Fernet.generate_key().decode(),
        "jwt_key": secrets.token_urlsafe(48),
    }
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


async def _wait_http(url: str, processes: Processes, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as http:
        while time.monotonic() < deadline:
            processes.check()
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{url} did not respond within {timeout_s:.0f} s; see the logs in "
                       f"{STATE_ROOT / 'logs'}")


def _progress(done: int, total: int, started: float) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    rate = done / max(time.monotonic() - started, 1e-6)
    sys.stderr.write(f"\r  import [{'#' * filled}{'.' * (width - filled)}] "
                     f"{done}/{total} issues, {rate:.0f}/s ")
    sys.stderr.flush()


class Demo:
    say = staticmethod(say)

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.processes = Processes()
        self.run_state = _begin_run(STATE_ROOT)
        self.prefix = str(self.run_state["prefix"])
        self.names = TopicNames(self.prefix)
        self.started = time.monotonic()
        self.latencies_ms: list[float] = []
        self.rejected_changes = 0
        self.summary: dict[str, Any] = {}
        self.started_broker = False

    # --- set-up ---------------------------------------------------------------------------

    async def bootstrap_servers(self) -> str:
        configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if configured:
            say(f"Using the Kafka broker at {configured}")
            return configured
        data_dir = STATE_ROOT / "kafka"
        current = localkafka.status(data_dir)
        if current.running:
            say(f"Reusing the demo's Kafka broker: {current.describe()}")
            return current.bootstrap
        port = localkafka.free_port()
        cached = (localkafka.default_cache_dir() / "libs" / localkafka.LIBS_DONE).exists()
        say("Starting a local Kafka broker" if cached else
            f"Starting a local Kafka broker (downloading Kafka {localkafka.KAFKA_VERSION} "
            "from Maven Central first, once per machine)")
        started = await asyncio.to_thread(localkafka.start, port, data_dir=data_dir)
        self.started_broker = True
        say(f"  {started.describe()} (started in {started.startup_seconds or 0:.1f} s)")
        return started.bootstrap

    async def start(self) -> dict[str, str]:
        STATE_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (before any task runs)
        logs = STATE_ROOT / "logs"
        logs.mkdir(exist_ok=True)
        keys = _secrets(STATE_ROOT)

        bootstrap = await self.bootstrap_servers()
        report = await ensure_topics(bootstrap, self.names.specs())
        created = len(report.created)
        if report.drift:
            say(f"Topics differ from their spec:\n{report.describe()}")
        elif created:
            say(f"Topics: {created} created, {len(self.names.specs()) - created} already present")
        else:
            say("Topics: all present, nothing to change")

        sandbox_port, ingress_port, read_port = (localkafka.free_port() for _ in range(3))
        self.sandbox = f"http://127.0.0.1:{sandbox_port}"
        self.ingress = f"http://127.0.0.1:{ingress_port}"
        self.read_api = f"http://127.0.0.1:{read_port}"
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "TOPIC_PREFIX": self.prefix,
            "STATE_DIR": str(STATE_ROOT / self.prefix.rstrip(".") / "state"),
            "JIRA_CLIENT_ID": CLIENT_ID,
            "JIRA_CLIENT_SECRET": keys["client_secret"],
            "JIRA_REDIRECT_URL": f"{self.ingress}/oauth/callback",
            "WEBHOOK_PUBLIC_URL": self.ingress,
            "TOKEN_ENCRYPTION_KEYS": keys["token_key"],
            "NAUMU_JWT_KEY": keys["jwt_key"],
            "JIRA_AUTH_URL": self.sandbox,
            "JIRA_API_URL": self.sandbox,
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
            "WORKER_WEB_ENABLED": "true",
            "WORKER_WEB_PORT": str(read_port),
        }
        python = sys.executable
        c = self.config
        say(f"Starting the Jira sandbox ({c.issues} issues per site, 2 sites) at {self.sandbox}")
        self.processes.start("sandbox", [
            python, "-m", "jira_sandbox", "--port", str(sandbox_port), "--seed", str(c.seed),
            "--sites", "2", "--projects", str(c.projects), "--issues", str(c.issues),
            "--users", str(c.users), "--client-id", CLIENT_ID,
            "--redirect-uri", f"{self.ingress}/oauth/callback", "--auto-consent",
        ], {**env, "SANDBOX_CLIENT_SECRET": keys["client_secret"]}, logs)
        await _wait_http(f"{self.sandbox}/_sandbox/sites", self.processes)

        await self.publish_space(bootstrap)
        say(f"Starting the ingress at {self.ingress} and the worker (read API {self.read_api})")
        self.processes.start("ingress", [python, "-m", "service", "ingress",
                                         "--port", str(ingress_port)], env, logs)
        self.processes.start("worker", [python, "-m", "service", "worker",
                                        "--read-api-port", str(read_port)], env, logs)
        await _wait_http(f"{self.ingress}/healthz", self.processes)
        await _wait_http(f"{self.read_api}/healthz", self.processes, timeout_s=180)
        self.bootstrap = bootstrap
        self.token = mint_user_token(ADMIN_USER, keys["jwt_key"])
        return env

    async def publish_space(self, bootstrap: str) -> None:
        settings = StreamsSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap})
        async with Producer(settings) as producer:
            space = SpaceUpdated(space_id=SPACE_ID, members={ADMIN_USER: "admin",
                                                             "user-demo-member": "member"})
            await producer.send(self.names.spaces, SPACE_ID,
                                codec.make(space, source="/demo", subject=SPACE_ID))
            # The space already has a "story" type, so the proposal reuses it.
            existing = SpaceSchemaUpdated(space_id=SPACE_ID, types=[
                SchemaNodeType(name="story", attributes=[SchemaAttribute(name="Status",
                                                                         kind="select")]),
                SchemaNodeType(name="Meeting note"),
            ])
            await producer.send(self.names.schemas, SPACE_ID,
                                codec.make(existing, source="/demo", subject=SPACE_ID))

    # --- the admin's flow -------------------------------------------------------------------

    async def connect(self, http: httpx.AsyncClient) -> str:
        auth = {"Authorization": f"Bearer {self.token}"}
        status = (await http.get(f"{self.ingress}/spaces/{SPACE_ID}/jira", headers=auth))
        if status.status_code == 200 and status.json().get("status") not in (None, "disconnected"):
            # The sandbox restarted with the run, so the stored tokens are void: consenting
            # again is the re-authorisation an admin does, and the nodes stay as they are.
            say("The demo space is connected from the interrupted run; consenting again "
                "renews its tokens")
        say("Connecting the space: OAuth consent, then the site choice")
        begin = await http.post(f"{self.ingress}/spaces/{SPACE_ID}/jira/connect",
                                headers={**auth, "Accept": "application/json"})
        begin.raise_for_status()
        authorize_url = begin.json()["authorize_url"]
        sites = (await http.get(f"{self.sandbox}/_sandbox/sites")).json()
        # The sandbox's consent page requests the account that signs in, as Atlassian's does;
        # the demo signs in as the admin whose account reaches both generated sites.
        account = _first_site_account(sites)
        consent = await http.get(f"{authorize_url}&login_hint={quote(account)}",
                                 follow_redirects=False)
        if consent.status_code not in (302, 303):
            raise RuntimeError(f"sandbox consent returned {consent.status_code}: {consent.text}")
        callback = await http.get(consent.headers["location"], follow_redirects=False)
        callback.raise_for_status()

        choices = (await http.get(f"{self.ingress}/spaces/{SPACE_ID}/jira/sites", headers=auth))
        choices.raise_for_status()
        listed = choices.json().get("sites") or []
        cloud_id = (listed[0].get("cloud_id") or listed[0].get("id")) if listed else \
            _first_site(sites)
        say(f"  {len(listed)} sites reachable; choosing {cloud_id}")
        chosen = await http.post(f"{self.ingress}/spaces/{SPACE_ID}/jira/site", headers=auth,
                                 json={"cloud_id": cloud_id})
        if chosen.status_code >= 400 and "already" not in chosen.text:
            chosen.raise_for_status()
        return str(cloud_id)

    async def truth(self, http: httpx.AsyncClient, cloud_id: str) -> list[dict[str, Any]]:
        response = await http.get(f"{self.sandbox}/_sandbox/sites/{cloud_id}/truth")
        response.raise_for_status()
        body = response.json()
        return list(body["issues"] if isinstance(body, dict) else body)

    async def graph_nodes(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
            response = await http.get(f"{self.read_api}/spaces/{SPACE_ID}/nodes", params=params)
            response.raise_for_status()
            body = response.json()
            nodes.extend(body["nodes"])
            cursor = body.get("next_cursor")
            if not cursor:
                return nodes

    async def node(self, http: httpx.AsyncClient, node: str) -> dict[str, Any] | None:
        response = await http.get(f"{self.read_api}/spaces/{SPACE_ID}/nodes/{node}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        found: dict[str, Any] = body.get("node", body)
        return found

    async def wait_import(self, http: httpx.AsyncClient, cloud_id: str) -> None:
        truth = await self.truth(http, cloud_id)
        expected_ids = {node_id(SPACE_ID, cloud_id, "issue", entry["id"]) for entry in truth}
        started = time.monotonic()
        deadline = started + self.config.import_timeout_s
        while True:
            self.processes.check()
            summary = (await http.get(f"{self.read_api}/spaces/{SPACE_ID}/graph/summary")).json()
            done = sum(count for kind, count in summary.get("nodes_by_type", {}).items()
                       if kind not in ("Project", "Sprint", "Member"))
            _progress(min(done, len(expected_ids)), len(expected_ids), started)
            if done >= len(expected_ids):
                say("")
                return
            if time.monotonic() > deadline:
                say("")
                raise TimeoutError(f"the import had {done} of {len(expected_ids)} issues after "
                                   f"{self.config.import_timeout_s:.0f} s; see var/demo/logs")
            await asyncio.sleep(0.5)

    async def live_phase(self, http: httpx.AsyncClient, cloud_id: str) -> None:
        say(f"Live phase: {self.config.live_changes} changes in Jira, followed by the graph")
        base = f"{self.sandbox}/_sandbox/sites/{cloud_id}"
        statuses = ["In Progress", "Done", "To Do"]
        for index in range(self.config.live_changes):
            truth = await self.truth(http, cloud_id)
            projects = sorted({entry["project"] for entry in truth})
            entry = truth[(index * 37) % len(truth)]
            key = entry["key"]
            target = node_id(SPACE_ID, cloud_id, "issue", entry["id"])
            before = await self.node(http, target)

            kind = index % 5
            changed_at = time.monotonic()
            if kind == 0:
                summary = f"{entry['summary'][:60]} (edited {index})"
                response = await http.patch(f"{base}/issues/{key}", json={"summary": summary})
            elif kind == 1:
                status = next(s for s in statuses[index % 3:] + statuses if s != entry["status"])
                response = await http.post(f"{base}/issues/{key}/transition",
                                           json={"status": status})
            elif kind == 2:
                labels = sorted({*entry["labels"], f"live-{index}"})
                response = await http.patch(f"{base}/issues/{key}", json={"labels": labels})
            elif kind == 3 and len(projects) > 1:
                project = next(p for p in projects if p != entry["project"])
                response = await http.post(f"{base}/issues/{key}/move",
                                           json={"project": project})
            else:
                response = await http.delete(f"{base}/issues/{key}")

            if response.status_code >= 400:
                # A workflow with no path to the status, as real Jira projects have.
                say(f"  Jira rejected change {index} on {key}: {response.text[:120]}")
                self.rejected_changes += 1
                continue
            await self.wait_changed(http, target, before, changed_at)

    async def wait_changed(self, http: httpx.AsyncClient, target: str,
                           before: dict[str, Any] | None, changed_at: float) -> None:
        """Wait until the node differs from ``before`` and record the latency."""
        deadline = changed_at + 20
        while time.monotonic() < deadline:
            if await self.node(http, target) != before:
                self.latencies_ms.append((time.monotonic() - changed_at) * 1000)
                return
            await asyncio.sleep(0.01)
        say(f"  node {target} did not change within 20 s")

    async def wait_result(self, edit_id: str, timeout_s: float = 60) -> WritebackResult:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(self.names.writeback_results,
                                    bootstrap_servers=self.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        result = codec.data_of(codec.decode(record.value), WritebackResult)
                        if result.edit_id == edit_id and result.outcome != "retrying":
                            return result
        finally:
            await consumer.stop()
        raise TimeoutError(f"no write-back result for edit {edit_id} within {timeout_s:.0f} s")

    async def reconcile(self, http: httpx.AsyncClient, cloud_id: str) -> dict[str, Any]:
        say("Reconciliation: losing 30% of webhooks for a while, then repairing the drift")
        base = f"{self.sandbox}/_sandbox/sites/{cloud_id}"
        await http.put(f"{base}/faults", json={"drop_rate": 0.3, "seed": self.config.seed})
        truth = await self.truth(http, cloud_id)
        for index in range(20):
            entry = truth[(index * 53 + 11) % len(truth)]
            if index % 4 == 3:
                await http.delete(f"{base}/issues/{entry['key']}")
            else:
                await http.patch(f"{base}/issues/{entry['key']}",
                                 json={"summary": f"{entry['summary'][:60]} (drift {index})"})
        await http.put(f"{base}/faults", json={"drop_rate": 0.0})
        await asyncio.sleep(2)
        response = await http.post(f"{self.read_api}/spaces/{SPACE_ID}/jira/reconcile",
                                   timeout=300)
        response.raise_for_status()
        report: dict[str, Any] = response.json()
        say(f"  drift found: missing {report.get('missing')}, stale {report.get('stale')}, "
            f"extra {report.get('extra')}; repaired {report.get('repaired')}")
        await self.wait_converged(http, cloud_id)
        return report

    async def wait_converged(self, http: httpx.AsyncClient, cloud_id: str,
                             timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not await self.mismatches(http, cloud_id):
                return
            await asyncio.sleep(0.5)

    async def mismatches(self, http: httpx.AsyncClient, cloud_id: str) -> list[str]:
        truth = await self.truth(http, cloud_id)
        nodes = {n["node_id"]: n for n in await self.graph_nodes(http)}
        wrong: list[str] = []
        for entry in truth:
            node = nodes.pop(node_id(SPACE_ID, cloud_id, "issue", entry["id"]), None)
            if node is None:
                wrong.append(f"{entry['key']}: no node")
                continue
            differences = _differences(node, entry, cloud_id)
            if differences:
                wrong.append(f"{entry['key']}: {', '.join(differences)}")
        stale = [n for n in nodes.values() if n.get("source", {}).get("kind") == "issue"
                 and n.get("source", {}).get("cloud_id") == cloud_id]
        wrong.extend(n["attributes"].get("JiraKey", n["node_id"]) for n in stale)
        return wrong

    async def replay_twice(self) -> list[str | None]:
        """Rebuild the projection from the event log twice and return each graph hash."""
        from service.replay import replay

        say("Replaying jira.events from offset 0, twice, into fresh state")
        settings = StreamsSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                                             "TOPIC_PREFIX": self.prefix})
        hashes: list[str | None] = []
        for attempt in range(2):
            state_dir = STATE_ROOT / self.prefix.rstrip(".") / f"replay-{attempt}"
            result = await replay(settings, state_dir=state_dir, names=self.names)
            hashes.append(result.hashes.get(SPACE_ID))
            say(f"  replay {attempt + 1}: {result.events} events in {result.seconds:.1f} s, "
                f"hash {str(hashes[-1])[:16]}")
        return hashes

    async def run(self) -> dict[str, Any]:
        await self.start()
        async with httpx.AsyncClient(timeout=30) as http:
            cloud_id = await self.connect(http)
            await self.wait_import(http, cloud_id)
            _mark_changed(STATE_ROOT, self.run_state)
            await self.live_phase(http, cloud_id)
            writeback = await round_trips(self, http, cloud_id)
            report = await self.reconcile(http, cloud_id)
            wrong = await self.mismatches(http, cloud_id)
            truth = await self.truth(http, cloud_id)
            nodes = await self.graph_nodes(http)
            stats = (await http.get(f"{self.read_api}/stats")).json()
            live = (await http.get(f"{self.read_api}/spaces/{SPACE_ID}/graph/summary")).json()
        replays = await self.replay_twice()
        edges = Counter(edge["edge_type"] for node in nodes for edge in node.get("edges", []))
        issue_nodes = [n for n in nodes if n.get("source", {}).get("kind") == "issue"
                       and n.get("source", {}).get("cloud_id") == cloud_id]
        latencies = sorted(self.latencies_ms)
        return {
            "issues_in_jira": len(truth),
            "issue_nodes": len(issue_nodes),
            "mismatches": len(wrong),
            "mismatched_keys": wrong[:20],
            "drift": {key: report.get(key) for key in ("missing", "stale", "extra", "repaired")},
            "events_processed": sum(s.get("processed", 0) for s in stats.values()),
            "latency_ms": {"p50": _percentile(latencies, 50), "p99": _percentile(latencies, 99),
                           "samples": len(latencies)},
            "live_changes": {"made": self.config.live_changes - self.rejected_changes,
                             "rejected_by_jira": self.rejected_changes},
            "nodes_by_type": dict(Counter(n["node_type"] for n in nodes)),
            "edges_by_type": dict(edges),
            "writeback": writeback,
            "graph_hash": live.get("graph_hash"),
            "replay_hashes": replays,
            "replay_matches_live": all(h == live.get("graph_hash") for h in replays),
            "read_api": self.read_api,
            "duration_s": round(time.monotonic() - self.started, 1),
        }


def _begin_run(state: Path) -> dict[str, Any]:
    """Return the run to carry out: the interrupted one again, or a new one.

    A run that was interrupted resumes on its own topics and state, which is what
    an operator restarting the service sees. A run that finished leaves a graph
    shaped by its live phase, while a new sandbox starts from the generated site
    again, so the next run gets fresh topics (a new prefix) instead.
    """
    state.mkdir(parents=True, exist_ok=True)
    path = state / RUN_FILE
    previous = json.loads(path.read_text()) if path.exists() else None
    if previous is not None and not previous.get("completed") and not previous.get("changed"):
        say(f"Resuming the interrupted demo run {previous['prefix']!r}")
        return dict(previous)
    if previous is not None and not previous.get("completed"):
        # The interrupted run had already changed the sandbox, which starts afresh from
        # the generated site, so its log no longer describes this sandbox.
        say(f"The interrupted run {previous['prefix']!r} had changed issues already; "
            "starting a new run")
    number = int(previous["number"]) + 1 if previous is not None else 1
    # The random part keeps runs of different checkouts apart on a shared broker.
    run = {"number": number, "prefix": f"demo{number}-{secrets.token_hex(3)}.",
           "completed": False}
    path.write_text(json.dumps(run))
    return run


def _finish_run(state: Path, run: dict[str, Any]) -> None:
    (state / RUN_FILE).write_text(json.dumps({**run, "completed": True}))


def _mark_changed(state: Path, run: dict[str, Any]) -> None:
    """Record that the run is about to change the sandbox, so it cannot be resumed."""
    run["changed"] = True
    (state / RUN_FILE).write_text(json.dumps(run))


def _first_site_account(sites: Any) -> str:
    listed = sites["sites"] if isinstance(sites, dict) else sites
    return str(listed[0]["app_account_id"])


def _first_site(sites: Any) -> str:
    listed = sites["sites"] if isinstance(sites, dict) else sites
    return str(listed[0]["cloud_id"])


def _differences(node: dict[str, Any], entry: dict[str, Any], cloud_id: str) -> list[str]:
    """Return the names of the node's fields and edges that differ from the sandbox's truth."""
    attributes = node.get("attributes", {})

    def ref(kind: str, jira_id: object) -> str:
        return node_id(SPACE_ID, cloud_id, kind, str(jira_id))

    expected_edges = {("in_project", ref("project", entry["project_id"]))}
    expected_edges |= {("in_sprint", ref("sprint", sprint)) for sprint in entry["sprint_ids"]}
    if entry["assignee"]:
        expected_edges.add(("assigned_to", ref("member", entry["assignee"])))
    if entry["parent"]:
        parent_edge = "subtask_of" if entry["parent_kind"] == "subtask" else "in_epic"
        expected_edges.add((parent_edge, ref("issue", entry["parent"])))
    edges = {(edge["edge_type"], edge["to_node"]) for edge in node.get("edges", [])}

    checks = {
        "label": node.get("label") == entry["summary"],
        "JiraKey": attributes.get("JiraKey") == entry["key"],
        "aliases": sorted(node.get("aliases") or []) == sorted(entry["old_keys"]),
        "Status": attributes.get("Status") == entry["status"],
        "Priority": attributes.get("Priority") == entry["priority"],
        "Labels": sorted(attributes.get("Labels") or []) == sorted(entry["labels"]),
        "type": node.get("node_type") == entry["issuetype"],
        "created": node.get("created") == entry["created"],
        "updated": node.get("updated") == entry["updated"],
        "edges": edges == expected_edges,
    }
    return [name for name, ok in checks.items() if not ok]


def _percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values)) - 1))
    return round(values[index], 1)


def _print_summary(summary: dict[str, Any]) -> None:
    say("")
    say("Summary")
    say(f"  issues in Jira: {summary['issues_in_jira']}, issue nodes: {summary['issue_nodes']}, "
        f"mismatches: {summary['mismatches']}")
    say(f"  nodes by type: {summary['nodes_by_type']}")
    say(f"  edges by type: {summary['edges_by_type']}")
    say(f"  events processed: {summary['events_processed']}")
    latency = summary["latency_ms"]
    say(f"  change-to-graph latency: p50 {latency['p50']} ms, p99 {latency['p99']} ms "
        f"({latency['samples']} changes)")
    say(f"  drift repaired by reconciliation: {summary['drift']}")
    writeback = summary["writeback"]
    outcomes = ", ".join(f"{field} {value['outcome']}"
                         for field, value in writeback["fields"].items())
    say(f"  write-back: {outcomes}; writes per edit {writeback['writes_per_edit']}, "
        f"writes after settling {writeback['writes_after_settling']}")
    say(f"  graph hash {summary['graph_hash']}; replays match the live graph: "
        f"{summary['replay_matches_live']}")
    say(f"  finished in {summary['duration_s']} s")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the summary as one JSON object on the last line")
    parser.add_argument("--exit", action="store_true",
                        help="stop after the summary instead of serving the read API")
    parser.add_argument("--seed", type=int, default=7, help="sandbox generator seed")
    parser.add_argument("--issues", type=int, default=2000, help="issues per sandbox site")
    parser.add_argument("--projects", type=int, default=5, help="projects per sandbox site")
    parser.add_argument("--users", type=int, default=20, help="users per sandbox site")
    parser.add_argument("--live-changes", type=int, default=25,
                        help="issue changes made in the live phase")
    parser.add_argument("--import-timeout", type=float, default=600,
                        help="seconds to wait for the import before failing")


def _run(args: argparse.Namespace) -> int:
    # Shells start background jobs with SIGINT ignored. Ctrl-C must stop the demo anyway,
    # and the finally block below stops the children.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.default_int_handler(signum, frame))
    config = DemoConfig(args.seed, args.issues, args.projects, args.users, args.live_changes,
                        args.json, args.exit, args.import_timeout)
    demo = Demo(config)
    # The demo prints its own progress; library chatter (topic creation lines, leader
    # elections on new topics) would repeat it or look like failures.
    for noisy in ("httpx", "streams.admin", "streams.producer", "service.replay"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    if "LOG_LEVEL" not in os.environ:
        # The children log to files under var/demo/logs; this process's own INFO lines
        # would interleave with the progress it prints. LOG_LEVEL brings them back.
        logging.getLogger().setLevel(logging.WARNING)

    async def main() -> dict[str, Any]:
        try:
            summary = await demo.run()
            _finish_run(STATE_ROOT, demo.run_state)
            _print_summary(summary)
            if config.as_json:
                print(json.dumps(summary), flush=True)
            if not config.exit_after:
                say(f"\nThe graph read API is up at {demo.read_api}/spaces/{SPACE_ID}/nodes "
                    "(Ctrl-C to stop)")
                while True:
                    demo.processes.check()
                    await asyncio.sleep(1)
            return summary
        finally:
            demo.processes.stop()
            if demo.started_broker:
                await asyncio.to_thread(localkafka.stop, STATE_ROOT / "kafka")

    try:
        summary = asyncio.run(main())
    except KeyboardInterrupt:
        say("Stopped. Running the same command again resumes an interrupted import, "
            "or starts a new run.")
        return 130
    ok = summary["mismatches"] == 0 and summary["issue_nodes"] == summary["issues_in_jira"]
    return 0 if ok else 1


register(Command("demo", "run the whole product on a local broker and a sandbox Jira site",
                 _arguments, _run))
