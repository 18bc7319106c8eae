"""rhone-admin: the operators' command line, over the HTTP admin API (/v1/admin).

    rhone-admin tenants create acme --name "Acme Corp"
    rhone-admin keys create --tenant acme --rpm 60 --models 'gpt-4*'
    rhone-admin keys revoke key_0123
    rhone-admin usage --tenant acme --by model

Where: --url or RHONE_URL (default http://127.0.0.1:8080). Who: --admin-key, RHONE_ADMIN_KEY, or
the key `make run` keeps in ./.rhone/admin_key. Answers print as JSON (a new key's secret is
shown once, there); usage prints as a table."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx


class CliError(Exception):
    """A failure to report in one line (the API's own message when it answered)."""


def _admin_key(explicit: str) -> str:
    if explicit:
        return explicit
    if key := os.environ.get("RHONE_ADMIN_KEY"):
        return key
    kept = Path(".rhone") / "admin_key"
    if kept.exists():
        return kept.read_text().strip()
    raise CliError("No admin key: pass --admin-key or set RHONE_ADMIN_KEY.")


def _limits(args: argparse.Namespace) -> dict[str, int]:
    limits = {
        "requests_per_minute": args.rpm,
        "tokens_per_minute": args.tpm,
        "concurrent_requests": args.concurrency,
    }
    return {name: value for name, value in limits.items() if value is not None}


def _common_fields(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if args.name:
        fields["name"] = args.name
    if limits := _limits(args):
        fields["limits"] = limits
    if args.models:
        fields["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.budget is not None:
        fields["monthly_budget_usd"] = args.budget
    return fields


def _add_limit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="")
    parser.add_argument("--rpm", type=int, help="requests per minute")
    parser.add_argument("--tpm", type=int, help="tokens per minute")
    parser.add_argument("--concurrency", type=int, help="concurrent requests")
    parser.add_argument("--models", default="", help="allowed models or globs, comma-separated")
    parser.add_argument("--budget", type=float, help="monthly budget in USD")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="rhone-admin", description=__doc__.split("\n")[0])
    root.add_argument("--url", default=os.environ.get("RHONE_URL", "http://127.0.0.1:8080"))
    root.add_argument("--admin-key", default="")
    nouns = root.add_subparsers(dest="noun", required=True)

    tenants = nouns.add_parser("tenants").add_subparsers(dest="verb", required=True)
    create = tenants.add_parser("create")
    create.add_argument("id")
    _add_limit_options(create)
    tenants.add_parser("list")
    tenants.add_parser("get").add_argument("id")
    delete = tenants.add_parser("delete")
    delete.add_argument("id")
    delete.add_argument("--delete-sessions", action="store_true")

    keys = nouns.add_parser("keys").add_subparsers(dest="verb", required=True)
    key_create = keys.add_parser("create")
    key_create.add_argument("--tenant", required=True)
    key_create.add_argument("--expires-at", type=float, help="Unix seconds")
    _add_limit_options(key_create)
    keys.add_parser("list").add_argument("--tenant", required=True)
    keys.add_parser("get").add_argument("key_id")
    keys.add_parser("revoke").add_argument("key_id")
    rotate = keys.add_parser("rotate")
    rotate.add_argument("key_id")
    rotate.add_argument("--grace", type=int, default=0, help="seconds the old secret still works")

    usage = nouns.add_parser("usage")
    usage.add_argument("--tenant", default="")
    usage.add_argument("--by", default="", choices=["", "model", "key", "day", "tenant", "surface"])
    usage.add_argument("--start", default="", help="Unix seconds or ISO 8601")
    usage.add_argument("--end", default="")

    audit = nouns.add_parser("audit")
    audit.add_argument("--tenant", default="")
    audit.add_argument("--limit", type=int, default=50)
    return root


def request_for(args: argparse.Namespace) -> tuple[str, str, dict[str, Any], Any]:
    """(method, path, query, body) of the admin API call a command line means (pure)."""
    noun, verb = args.noun, getattr(args, "verb", "")
    if noun == "tenants":
        if verb == "create":
            return "POST", "/tenants", {}, {"id": args.id, **_common_fields(args)}
        if verb == "list":
            return "GET", "/tenants", {}, None
        if verb == "get":
            return "GET", f"/tenants/{args.id}", {}, None
        query = {"delete_sessions": "true"} if args.delete_sessions else {}
        return "DELETE", f"/tenants/{args.id}", query, None
    if noun == "keys":
        if verb == "create":
            body = _common_fields(args)
            if args.expires_at is not None:
                body["expires_at"] = args.expires_at
            return "POST", f"/tenants/{args.tenant}/keys", {}, body
        if verb == "list":
            return "GET", f"/tenants/{args.tenant}/keys", {}, None
        if verb == "get":
            return "GET", f"/keys/{args.key_id}", {}, None
        if verb == "revoke":
            return "DELETE", f"/keys/{args.key_id}", {}, None
        return "POST", f"/keys/{args.key_id}:rotate", {}, {"grace_s": args.grace}
    if noun == "usage":
        query = {"tenant": args.tenant, "group_by": args.by, "start": args.start, "end": args.end}
        return "GET", "/usage", {k: v for k, v in query.items() if v}, None
    query = {"tenant": args.tenant, "limit": str(args.limit)}
    return "GET", "/audit", {k: v for k, v in query.items() if v}, None


def usage_table(answer: dict[str, Any]) -> str:
    columns = ("group", "calls", "failed_calls", "input_tokens", "output_tokens", "cost_usd")
    rows = [[str(row.get(c, "")) or "(all)" for c in columns] for row in answer["data"]]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def run(argv: Sequence[str] | None = None) -> str:
    args = parser().parse_args(argv)
    method, path, query, body = request_for(args)
    headers = {
        "authorization": f"Bearer {_admin_key(args.admin_key)}",
        "x-rhone-actor": f"rhone-admin:{getpass.getuser()}",
    }
    try:
        reply = httpx.request(
            method,
            args.url.rstrip("/") + "/v1/admin" + path,
            params=query,
            json=body,
            headers=headers,
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise CliError(f"Cannot reach Rhone at {args.url}: {exc}") from None
    answer = reply.json() if reply.content else {}
    if reply.status_code >= 400:
        message = answer.get("error", {}).get("message") if isinstance(answer, dict) else None
        raise CliError(f"HTTP {reply.status_code}: {message or reply.text}")
    if args.noun == "usage":
        return usage_table(answer)
    return json.dumps(answer, indent=2)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        print(run(argv))
    except CliError as exc:
        print(f"rhone-admin: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
