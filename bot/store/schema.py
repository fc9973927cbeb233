"""Table definitions. Columns holding money are TEXT (decimal strings)."""
from __future__ import annotations

import sqlite_utils

SCHEMA_VERSION = 1


def create(db: sqlite_utils.Database) -> None:
    db["signals"].create({
        "key": str, "source": str, "signal_id": str, "received_at": float, "payload": str,
        "status": str, "code": str, "detail": str, "policy_hash": str, "decided_at": float,
    }, pk="key", if_not_exists=True)
    db["orders"].create({
        "id": str, "account": str, "symbol": str, "side": str, "order_type": str, "quantity": str,
        "client_id": str, "status": str, "price": str, "stop_price": str, "time_in_force": str,
        "venue_order_id": str, "filled": str, "average_price": str, "leg": str, "parent_id": str,
        "origin_kind": str, "origin_source": str, "origin_ref": str, "origin_ip": str,
        "correlation_id": str, "signal_key": str, "stop_loss": str, "take_profit": str,
        "reduce_only": int, "error": str, "created_at": float, "updated_at": float,
        "request_hash": str, "lost_checks": int,
    }, pk="id", if_not_exists=True)
    db["order_events"].create({
        "seq": int, "order_id": str, "ts": float, "kind": str, "from_status": str, "to_status": str,
        "detail": str,
    }, pk="seq", if_not_exists=True)
    db["fills"].create({
        "account": str, "trade_id": str, "order_id": str, "symbol": str, "side": str, "quantity": str,
        "price": str, "fee": str, "fee_currency": str, "ts": float,
    }, pk=("account", "trade_id"), if_not_exists=True)
    db["positions"].create({
        "account": str, "symbol": str, "quantity": str, "average_entry": str, "realized_pnl": str,
        "fees": str, "updated_at": float,
    }, pk=("account", "symbol"), if_not_exists=True)
    db["kv"].create({"key": str, "value": str, "updated_at": float}, pk="key", if_not_exists=True)
    db["orders"].create_index(["client_id"], if_not_exists=True, unique=True)
    db["orders"].create_index(["status"], if_not_exists=True)
    db["orders"].create_index(["parent_id"], if_not_exists=True)
    # Trades reported over REST carry only the venue's order id.
    db["orders"].create_index(["account", "venue_order_id"], if_not_exists=True)
    db["orders"].create_index(["signal_key"], if_not_exists=True)
    db["order_events"].create_index(["order_id"], if_not_exists=True)
    db["fills"].create_index(["order_id"], if_not_exists=True)
    db["signals"].create_index(["status"], if_not_exists=True)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
