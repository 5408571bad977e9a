"""Command line: ``python -m streams.asyncapi --out docs/``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from streams.asyncapi import write
from streams.errors import SyncError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m streams.asyncapi",
        description="Write the AsyncAPI document, the JSON Schemas and the topic guide.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("docs"),
        help="folder to write asyncapi.yaml, topics.md and schemas/ into (default: docs)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    try:
        written = write(args.out)
    except SyncError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
