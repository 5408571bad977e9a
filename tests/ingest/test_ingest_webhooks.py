from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time

import jwt
import orjson
import pytest
from ingest_support import ADMIN_SECRET, Harness, read_topic

from ingest.metrics import WEBHOOK_DELIVERIES


def _delivery(cloud_id: str, issue_id: str = "10001") -> bytes:
    return orjson.dumps({
        "timestamp": 1700000000000,
        "webhookEvent": "jira:issue_updated",
        "issue": {"id": issue_id, "key": "KAN-1", "fields": {"summary": "Fix login"}},
    })


def _signed(harness: Harness, cloud_id: str, delivery_id: str) -> dict[str, str]:
    now = int(time.time())
    token = jwt.encode(
        {"iss": cloud_id, "aud": harness.settings.client_id, "iat": now, "exp": now + 300},
        harness.settings.client_secret, algorithm="HS256",
    )
    return {"Authorization": f"Bearer {token}", "X-Atlassian-Webhook-Identifier": delivery_id,
            "Content-Type": "application/json"}


@pytest.fixture
async def cloud_id(harness: Harness) -> str:
    harness.give_role("space-w", "user-w", "admin")
    await harness.connect("space-w", "user-w", harness.admin_of(1))
    return harness.registry.require("space-w").cloud_id or ""


async def _webhooks(harness: Harness) -> list[str]:
    inbound = await read_topic(harness.bootstrap, harness.settings.topics.inbound)
    return [e.data["delivery_id"] for _, e in inbound if e.type == "jira.webhook.received"]


async def test_webhook_published_with_issue_key(harness: Harness, cloud_id: str) -> None:
    response = await harness.ingress.post("/webhooks/jira/space-w", content=_delivery(cloud_id),
                                          headers=_signed(harness, cloud_id, "d-1"))

    inbound = await read_topic(harness.bootstrap, harness.settings.topics.inbound)
    keys = [key for key, e in inbound if e.type == "jira.webhook.received"]
    assert response.status_code == 200
    assert keys == [f"{cloud_id}:10001"]


async def test_webhook_bad_signature_unauthorised(harness: Harness, cloud_id: str) -> None:
    headers = _signed(harness, cloud_id, "d-2")
    headers["Authorization"] = headers["Authorization"][:-4] + "AAAA"

    response = await harness.ingress.post("/webhooks/jira/space-w", content=_delivery(cloud_id),
                                          headers=headers)

    assert response.status_code == 401
    assert await _webhooks(harness) == []


async def test_webhook_rejection_logged_and_counted(
    harness: Harness, cloud_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    headers = _signed(harness, cloud_id, "d-rejected")
    headers["Authorization"] = headers["Authorization"][:-4] + "AAAA"
    counter = WEBHOOK_DELIVERIES.labels(outcome="rejected_401")
    before = counter._value.get()

    with caplog.at_level(logging.WARNING, logger="ingest.app"):
        await harness.ingress.post("/webhooks/jira/space-w", content=_delivery(cloud_id),
                                   headers=headers)

    lines = [r.getMessage() for r in caplog.records if r.name == "ingest.app"]
    rejected = [line for line in lines if "webhook rejected" in line]
    assert counter._value.get() == before + 1
    assert len(rejected) == 1
    assert "status=401" in rejected[0]
    assert "delivery_id=d-rejected" in rejected[0]
    assert not any(headers["Authorization"].split()[-1] in line for line in lines)


async def test_webhook_foreign_issuer_unauthorised(harness: Harness, cloud_id: str) -> None:
    response = await harness.ingress.post("/webhooks/jira/space-w", content=_delivery(cloud_id),
                                          headers=_signed(harness, "another-site", "d-3"))

    assert response.status_code == 401


async def test_webhook_duplicate_published_once(harness: Harness, cloud_id: str) -> None:
    headers = _signed(harness, cloud_id, "d-4")

    first = await harness.ingress.post("/webhooks/jira/space-w", content=_delivery(cloud_id),
                                       headers=headers)
    second = await harness.ingress.post("/webhooks/jira/space-w", content=_delivery(cloud_id),
                                        headers={**headers, "X-Atlassian-Webhook-Retry": "1"})

    assert first.status_code == 200
    assert second.status_code == 200
    assert second.json()["outcome"] == "duplicate"
    assert await _webhooks(harness) == ["d-4"]


async def test_webhook_concurrent_duplicates_once(harness: Harness, cloud_id: str) -> None:
    headers = _signed(harness, cloud_id, "d-5")

    responses = await asyncio.gather(*[
        harness.ingress.post("/webhooks/jira/space-w", content=_delivery(cloud_id),
                             headers=headers)
        for _ in range(5)
    ])

    assert {r.status_code for r in responses} == {200}
    assert await _webhooks(harness) == ["d-5"]


async def test_webhook_oversized_rejected(harness: Harness, cloud_id: str) -> None:
    body = b'{"webhookEvent": "jira:issue_updated", "pad": "' + b"x" * (1024 * 1024) + b'"}'

    response = await harness.ingress.post("/webhooks/jira/space-w", content=body,
                                          headers=_signed(harness, cloud_id, "d-6"))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_webhook_invalid_json_rejected(harness: Harness, cloud_id: str) -> None:
    response = await harness.ingress.post("/webhooks/jira/space-w", content=b"{not json",
                                          headers=_signed(harness, cloud_id, "d-7"))

    assert response.status_code == 400
    assert await _webhooks(harness) == []


async def test_webhook_unknown_event_rejected(harness: Harness, cloud_id: str) -> None:
    body = orjson.dumps({"webhookEvent": "jira:weather_changed"})

    response = await harness.ingress.post("/webhooks/jira/space-w", content=body,
                                          headers=_signed(harness, cloud_id, "d-8"))

    assert response.status_code == 400
    assert "jira:weather_changed" in response.json()["error"]["message"]


async def test_webhook_missing_issue_dead_lettered(harness: Harness, cloud_id: str) -> None:
    body = orjson.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "KAN-1"}})

    response = await harness.ingress.post("/webhooks/jira/space-w", content=body,
                                          headers=_signed(harness, cloud_id, "d-9"))

    dead = await read_topic(harness.bootstrap, harness.settings.topics.dead_letter)
    assert response.status_code == 202
    assert [e.data["raw"] for _, e in dead] == [body.decode()]
    assert await _webhooks(harness) == []


async def test_webhook_hub_signature_accepted(harness: Harness, cloud_id: str) -> None:
    body = _delivery(cloud_id, "10002")
    digest = hmac.new(ADMIN_SECRET.encode(), body, hashlib.sha256).hexdigest()

    response = await harness.ingress.post(
        "/webhooks/jira/space-w", content=body,
        headers={"X-Hub-Signature": f"sha256={digest}", "X-Atlassian-Webhook-Identifier": "d-10"},
    )

    assert response.status_code == 200
    assert await _webhooks(harness) == ["d-10"]


async def test_webhook_broker_failure_unavailable(harness: Harness, cloud_id: str) -> None:
    async def refuse(*args: object) -> None:
        raise ConnectionError("broker away")

    harness.producer.send = refuse  # type: ignore[method-assign]
    harness.producer.send_encoded = refuse  # type: ignore[method-assign]

    response = await harness.ingress.post("/webhooks/jira/space-w", content=_delivery(cloud_id),
                                          headers=_signed(harness, cloud_id, "d-11"))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "broker_unavailable"


async def test_readyz_follows_broker(harness: Harness, cloud_id: str) -> None:
    sent = harness.producer.send_encoded

    async def refuse(*args: object) -> None:
        raise ConnectionError("broker away")

    ready_before = await harness.ingress.get("/readyz")
    harness.producer.send_encoded = refuse  # type: ignore[method-assign]
    await harness.ingress.post("/webhooks/jira/space-w", content=_delivery(cloud_id),
                               headers=_signed(harness, cloud_id, "d-ready-1"))
    while_down = await harness.ingress.get("/readyz")
    alive_while_down = await harness.ingress.get("/healthz")
    harness.producer.send_encoded = sent  # type: ignore[method-assign]
    await harness.ingress.post("/webhooks/jira/space-w", content=_delivery(cloud_id),
                               headers=_signed(harness, cloud_id, "d-ready-2"))
    ready_after = await harness.ingress.get("/readyz")

    assert ready_before.status_code == 200
    assert while_down.status_code == 503
    assert while_down.json()["error"]["code"] == "broker_unavailable"
    assert alive_while_down.status_code == 200
    assert ready_after.status_code == 200
