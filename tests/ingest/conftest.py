"""Expose the ingress tests' fixtures; the helpers live in ``ingest_support``.

Test modules import helpers from ``ingest_support``, not from ``conftest``: other test
folders have a ``conftest`` module too, and a run that loads several of them at start
would give ``from conftest import`` the wrong one.
"""

from ingest_support import harness, topic_names, world

__all__ = ["harness", "topic_names", "world"]
