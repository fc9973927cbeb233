"""Client commands that query or steer a running daemon through its HTTP API (SPEC §2, §7):
``status``, ``orders``, ``positions``, ``breakers``, ``halt [--flatten]`` and ``resume``.

Each finds the daemon from ``--url`` or, failing that, the ``api.listen`` of ``-c CONFIG`` (default
``config/tradewire.yaml``), and its API key from ``--key-file`` or ``$TRADEWIRE_API_KEY``. Output is a compact
table, or the API's JSON with ``--json``. Exit codes: 0 success; 2 usage or configuration error (no key, bad
config, bad URL); 1 runtime failure (daemon unreachable, HTTP error: the API's ``code: message`` is printed).

Plain ``urllib``: one short request at a time, no event loop, nothing to install.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

__all__ = ["ApiClient", "ClientError", "UsageError", "register"]

DEFAULT_CONFIG = "config/tradewire.yaml"
KEY_ENV = "TRADEWIRE_API_KEY"


class UsageError(Exception):
    """Usage or configuration problem (exit 2); the message says what to fix."""


class ClientError(Exception):
    """The daemon could not be reached or answered with an error (exit 1)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


# -- finding the daemon --------------------------------------------------------------------------------------


def _url_from_listen(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host in ("0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    if not port.isdigit():
        raise UsageError(f"api.listen {listen!r} is not HOST:PORT")
    return f"http://{host}:{port}"


def resolve_url(args: argparse.Namespace) -> str:
    if args.url:
        parsed = urllib.parse.urlsplit(args.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise UsageError(f"--url {args.url!r}: expected http://HOST:PORT")
        return args.url.rstrip("/")
    from bot.settings import ConfigError, load_settings

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        raise UsageError(f"configuration error (or give --url):\n{exc}") from None
    return _url_from_listen(settings.api.listen)


def resolve_key(args: argparse.Namespace) -> str:
    if args.key_file:
        try:
            key = Path(args.key_file).read_text().strip()
        except OSError as exc:
            raise UsageError(f"--key-file {args.key_file}: cannot read: {exc.strerror}") from None
        if not key:
            raise UsageError(f"--key-file {args.key_file} is empty")
        return key
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise UsageError(f"no API key: set ${KEY_ENV} or pass --key-file FILE "
                         "(create one with `tradewire keys create --name NAME --scopes read,admin`)")
    return key


# -- HTTP ----------------------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: Any
    text: str


class ApiClient:
    def __init__(self, url: str, key: str | None, timeout: float = 10.0):
        self.url = url
        self.key = key
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True,
                ok: tuple[int, ...] = ()) -> Response:
        """One request; raises ClientError on a connection problem or an error status not listed in `ok`."""
        headers = {"Accept": "application/json", "X-Correlation-ID": uuid.uuid4().hex[:16],
                   "User-Agent": "tradewire-cli"}
        if auth and self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return _response(resp.status, resp.read())
        except urllib.error.HTTPError as exc:
            response = _response(exc.code, exc.read())
            if exc.code in ok:
                return response
            raise _api_error(method, path, response, headers["X-Correlation-ID"]) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(f"cannot reach the daemon at {self.url}: {reason}") from None

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw).body

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, body if body is not None else {}, **kw).body


def _response(status: int, raw: bytes) -> Response:
    text = raw.decode("utf-8", "replace")
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError:
        body = None
    return Response(status, body if body is not None else text, text)


def _api_error(method: str, path: str, response: Response, correlation: str) -> ClientError:
    body = response.body
    if isinstance(body, dict) and ("code" in body or "message" in body):
        code = str(body.get("code") or response.status)
        message = str(body.get("message") or "")
        details = body.get("details")
        text = f"{code}: {message}" if message else code
        if details:
            text += f" ({json.dumps(details, default=str)})"
        corr = body.get("correlation_id") or correlation
        return ClientError(f"{method} {path} → HTTP {response.status} {text} [correlation id {corr}]",
                           response.status, code)
    snippet = " ".join(str(response.text).split())[:200]
    return ClientError(f"{method} {path} → HTTP {response.status}{': ' + snippet if snippet else ''}",
                       response.status)


# -- shaping the API's answers -------------------------------------------------------------------------------


def _rows(body: Any, *keys: str) -> list[dict[str, Any]]:
    """A list of row dicts from `{"key": [...]}`, a bare list, or a `{name: {...}}` mapping."""
    if isinstance(body, list):
        return [r if isinstance(r, dict) else {"value": r} for r in body]
    if not isinstance(body, dict):
        return []
    for key in keys:
        if key in body:
            return _rows(body[key])
    if body and all(isinstance(v, dict) for v in body.values()):
        return [{"name": k, **v} for k, v in body.items()]
    if body and all(isinstance(v, (str, int, float)) or v is None for v in body.values()):
        return [{"name": k, "state": v} for k, v in body.items()]
    return []


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value) if all(not isinstance(v, (dict, list)) for v in value) \
            else str(len(value))
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items() if not isinstance(v, (dict, list)))
    return str(value)


# (field, header) per table, in display order; columns that are empty in every row are left out.
ORDER_COLUMNS = [("id", "id"), ("account", "account"), ("symbol", "symbol"), ("side", "side"),
                 ("order_type", "type"), ("leg", "leg"), ("quantity", "qty"), ("limit_price", "price"),
                 ("stop_price", "stop"), ("status", "status"), ("filled_quantity", "filled"),
                 ("average_price", "avg price"), ("client_order_id", "client id"), ("created_at", "created")]
POSITION_COLUMNS = [("account", "account"), ("symbol", "symbol"), ("quantity", "qty"),
                    ("average_entry", "avg entry"), ("average_price", "avg price"), ("mark_price", "mark"),
                    ("realized_pnl", "realized"), ("unrealized_pnl", "unrealized"), ("notional", "notional"),
                    ("protected", "protected"), ("legs", "legs"), ("protection", "legs")]
BREAKER_COLUMNS = [("name", "name"), ("kind", "kind"), ("scope", "scope"), ("state", "state"),
                   ("reason", "reason"), ("failures", "failures"), ("consecutive_failures", "failures"),
                   ("consecutive_losses", "losses"), ("opened_at", "opened"), ("until", "until"),
                   ("cooldown_until", "until")]
NO_WRAP = {"id", "name", "symbol", "client_order_id", "created_at"}


def _short(field: str, value: Any) -> str:
    text = _cell(value)
    if field.endswith("_at") and len(text) >= 19 and text[10] == "T":   # ISO time: HH:MM:SS is enough here
        return text[11:19]
    if field in ("realized_pnl", "unrealized_pnl") and "." in text and len(text) > 14:
        return _round(text)
    return text


def _round(text: str) -> str:
    from decimal import Decimal, InvalidOperation
    try:
        return str(Decimal(text).quantize(Decimal("0.00000001")).normalize())
    except InvalidOperation:
        return text


def _table(title: str, rows: list[dict[str, Any]], preferred: list[tuple[str, str]], empty: str,
           limit: int | None = None) -> Any:
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if not rows:
        return Text(f"{title}: {empty}", style="dim")
    present = {k for r in rows for k, v in r.items() if v not in (None, "", [], {})}
    cols: list[tuple[str, str]] = []
    for field, header in preferred:
        if field in present and header not in [h for _, h in cols]:
            cols.append((field, header))
    if not cols:  # an answer whose shape we don't know: its scalar fields
        cols = [(k, k) for k in rows[0] if not isinstance(rows[0][k], (dict, list))][:10]
    shown = rows[:limit] if limit is not None else rows
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, expand=False)
    for field, header in cols:
        table.add_column(header, no_wrap=field in NO_WRAP, overflow="ellipsis" if field in NO_WRAP else "fold")
    for row in shown:
        table.add_row(*[_short(field, row.get(field)) for field, _ in cols])
    if len(shown) < len(rows):
        if not shown:
            return Text(f"{title}: {len(rows)} (use --json or `tradewire orders`)", style="dim")
        return Group(table, Text(f"… and {len(rows) - len(shown)} more (use --json or `tradewire orders`)",
                                 style="dim"))
    return table


def _kv(title: str, items: list[tuple[str, Any]]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in items:
        table.add_row(key, _cell(value))
    return table


def _console() -> Any:
    from rich.console import Console

    # Off a terminal rich assumes 80 columns; piped output (less, grep, logs) is better one row per line.
    return Console(width=None if sys.stdout.isatty() else 200, soft_wrap=False)


# -- metrics parsing (for `status`: sources and latency) -----------------------------------------------------


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text format → {sample name: [(labels, value), ...]} (enough for our own exposition)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            labels_text, _, value_text = rest.rpartition("}")
            labels = {}
            for part in _split_labels(labels_text):
                k, _, v = part.partition("=")
                labels[k.strip()] = v.strip().strip('"').replace('\\"', '"').replace("\\\\", "\\")
        else:
            name, _, value_text = line.partition(" ")
            labels = {}
        try:
            value = float(value_text.split()[0])
        except (ValueError, IndexError):
            continue
        out.setdefault(name.strip(), []).append((labels, value))
    return out


def _split_labels(text: str) -> list[str]:
    parts, current, quoted, escaped = [], "", False, False
    for ch in text:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch == '"':
            current += ch
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus-style quantile estimate from cumulative (le, count) buckets; None when empty."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


def _latency(samples: dict[str, list[tuple[dict[str, str], float]]], family: str,
             group: str) -> list[dict[str, Any]]:
    rows = []
    by_group: dict[str, list[tuple[float, float]]] = {}
    counts: dict[str, float] = {}
    for labels, value in samples.get(f"{family}_bucket", []):
        le = labels.get("le", "+Inf")
        by_group.setdefault(labels.get(group, ""), []).append(
            (float("inf") if le in ("+Inf", "Inf") else float(le), value))
    for labels, value in samples.get(f"{family}_count", []):
        counts[labels.get(group, "")] = value
    for name, buckets in sorted(by_group.items()):
        count = counts.get(name, 0)
        if not count:
            continue
        p50, p99 = histogram_quantile(0.5, buckets), histogram_quantile(0.99, buckets)
        rows.append({group: name, "count": int(count), "p50_ms": _ms(p50), "p99_ms": _ms(p99)})
    return rows


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.3f}"


# -- commands ------------------------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> ApiClient:
    url = resolve_url(args)
    key = resolve_key(args)
    return ApiClient(url, key, timeout=args.timeout)


def _emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def collect_status(client: ApiClient) -> dict[str, Any]:
    """GET /v1/status when the API offers it, else composed from readiness, positions, breakers, open orders
    and /metrics (sources, trading state, latency)."""
    response = client.request("GET", "/v1/status", ok=(404, 405))
    if response.status == 200 and isinstance(response.body, dict):
        return {"source": "/v1/status", **response.body}
    status: dict[str, Any] = {"url": client.url}
    ready = client.request("GET", "/readyz", auth=False, ok=(503,))
    status["ready"] = ready.status == 200
    status["readiness"] = ready.body
    status["positions"] = client.get("/v1/positions")
    status["breakers"] = client.get("/v1/breakers")
    if isinstance(status["breakers"], dict) and isinstance(status["breakers"].get("trading_states"), dict):
        status["trading"] = status["breakers"]["trading_states"]
    status["open_orders"] = client.get("/v1/orders?status=open")
    try:
        metrics_text = client.request("GET", "/metrics", auth=False).text
    except ClientError:
        metrics_text = ""
    samples = parse_metrics(metrics_text)
    names = {0: "ACTIVE", 1: "REDUCE_ONLY", 2: "HALTED"}
    if "trading" not in status:
        status["trading"] = {labels.get("account", ""): names.get(int(v), str(v))
                             for labels, v in samples.get("tradewire_trading_state", [])}
    sources: dict[str, dict[str, Any]] = {}
    for labels, value in samples.get("tradewire_signals_total", []):
        sources.setdefault(labels.get("source", ""), {})[labels.get("outcome", "")] = int(value)
    for labels, value in samples.get("tradewire_stream_reconnects_total", []):
        stream = labels.get("stream", "")
        if stream.startswith("source:"):
            sources.setdefault(stream[len("source:"):], {})["reconnects"] = int(value)
    status["sources"] = sources
    status["latency"] = {
        "signal_to_submit": _latency(samples, "tradewire_signal_to_submit_seconds", "source"),
        "venue_requests": _latency(samples, "tradewire_venue_request_duration_seconds", "method"),
    }
    lag = samples.get("tradewire_event_loop_lag_seconds")
    if lag:
        status["event_loop_lag_ms"] = _ms(lag[0][1])
    return status


def _trading_rows(status: dict[str, Any]) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = [("daemon", status.get("url", "")),
                                    ("ready", status.get("ready"))]
    trading = status.get("trading") or status.get("trading_state") or status.get("accounts")
    if isinstance(trading, dict):
        for account, state in trading.items():
            if isinstance(state, dict):
                state = state.get("trading_state") or state.get("state") or _cell(state)
            items.append((f"trading {account}", state))
    elif trading is not None:
        items.append(("trading", trading))
    if status.get("event_loop_lag_ms"):
        items.append(("event-loop lag ms", status["event_loop_lag_ms"]))
    return items


def cmd_status(args: argparse.Namespace) -> int:
    client = _client(args)
    status = collect_status(client)
    if args.json:
        _emit_json(status)
        return 0
    console = _console()
    console.print(_kv("Tradewire", _trading_rows(status)))
    sources = status.get("sources") or {}
    source_rows = [{"source": name, **counts} for name, counts in sources.items()] if isinstance(sources, dict) \
        else _rows(sources)
    console.print(_table("Sources (signals)", source_rows,
                         [(c, c) for c in ("source", "name", "accepted", "rejected", "invalid", "duplicate", "error",
                                           "reconnects", "connected", "state")], "none"))
    console.print(_table("Breakers", _rows(status.get("breakers"), "breakers"), BREAKER_COLUMNS, "none"))
    console.print(_table("Positions", _nonzero(_rows(status.get("positions"), "positions")), POSITION_COLUMNS,
                         "flat"))
    open_orders = status.get("open_orders")
    more = isinstance(open_orders, dict) and bool(open_orders.get("next"))
    console.print(_table("Open orders" + (" (first page)" if more else ""), _rows(open_orders, "orders"),
                         ORDER_COLUMNS, "none", limit=args.max_orders))
    latency = status.get("latency") or {}
    lat_rows = []
    if isinstance(latency, dict):
        for kind, rows in latency.items():
            for row in rows if isinstance(rows, list) else []:
                lat_rows.append({"what": f"{kind} {row.get('source') or row.get('method') or ''}".strip(), **row})
    console.print(_table("Latency", lat_rows, [("what", "what"), ("count", "count"), ("p50_ms", "p50 ms"),
                                               ("p99_ms", "p99 ms")], "no samples yet"))
    return 0


def _nonzero(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def flat(row: dict[str, Any]) -> bool:
        try:
            return float(str(row.get("quantity", "1"))) == 0.0
        except ValueError:
            return False
    return [r for r in rows if not flat(r)]


def cmd_orders(args: argparse.Namespace) -> int:
    client = _client(args)
    params = {k: v for k, v in (("status", args.status), ("symbol", args.symbol), ("account", args.account))
              if v}
    orders: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        body = client.get("/v1/orders" + (("?" + urllib.parse.urlencode(query)) if query else ""))
        orders.extend(_rows(body, "orders"))
        cursor = body.get("next") if isinstance(body, dict) else None
        pages += 1
        if not cursor or len(orders) >= args.limit or pages >= 100:
            break
    orders = orders[:args.limit]
    if args.json:
        _emit_json({"orders": orders, "next": cursor})
        return 0
    _console().print(_table("Orders" + (f" ({args.status})" if args.status else ""), orders, ORDER_COLUMNS, "none"))
    return 0


def cmd_positions(args: argparse.Namespace) -> int:
    client = _client(args)
    body = client.get("/v1/positions")
    if args.json:
        _emit_json(body)
        return 0
    rows = _rows(body, "positions")
    if not args.all:
        rows = _nonzero(rows)
    _console().print(_table("Positions", rows, POSITION_COLUMNS, "flat"))
    return 0


def cmd_breakers(args: argparse.Namespace) -> int:
    client = _client(args)
    body = client.get("/v1/breakers")
    if args.json:
        _emit_json(body)
        return 0
    console = _console()
    if isinstance(body, dict):
        extra = [(k, v) for k, v in body.items() if k != "breakers" and not isinstance(v, (list, dict))]
        states = body.get("trading_states") or body.get("trading")
        if isinstance(states, dict):
            extra += [(f"trading {account}", state) for account, state in states.items()]
        if extra:
            console.print(_kv("Trading", extra))
    console.print(_table("Breakers", _rows(body, "breakers"), BREAKER_COLUMNS, "none"))
    return 0


def _kill_switch(args: argparse.Namespace, path: str, body: dict[str, Any], done: str) -> int:
    client = _client(args)
    answer = client.post(path, body)
    if args.json:
        _emit_json(answer)
        return 0
    console = _console()
    console.print(done)
    if isinstance(answer, dict) and answer:
        console.print(_kv("", [(k, v) for k, v in answer.items() if v not in (None, "", [], {})]))
    return 0


def cmd_halt(args: argparse.Namespace) -> int:
    what = "trading halted" + (", flattening positions" if args.flatten else "")
    return _kill_switch(args, "/v1/halt", {"flatten": bool(args.flatten)}, what)


def cmd_resume(args: argparse.Namespace) -> int:
    return _kill_switch(args, "/v1/resume", {}, "trading resumed")


# -- registration --------------------------------------------------------------------------------------------


def _run(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except UsageError as exc:
            print(f"tradewire {args.command}: {exc}", file=sys.stderr)
            return 2
        except ClientError as exc:
            print(f"tradewire {args.command}: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 1
    return wrapped


def _common(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("daemon and credentials")
    where.add_argument("-c", "--config", default=DEFAULT_CONFIG,
                       help=f"daemon configuration whose api.listen to use (default {DEFAULT_CONFIG})")
    where.add_argument("--url", default=None, help="API base URL, e.g. http://127.0.0.1:8080 (overrides -c)")
    where.add_argument("--key-file", default=None,
                       help=f"file holding the API key (default: ${KEY_ENV})")
    where.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the daemon (default 10)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON instead of tables")


_EPILOG = (f"The API key comes from --key-file or ${KEY_ENV}. Exit codes: 0 success, 2 usage or configuration "
           "error, 1 daemon unreachable or API error.")


def register(subparsers: Any) -> None:
    """Adds the client commands to the ``tradewire`` parser (called by bot.cli)."""
    specs: list[tuple[str, str, Callable[[argparse.Namespace], int]]] = [
        ("status", "trading state, breakers, sources, positions, open orders and latency of a running daemon",
         cmd_status),
        ("orders", "list a running daemon's orders (GET /v1/orders)", cmd_orders),
        ("positions", "positions per account and symbol (GET /v1/positions)", cmd_positions),
        ("breakers", "circuit breaker states (GET /v1/breakers)", cmd_breakers),
        ("halt", "kill switch: stop trading (POST /v1/halt); --flatten also closes every position", cmd_halt),
        ("resume", "lift the kill switch (POST /v1/resume)", cmd_resume),
    ]
    for name, help_text, func in specs:
        parser = subparsers.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                                       epilog=_EPILOG)
        _common(parser)
        if name == "orders":
            parser.add_argument("--status", default=None, help="open | filled | canceled | ... (default: all)")
            parser.add_argument("--symbol", default=None, help="only this symbol, e.g. BTC/USDT")
            parser.add_argument("--account", default=None, help="only this account")
            parser.add_argument("--limit", type=int, default=50, help="at most this many orders (default 50)")
        elif name == "status":
            parser.add_argument("--max-orders", type=int, default=20,
                                help="show at most this many open orders (default 20)")
        elif name == "positions":
            parser.add_argument("--all", action="store_true", help="also show flat positions")
        elif name == "halt":
            parser.add_argument("--flatten", action="store_true",
                                help="also cancel resting orders and close every position with market orders")
        parser.set_defaults(func=_run(func))
