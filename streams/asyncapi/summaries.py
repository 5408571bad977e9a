"""One-sentence meaning of each event type, for the published documents."""

from __future__ import annotations

SUMMARIES: dict[str, str] = {
    "jira.webhook.received": (
        "A Jira webhook delivery that passed authentication, body untouched (REST v2 shapes)."
    ),
    "jira.issue.observed": (
        "One issue as REST v3 returned it, with its ADF description, from import, poll, "
        "reconciliation or refetch."
    ),
    "jira.issue.gone": (
        "Jira answered 404 for an issue the graph holds, which confirms its deletion."
    ),
    "jira.project.observed": "One project as the REST API returned it.",
    "jira.project.access_lost": (
        "A project is no longer visible to the connected account; its nodes are kept."
    ),
    "jira.sprint.observed": "One sprint as the Agile REST API returned it.",
    "jira.user.observed": "One Jira user as the REST API returned it.",
    "jira.changelog.observed": (
        "An issue's full change history, paged past the limit embedded in the issue."
    ),
    "jira.comments.observed": "An issue's comments, paged past the limit embedded in the issue.",
    "jira.connection.changed": "A connection was made, changed state, or was disconnected.",
    "jira.connection.snapshot": (
        "The whole state of one space's connection; tokens only as Fernet ciphertext."
    ),
    "jira.import.cursor": "Where a space's import stands, committed with the page it follows.",
    "jira.write.pending": (
        "The write-back is about to change an issue; webhooks that match the change are its "
        "echo."
    ),
    "jira.issue.changed": (
        "An issue's canonical snapshot after a change, with Jira's version and the fields "
        "that changed."
    ),
    "jira.issue.key_changed": "An issue moved and got a new key; its id and node stay the same.",
    "jira.issue.deleted": "An issue was deleted in Jira.",
    "jira.issue.access_lost": (
        "An issue is no longer visible because its project is out of the account's view."
    ),
    "jira.project.changed": "A project's latest snapshot.",
    "jira.sprint.changed": "A sprint's latest snapshot, or its deletion.",
    "jira.member.changed": "A Jira user's latest snapshot.",
    "jira.observation.rejected": (
        "An authentic observation the fold could not handle, with the reason and its source "
        "offset."
    ),
    "jira.issue.refetch_requested": (
        "The fold needs an issue's REST v3 form, for example because its description may have"
        " changed."
    ),
    "naumu.schema.values_seen": (
        "Node types and select values the projection met, for the schema agent to add once."
    ),
    "naumu.node.upserted": (
        "A node was created or changed; the record carries the node's whole current state."
    ),
    "naumu.node.deleted": "A node was deleted because its Jira entity was deleted.",
    "naumu.edge.upserted": "An edge between two nodes was created.",
    "naumu.edge.deleted": "An edge between two nodes was removed.",
    "naumu.schema.type_added": (
        "A node type was added to the space's schema, or an existing type of the same name is"
        " reused."
    ),
    "naumu.schema.option_added": (
        "A value was added to a select or multi-select attribute of a node type."
    ),
    "naumu.edit.requested": "A Naumu user changed one field of an imported node.",
    "jira.writeback.result": (
        "The outcome of one attempt to apply an edit to Jira: applied, conflict, rejected or "
        "retrying."
    ),
    "naumu.thread.message_posted": "One message of a space's import thread.",
    "naumu.space.updated": (
        "The members of a space and their roles; the latest record per space wins."
    ),
    "naumu.schema.updated": (
        "The node types a space already has; the latest record per space wins."
    ),
}
