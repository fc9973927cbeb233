"""``tradewire keys create|list|revoke``: API keys in the daemon's database (``<state_dir>/tradewire.db``).

``keys create`` prints the key once, alone on stdout (messages go to stderr); only its hash is stored.
Exit codes: 0 success, 2 usage or configuration error, 1 runtime failure. The daemon may be running:
revocation takes effect on the next request.
"""
from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "config/tradewire.yaml"


def _err(message: str) -> None:
    print(f"tradewire keys: {message}", file=sys.stderr)


@contextmanager
def _keystore(args: argparse.Namespace) -> Iterator[Any]:
    """The daemon's key store; exits 2 on a bad configuration and 1 when the database cannot be opened."""
    from bot.api.keys import KeyStore
    from bot.settings import ConfigError, load_settings
    from bot.store import Store

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        _err(f"configuration error:\n{exc}")
        raise SystemExit(2) from None
    try:
        store = Store(Path(settings.state_dir) / "tradewire.db")
    except (OSError, sqlite3.Error) as exc:
        _err(f"cannot open the database: {exc}")
        raise SystemExit(1) from None
    try:
        yield KeyStore(store.conn)
    finally:
        store.close()


def cmd_create(args: argparse.Namespace) -> int:
    from bot.api.keys import KeyProblem, parse_scopes

    try:
        scopes = parse_scopes(args.scopes)
    except KeyProblem as exc:
        _err(str(exc))
        return 2
    if args.rate_limit is not None and args.rate_limit < 1:
        _err("--rate-limit must be at least 1")
        return 2
    if args.webhook_url and not args.webhook_url.startswith(("http://", "https://")):
        _err("--webhook-url must be an http:// or https:// URL")
        return 2
    with _keystore(args) as keys:
        extra = {}
        if args.rate_limit is not None:
            extra["rate_limit"] = args.rate_limit
        if args.rate_window is not None:
            extra["rate_window"] = args.rate_window
        try:
            key, secret = keys.create(args.name, scopes, webhook_url=args.webhook_url, **extra)
        except KeyProblem as exc:
            _err(str(exc))
            return 2
        except sqlite3.Error as exc:
            _err(f"database error: {exc}")
            return 1
    _err(f"created key {key.name!r} with scopes {','.join(sorted(key.scopes))} "
         f"(rate limit {key.rate_limit} per {key.rate_window:g} s). The key is shown once, below; store it now.")
    print(secret, flush=True)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    with _keystore(args) as keys:
        rows = keys.list()
    if not rows:
        _err("no API keys (create one with: tradewire keys create --name NAME --scopes read,trade)")
        return 0
    print(f"{'NAME':<24} {'SCOPES':<26} {'RATE':<12} {'CREATED (UTC)':<20} STATUS")
    for key in rows:
        created = datetime.fromtimestamp(key.created_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        status = "revoked" if key.revoked_at else "active"
        print(f"{key.name:<24} {','.join(sorted(key.scopes)):<26} {f'{key.rate_limit}/{key.rate_window:g}s':<12} "
              f"{created:<20} {status}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with _keystore(args) as keys:
        revoked = keys.revoke(args.name)
    if not revoked:
        _err(f"no active key named {args.name!r} (see: tradewire keys list)")
        return 2
    _err(f"revoked key {args.name!r}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    keys = subparsers.add_parser("keys", help="manage API keys (create, list, revoke)",
                                 description="API keys for the HTTP API. Keys are stored only as hashes.")
    sub = keys.add_subparsers(dest="keys_command", required=True)

    def config(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--config", default=DEFAULT_CONFIG,
                       help=f"configuration file; its state_dir holds the database (default {DEFAULT_CONFIG})")

    create = sub.add_parser("create", help="create a key and print it once on stdout")
    config(create)
    create.add_argument("--name", required=True, help="key name (letters, digits, _ . -), shown in the audit trail")
    create.add_argument("--scopes", required=True, help="comma-separated: read,trade,signal,admin")
    create.add_argument("--rate-limit", type=int, default=None, help="requests per window (default 3000)")
    create.add_argument("--rate-window", type=float, default=None, help="window in seconds (default 10)")
    create.add_argument("--webhook-url", default=None, help="receives signed webhooks for this key's orders")
    create.set_defaults(func=cmd_create)

    lister = sub.add_parser("list", help="list keys (never the secrets)")
    config(lister)
    lister.set_defaults(func=cmd_list)

    revoke = sub.add_parser("revoke", help="revoke a key")
    config(revoke)
    revoke.add_argument("name", help="key name")
    revoke.set_defaults(func=cmd_revoke)
