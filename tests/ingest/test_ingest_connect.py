from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ingest_support import Harness, read_topic

from ingest.connection import ConnectionStatus
from ingest.webhook_registration import webhook_url
from streams.ids import node_id


async def test_connect_member_forbidden(harness: Harness) -> None:
    harness.give_role("space-a", "user-m", "member")

    response = await harness.ingress.post(
        "/spaces/space-a/jira/connect", headers=harness.bearer("user-m")
    )

    assert response.status_code == 403
    assert "location" not in response.headers
    assert response.json()["error"]["code"] == "forbidden"


async def test_connect_without_token_unauthenticated(harness: Harness) -> None:
    response = await harness.ingress.post("/spaces/space-a/jira/connect")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


async def test_connect_redirect_parameters(harness: Harness) -> None:
    harness.give_role("space-a", "user-a", "admin")

    response = await harness.ingress.post(
        "/spaces/space-a/jira/connect", headers=harness.bearer("user-a")
    )

    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert response.status_code == 303
    assert query["audience"] == ["api.atlassian.com"]
    assert query["redirect_uri"] == [harness.settings.redirect_url]
    assert query["prompt"] == ["consent"]
    assert query["code_challenge_method"] == ["S256"]
    assert "offline_access" in query["scope"][0].split()
    assert "read:sprint:jira-software" in query["scope"][0].split()


async def test_callback_state_single_use(harness: Harness) -> None:
    harness.give_role("space-b", "user-b", "owner")
    account = harness.admin_of(1)
    begin = await harness.ingress.post("/spaces/space-b/jira/connect",
                                       headers=harness.bearer("user-b"))
    consent = await harness.sandbox.get(begin.headers["location"] + f"&login_hint={account}")
    query = parse_qs(urlsplit(consent.headers["location"]).query)
    params = {"code": query["code"][0], "state": query["state"][0]}

    first = await harness.ingress.get("/oauth/callback", params=params)
    second = await harness.ingress.get("/oauth/callback", params=params)

    assert first.status_code == 200, first.text
    assert first.json()["status"] == "active"
    assert "tokens" not in first.json()
    assert second.status_code == 400
    assert "already used" in second.json()["error"]["message"]


async def test_callback_unknown_state(harness: Harness) -> None:
    response = await harness.ingress.get("/oauth/callback", params={"code": "x", "state": "nope"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_state"


async def test_two_sites_wait_for_choice(harness: Harness) -> None:
    harness.give_role("space-c", "user-c", "admin")
    account = harness.admin_of(0)

    callback = await harness.connect("space-c", "user-c", account)
    sites = await harness.ingress.get("/spaces/space-c/jira/sites",
                                      headers=harness.bearer("user-c"))
    chosen_id = sites.json()["sites"][1]["cloud_id"]
    chosen = await harness.ingress.post("/spaces/space-c/jira/site", json={"cloud_id": chosen_id},
                                        headers=harness.bearer("user-c"))

    assert callback.json()["status"] == "pending_site"
    assert len(sites.json()["sites"]) == 2
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["status"] == "active"
    assert chosen.json()["cloud_id"] == chosen_id


async def test_choose_unknown_site_rejected(harness: Harness) -> None:
    harness.give_role("space-c", "user-c", "admin")
    await harness.connect("space-c", "user-c", harness.admin_of(0))

    response = await harness.ingress.post("/spaces/space-c/jira/site", json={"cloud_id": "other"},
                                          headers=harness.bearer("user-c"))

    assert response.status_code == 400
    assert "'other'" in response.json()["error"]["message"]


async def test_same_account_second_space_conflict(harness: Harness) -> None:
    account = harness.admin_of(1)
    harness.give_role("space-d", "user-d", "admin")
    harness.give_role("space-e", "user-e", "admin")
    await harness.connect("space-d", "user-d", account)

    second = await harness.connect("space-e", "user-e", account)

    assert second.status_code == 409
    assert second.json()["error"]["message"] == (
        f"Atlassian account {account} is already connected to space space-d; "
        "disconnect it there first"
    )
    assert harness.registry.get("space-e") is None
    assert harness.registry.require("space-d").status is ConnectionStatus.ACTIVE


async def test_connect_announces_and_registers(harness: Harness) -> None:
    harness.give_role("space-f", "user-f", "admin")

    await harness.connect("space-f", "user-f", harness.admin_of(1))

    inbound = await read_topic(harness.bootstrap, harness.settings.topics.inbound)
    connection = harness.registry.require("space-f")
    assert [e.data["state"] for _, e in inbound] == ["connected"]
    assert len(connection.webhook_ids) == 2
    assert connection.webhook_expires_at_ms is not None


async def test_disconnect_then_reconnect_same_nodes(harness: Harness) -> None:
    harness.give_role("space-g", "user-g", "admin")
    account = harness.admin_of(1)
    await harness.connect("space-g", "user-g", account)
    before = harness.registry.require("space-g")
    ids_before = {node_id("space-g", before.cloud_id or "", "issue", str(i)) for i in (1, 2)}

    disconnected = await harness.ingress.post("/spaces/space-g/jira/disconnect",
                                              headers=harness.bearer("user-g"))
    reconnected = await harness.connect("space-g", "user-g", account)
    after = harness.registry.require("space-g")
    ids_after = {node_id("space-g", after.cloud_id or "", "issue", str(i)) for i in (1, 2)}

    assert disconnected.json()["status"] == "disconnected"
    assert reconnected.json()["status"] == "active"
    assert after.connection_id == before.connection_id
    assert ids_after == ids_before


async def test_disconnect_deletes_tokens(harness: Harness) -> None:
    harness.give_role("space-h", "user-h", "admin")
    await harness.connect("space-h", "user-h", harness.admin_of(1))

    await harness.ingress.post("/spaces/space-h/jira/disconnect", headers=harness.bearer("user-h"))

    connection = harness.registry.require("space-h")
    assert connection.tokens is None
    assert connection.webhook_ids == ()


async def test_disconnect_deletes_reregistered_webhooks(harness: Harness) -> None:
    harness.give_role("space-r", "user-r", "admin")
    account = harness.admin_of(1)
    await harness.connect("space-r", "user-r", account)
    connection = harness.registry.require("space-r")
    cloud_id = connection.cloud_id or ""
    webhooks = harness.world.webhooks
    assert webhooks is not None
    # What the daily reconciliation does when Jira lost a registration: a new id the
    # stored connection does not know.
    url = webhook_url(harness.settings.webhook_public_url, "space-r")
    webhooks.register(cloud_id, account, url,
                      [{"events": ["jira:issue_deleted"], "jqlFilter": "project != NONE"}])

    await harness.ingress.post("/spaces/space-r/jira/disconnect", headers=harness.bearer("user-r"))

    assert len(connection.webhook_ids) == 2
    assert webhooks.registrations(cloud_id) == []


async def test_status_hides_tokens(harness: Harness) -> None:
    harness.give_role("space-i", "user-i", "admin")
    await harness.connect("space-i", "user-i", harness.admin_of(1))

    response = await harness.ingress.get("/spaces/space-i/jira", headers=harness.bearer("user-i"))

    assert response.status_code == 200
    assert "tokens" not in response.json()
    assert response.json()["status"] == "active"
