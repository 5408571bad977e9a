"""Run one import of a generated sandbox site; the crash-resume test starts it as a process.

Usage: python import_runner.py BOOTSTRAP TOPIC_PREFIX SPACE_ID SEED ISSUES
"""

from __future__ import annotations

import asyncio
import logging
import sys

import httpx

from ingest.import_cursor import load_cursor
from ingest.importer import Importer
from ingest.worker import import_transactional_id
from jira_sandbox.app import create_app
from jira_sandbox.generator import build_world
from jiraclient.client import JiraClient
from streams.producer import Producer
from streams.settings import Settings as StreamsSettings
from streams.topics import TopicNames

SCOPES = ["read:jira-work", "read:jira-user", "read:sprint:jira-software",
          "read:board-scope:jira-software", "read:project:jira"]


def build_site_world(seed: int, issues: int):  # type: ignore[no-untyped-def]
    return build_world(seed, sites=1, projects_per_site=2, issues=issues, users=6,
                       sprints_per_board=1)


async def main(bootstrap: str, prefix: str, space_id: str, seed: int, issues: int) -> None:
    world = build_site_world(seed, issues)
    app = create_app(world, auto_consent=True)
    site = next(iter(world.sites.values()))
    assert world.oauth is not None
    oauth = world.oauth

    async def tokens(stale: str | None = None) -> str:
        return oauth.mint_for_tests(site.app_account_id, SCOPES).access_token

    topics = TopicNames(prefix=prefix)
    producer = Producer(StreamsSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap}),
                        transactional_id=import_transactional_id(f"{prefix}{space_id}"))
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sb") as http,
        producer,
    ):
        client = JiraClient(site.cloud_id, tokens=tokens, http=http, api_url="http://sb")
        cursor = await load_cursor(bootstrap, topics.connections, space_id)
        importer = Importer(space_id=space_id, cloud_id=site.cloud_id, client=client,
                            producer=producer, topics=topics, cursor=cursor, page_size=50)
        result = await importer.run()
    print(f"finished phase={result.phase} issues={result.counts.get('issues')}", flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
    logging.getLogger("ingest.importer").setLevel(logging.DEBUG)
    bootstrap, prefix, space_id, seed, issues = sys.argv[1:6]
    asyncio.run(main(bootstrap, prefix, space_id, int(seed), int(issues)))
