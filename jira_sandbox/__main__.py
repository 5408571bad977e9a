"""Serve a generated sandbox: `python -m jira_sandbox --port 8765 --seed 7 --issues 2000`."""

from __future__ import annotations

import argparse
import logging
import os
import secrets

import uvicorn

from jira_sandbox.app import DEFAULT_CLIENT_ID, create_app
from jira_sandbox.generator import build_world


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m jira_sandbox", description="Serve a simulated Jira Cloud on 127.0.0.1."
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="TCP port on 127.0.0.1 (default 8765)"
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="generator seed; the same seed builds the same sites"
    )
    parser.add_argument("--sites", type=int, default=2, help="number of sites")
    parser.add_argument("--projects", type=int, default=3, help="projects per site")
    parser.add_argument("--issues", type=int, default=2000, help="issues per site")
    parser.add_argument("--users", type=int, default=12, help="users per site")
    parser.add_argument("--sprints", type=int, default=4, help="sprints per board")
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID, help="OAuth client id")
    parser.add_argument(
        "--client-secret", default=None,
        help="OAuth client secret; SANDBOX_CLIENT_SECRET sets it without showing it in the "
             "process list (random when neither is set)",
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=None,
        help="allowed OAuth redirect URI (repeatable)",
    )
    parser.add_argument(
        "--auto-consent", action="store_true", help="grant consent without showing the consent page"
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    world = build_world(
        args.seed,
        sites=args.sites,
        projects_per_site=args.projects,
        issues=args.issues,
        users=args.users,
        sprints_per_board=args.sprints,
    )
    given_secret = args.client_secret or os.environ.get("SANDBOX_CLIENT_SECRET") or None
    client_secret = given_secret or secrets.token_urlsafe(24)
    app = create_app(
        world,
        client_id=args.client_id,
        client_secret=client_secret,
        redirect_uris=args.redirect_uri or [f"http://127.0.0.1:{args.port}/callback"],
        auto_consent=args.auto_consent,
    )

    base_url = f"http://127.0.0.1:{args.port}"
    print(f"Jira sandbox at {base_url}")
    print(f"client_id={args.client_id}")
    # A generated secret is printed because no other process has it. A given one is not
    # repeated into logs.
    print(f"client_secret={client_secret}" if given_secret is None
          else "client_secret=(as given)")
    for site in world.sites.values():
        print(f"site {site.name} cloud_id={site.cloud_id} consenting account={site.app_account_id}")
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":
    main()
