"""The SQLite store. One connection, used from the event loop thread only; each public write commits."""
from __future__ import annotations

import enum
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.model import TERMINAL, Fill, Leg, Order, OrderStatus, OrderType, Position, Side, TimeInForce
from bot.store import schema

_ORDER_FIELDS = [f.name for f in fields(Order)]
_ENUMS = {"side": Side, "order_type": OrderType, "status": OrderStatus, "time_in_force": TimeInForce, "leg": Leg}
_DECIMALS = {"quantity", "price", "stop_price", "filled", "average_price", "stop_loss"}
_OPEN_STATUSES = tuple(s.value for s in OrderStatus if s not in TERMINAL)


def _text(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _equal(filters: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """``column = ?`` clauses for the filters that are given (None or empty means no filter)."""
    given = {column: value for column, value in filters.items() if value}
    return [f"{column} = ?" for column in given], list(given.values())


def _where(clauses: list[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def _order_row(order: Order) -> dict[str, Any]:
    return {name: _text(getattr(order, name)) for name in _ORDER_FIELDS}


def _order_from_row(row: sqlite3.Row) -> Order:
    values: dict[str, Any] = {}
    for name in _ORDER_FIELDS:
        raw = row[name]
        if raw is not None and name in _ENUMS:
            raw = _ENUMS[name](raw)
        elif raw is not None and name in _DECIMALS:
            raw = Decimal(raw)
        elif name == "reduce_only":
            raw = bool(raw)
        elif raw is None and name in ("filled",):
            raw = Decimal(0)
        elif raw is None and name in ("take_profit", "origin_source", "origin_ref", "origin_kind"):
            raw = ""
        values[name] = raw
    return Order(**values)


class Store:
    def __init__(self, path: str | Path, synchronous: str = "normal"):
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so a commit happens exactly where we say.
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        self.db = sqlite_utils.Database(conn)
        self.conn = conn
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (kill -9); FULL also survives power loss.
        conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        conn.execute("PRAGMA busy_timeout=5000")
        schema.create(self.db)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- signals ------------------------------------------------------------------------------------

    def record_signal(self, key: str, source: str, signal_id: str, payload: str,
                      status: str = "RECEIVED", code: str | None = None, detail: str | None = None) -> bool:
        """Persists a received signal; False when ``key`` was seen before (a duplicate)."""
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO signals (key, source, signal_id, received_at, payload, status, code, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (key, source, signal_id, time.time(), payload, status, code, detail))
        return cursor.rowcount == 1

    def decide_signal(self, key: str, status: str, code: str | None = None, detail: str | None = None,
                      policy_hash: str | None = None) -> None:
        self.conn.execute(
            "UPDATE signals SET status = ?, code = ?, detail = ?, policy_hash = ?, decided_at = ? WHERE key = ?",
            (status, code, detail, policy_hash, time.time(), key))

    def get_signal(self, key: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM signals WHERE key = ?", (key,)).fetchone()
        return dict(row) if row else None

    def undecided_signals(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM signals WHERE status = 'RECEIVED' ORDER BY received_at")
        return [dict(row) for row in rows]

    def list_signals(self, source: str | None = None, status: str | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
        clauses, args = _equal({"source": source, "status": status})
        rows = self.conn.execute(f"SELECT * FROM signals {_where(clauses)} ORDER BY received_at DESC LIMIT ?",
                                 (*args, limit))
        return [dict(row) for row in rows]

    # -- orders -------------------------------------------------------------------------------------

    def insert_order(self, order: Order, detail: dict[str, Any] | None = None) -> None:
        """Writes a new order and its first event in one committed transaction."""
        now = time.time()
        order.created_at = order.created_at or now
        order.updated_at = now
        row = _order_row(order)
        columns = ", ".join(row)
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO orders ({columns}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))
            self._event(conn, order.id, "created", None, order.status, detail)

    def save_order(self, order: Order, kind: str, previous: OrderStatus | None,
                   detail: dict[str, Any] | None = None) -> None:
        """Stores the order's new state and appends one event, atomically."""
        order.updated_at = time.time()
        row = _order_row(order)
        assignments = ", ".join(f"{name} = ?" for name in row if name != "id")
        values = [value for name, value in row.items() if name != "id"]
        with self.transaction() as conn:
            conn.execute(f"UPDATE orders SET {assignments} WHERE id = ?", (*values, order.id))
            self._event(conn, order.id, kind, previous, order.status, detail)

    def add_event(self, order_id: str, kind: str, detail: dict[str, Any] | None = None,
                  status: OrderStatus | None = None) -> None:
        with self.transaction() as conn:
            self._event(conn, order_id, kind, status, status, detail)

    @staticmethod
    def _event(conn: sqlite3.Connection, order_id: str, kind: str, previous: OrderStatus | None,
               new: OrderStatus | None, detail: dict[str, Any] | None) -> None:
        conn.execute(
            "INSERT INTO order_events (order_id, ts, kind, from_status, to_status, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (order_id, time.time(), kind, _text(previous), _text(new),
             json.dumps(detail, default=str) if detail else None))

    def get_order(self, order_id: str) -> Order | None:
        row = self.conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
        return _order_from_row(row) if row else None

    def get_order_by_client_id(self, client_id: str) -> Order | None:
        row = self.conn.execute("SELECT * FROM orders WHERE client_id = ?", (client_id,)).fetchone()
        return _order_from_row(row) if row else None

    def get_order_by_venue_id(self, account: str, venue_order_id: str) -> Order | None:
        row = self.conn.execute("SELECT * FROM orders WHERE account = ? AND venue_order_id = ?",
                                (account, venue_order_id)).fetchone()
        return _order_from_row(row) if row else None

    def open_orders(self, account: str | None = None) -> list[Order]:
        marks = ", ".join("?" * len(_OPEN_STATUSES))
        sql = f"SELECT * FROM orders WHERE status IN ({marks})"
        args: tuple[Any, ...] = _OPEN_STATUSES
        if account is not None:
            sql += " AND account = ?"
            args = (*args, account)
        return [_order_from_row(row) for row in self.conn.execute(sql + " ORDER BY created_at", args)]

    def children(self, parent_id: str) -> list[Order]:
        rows = self.conn.execute("SELECT * FROM orders WHERE parent_id = ? ORDER BY created_at", (parent_id,))
        return [_order_from_row(row) for row in rows]

    def orders_for_signal(self, signal_key: str) -> list[Order]:
        rows = self.conn.execute("SELECT * FROM orders WHERE signal_key = ? ORDER BY created_at", (signal_key,))
        return [_order_from_row(row) for row in rows]

    def list_orders(self, *, status: str | None = None, symbol: str | None = None, account: str | None = None,
                    after: str | None = None, limit: int = 100) -> list[Order]:
        """Newest first; ``after`` is a cursor (an order id from the previous page)."""
        clauses, args = _equal({"symbol": symbol, "account": account,
                                "status": status.upper() if status and status != "open" else None})
        if status == "open":
            clauses.append(f"status IN ({', '.join('?' * len(_OPEN_STATUSES))})")
            args.extend(_OPEN_STATUSES)
        if after:
            clauses.append("rowid < (SELECT rowid FROM orders WHERE id = ?)")
            args.append(after)
        rows = self.conn.execute(f"SELECT * FROM orders {_where(clauses)} ORDER BY rowid DESC LIMIT ?",
                                 (*args, limit))
        return [_order_from_row(row) for row in rows]

    def order_events(self, order_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT * FROM order_events WHERE order_id = ? ORDER BY seq", (order_id,))
        return [dict(row) for row in rows]

    def set_order_meta(self, order_id: str, **values: Any) -> None:
        """Columns outside the Order dataclass (request_hash, lost_checks)."""
        assignments = ", ".join(f"{name} = ?" for name in values)
        self.conn.execute(f"UPDATE orders SET {assignments} WHERE id = ?", (*values.values(), order_id))

    def order_meta(self, order_id: str, column: str) -> Any:
        row = self.conn.execute(f"SELECT {column} FROM orders WHERE id = ?", (order_id,)).fetchone()
        return row[0] if row else None

    # -- fills and positions ------------------------------------------------------------------------

    def insert_fill(self, fill: Fill) -> bool:
        """False when this trade id was already recorded for the account (fills arrive twice: ws and REST)."""
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO fills (account, trade_id, order_id, symbol, side, quantity, price, fee,"
            " fee_currency, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (fill.account, fill.trade_id, fill.order_id, fill.symbol, fill.side.value, str(fill.quantity),
             str(fill.price), str(fill.fee), fill.fee_currency, fill.ts))
        return cursor.rowcount == 1

    def fills_for(self, order_id: str) -> list[Fill]:
        rows = self.conn.execute("SELECT * FROM fills WHERE order_id = ? ORDER BY ts, trade_id", (order_id,))
        return [Fill(trade_id=r["trade_id"], order_id=r["order_id"], account=r["account"], symbol=r["symbol"],
                     side=Side(r["side"]), quantity=Decimal(r["quantity"]), price=Decimal(r["price"]),
                     fee=Decimal(r["fee"]), fee_currency=r["fee_currency"], ts=r["ts"]) for r in rows]

    def count_fills(self) -> int:
        return self.conn.execute("SELECT count(*) FROM fills").fetchone()[0]

    def save_position(self, position: Position) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO positions (account, symbol, quantity, average_entry, realized_pnl, fees,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (position.account, position.symbol, str(position.quantity), str(position.average_entry),
             str(position.realized_pnl), str(position.fees), time.time()))

    def load_positions(self) -> list[Position]:
        return [Position(account=r["account"], symbol=r["symbol"], quantity=Decimal(r["quantity"]),
                         average_entry=Decimal(r["average_entry"]), realized_pnl=Decimal(r["realized_pnl"]),
                         fees=Decimal(r["fees"]))
                for r in self.conn.execute("SELECT * FROM positions")]

    def prune_signals(self, before: float) -> int:
        """Drops rejected and invalid signals received before ``before``; accepted ones stay with their orders.
        A pruned signal id could be processed again, but by then the policy's max age rejects it."""
        cursor = self.conn.execute(
            "DELETE FROM signals WHERE received_at < ? AND status IN ('REJECTED', 'INVALID')", (before,))
        return cursor.rowcount

    # -- key/value ----------------------------------------------------------------------------------

    def put_json(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO kv (key, value, updated_at) VALUES (?, ?, ?)",
                          (key, json.dumps(value, default=str), time.time()))

    def get_json(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default
