"""The benchmark harness: every goal measured against its baselines in one run.

``python -m bench`` (or :func:`main`) prints one table; see docs/benchmarks.md.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark with command-line ``argv``; return the exit code."""
    # Imported on call so that importing the package stays cheap for the CLI.
    from bench.cli import main as run

    return run(argv)
