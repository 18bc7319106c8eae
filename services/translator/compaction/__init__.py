"""Compaction: a conversation's older turns replaced by a summary that a model writes once.

- ``summary``: pure. The request that asks a model for the summary, the user messages a
  compaction keeps, and the message a summary becomes when a later call sends it back.
- ``sealing``: the opaque `encrypted_content` of a compaction item, sealed with the
  deployment's secret and bound to its tenant, so nobody can read it or hand it to another
  tenant.
- ``compactor``: the I/O. Asks the providers service for the summary (on any provider, with a
  configurable model) and opens the compaction parts of incoming requests.

OpenAI Responses' `POST /v1/responses/compact` (responses_compact.py) is one user; compacting a
session by id is meant to be another."""
