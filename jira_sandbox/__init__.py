"""An in-memory simulator of the Jira Cloud APIs the sync service calls.

`generator.build_world` builds sites from a seed, `app.create_app` serves them
with Jira's path layout on one base URL, and `python -m jira_sandbox` runs it
on 127.0.0.1. The package imports nothing from the service packages.
"""
