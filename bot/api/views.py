"""How orders, positions and signals look on the wire: decimal strings, enum values, RFC 3339 timestamps."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from bot.model import Fill, Order


def iso(ts: float | None) -> str | None:
    if not ts:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def order_summary(order: Order, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = meta or {}
    api = order.origin_kind == "api"
    return {
        "id": order.id,
        "client_order_id": meta.get("client_order_id"),
        "venue_client_id": order.client_id,
        "venue_order_id": order.venue_order_id,
        "account": order.account,
        "symbol": order.symbol,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "quantity": str(order.quantity),
        "limit_price": dec(order.price),
        "stop_price": dec(order.stop_price),
        "time_in_force": order.time_in_force.value,
        "status": order.status.value,
        "filled_quantity": str(order.filled),
        "average_price": dec(order.average_price),
        "leg": order.leg.value,
        "parent_id": order.parent_id,
        "error": order.error,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.updated_at),
        "origin": {
            "kind": order.origin_kind,
            "source": order.origin_source or None,
            "ref": order.origin_ref or None,
            "key_name": (meta.get("key_name") or order.origin_source or None) if api else None,
            "ip": order.origin_ip,
            "correlation_id": order.correlation_id,
            "signal_key": order.signal_key,
        },
    }


def fill_view(fill: Fill) -> dict[str, Any]:
    return {"trade_id": fill.trade_id, "quantity": str(fill.quantity), "price": str(fill.price),
            "fee": str(fill.fee), "fee_currency": fill.fee_currency, "ts": fill.ts}


def event_view(row: dict[str, Any]) -> dict[str, Any]:
    detail = row.get("detail")
    if detail:
        try:
            detail = json.loads(detail)
        except ValueError:
            pass
    return {"seq": row["seq"], "ts": row["ts"], "at": iso(row["ts"]), "kind": row["kind"],
            "from_status": row.get("from_status"), "to_status": row.get("to_status"), "detail": detail}


def take_profit_levels(order: Order) -> list[list[str]]:
    if not order.take_profit:
        return []
    try:
        return [[str(p), str(f)] for p, f in json.loads(order.take_profit)]
    except (ValueError, TypeError):
        return []
