"""What the tenancy store raises for a caller's mistake (the servicers map them to gRPC codes)."""

from __future__ import annotations


class TenantNotFound(Exception):
    """No such tenant (or it was deleted)."""


class TenantExists(Exception):
    """A tenant with that id exists already (deleted ones keep their id for the audit log)."""


class KeyNotFound(Exception):
    """No such key."""
