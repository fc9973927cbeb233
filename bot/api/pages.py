"""Two HTML pages: ``/docs`` (the API reference, rendered from the OpenAPI document) and ``/`` (a status
page: trading state, breakers, positions, recent signals and orders, kept live from ``/v1/stream``).

The status page needs a key with scope ``read``: ``/?key=...`` (then kept in the browser's localStorage and
removed from the address bar) — without one it shows a form."""
from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.api.core import Ctx
from bot.api.views import iso, order_summary

if TYPE_CHECKING:
    from bot.api.server import Api

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
header{background:#1d2433;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:baseline}
header h1{font-size:18px;margin:0} header a{color:#9cc3ff}
main{padding:12px 20px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:12px 0;padding:10px 14px}
h2{font-size:15px;margin:4px 0 8px} table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 8px;border-bottom:1px solid #eef0f3;font-variant-numeric:tabular-nums}
th{font-weight:600;color:#556} code,pre{font:12px/1.4 ui-monospace,monospace;background:#f1f3f6;border-radius:3px}
pre{padding:8px;overflow:auto;max-height:320px} .pill{padding:1px 7px;border-radius:9px;font-size:12px}
.ok{background:#d9f5e1;color:#11632e}.warn{background:#fff0c7;color:#7a5a00}.bad{background:#fcdede;color:#8b1a1a}
.muted{color:#778} .op{margin:14px 0;border-top:1px solid #eef0f3;padding-top:8px}
.method{font-weight:700;display:inline-block;min-width:58px}
"""


def _pill(state: str) -> str:
    s = (state or "").upper()
    cls = "ok" if s in ("ACTIVE", "CLOSED", "FILLED", "OPEN", "ACCEPTED") else (
        "bad" if s in ("HALTED", "OPEN_BREAKER", "REJECTED", "INVALID") else "warn")
    return f'<span class="pill {cls}">{escape(state or "")}</span>'


def _page(title: str, body: str, script: str = "") -> web.Response:
    html = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{STYLE}</style></head>"
            f"<body>{body}{script}</body></html>")
    return web.Response(text=html, content_type="text/html",
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                 "X-Content-Type-Options": "nosniff"})


# -- /docs -------------------------------------------------------------------------------------------------

async def docs_page(api: "Api", ctx: Ctx) -> web.Response:
    from bot.api.openapi import document
    doc = document(api.specs)
    parts = ["<header><h1>Tradewire API</h1><a href='/openapi.json'>openapi.json</a><a href='/'>status</a>"
             "</header><main>",
             "<section><h2>Conventions</h2><p>Auth: <code>Authorization: Bearer &lt;key&gt;</code> or "
             "<code>X-API-Key: &lt;key&gt;</code>; scopes <code>read</code>, <code>trade</code>, <code>signal</code>, "
             "<code>admin</code> (create keys with <code>tradewire keys create --name NAME --scopes ...</code>). "
             "Money and quantities are decimal strings. Every response carries <code>X-Correlation-ID</code>. "
             "Errors are <code>{\"code\", \"message\", \"details\", \"correlation_id\"}</code>: 400 INVALID_REQUEST, "
             "401 UNAUTHENTICATED, 403 FORBIDDEN, 404 NOT_FOUND, 409 IDEMPOTENCY_CONFLICT, 422 (POLICY_REJECTED, "
             "INSUFFICIENT_BALANCE, INVALID_QUANTITY, ...), 429 RATE_LIMITED, 503 VENUE_UNAVAILABLE. Rate limits are "
             "reported in <code>RateLimit-Policy</code>/<code>RateLimit</code> and <code>X-RateLimit-*</code>.</p>"
             "</section>"]
    schemas = doc["components"]["schemas"]
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            parts.append(f"<section class=op id='{escape(op['operationId'])}'><h2><span class=method>"
                         f"{method.upper()}</span> <code>{escape(path)}</code> — {escape(op['summary'])}</h2>")
            if op.get("description"):
                parts.append(f"<p>{escape(op['description'])}</p>")
            if op.get("parameters"):
                rows = "".join(f"<tr><td><code>{escape(p['name'])}</code></td><td>{p['in']}</td>"
                               f"<td>{'required' if p.get('required') else ''}</td>"
                               f"<td>{escape(p.get('description', '') or json.dumps(p['schema']))}</td></tr>"
                               for p in op["parameters"])
                parts.append(f"<table><tr><th>parameter</th><th>in</th><th></th><th></th></tr>{rows}</table>")
            body = op.get("requestBody")
            if body:
                for media, content in body["content"].items():
                    parts.append(f"<p class=muted>request body ({escape(media)})</p>"
                                 f"<pre>{escape(json.dumps(_resolve(content['schema'], schemas), indent=1))}</pre>")
            rows = "".join(f"<tr><td>{escape(code)}</td><td>{escape(r.get('description', ''))}</td></tr>"
                           for code, r in op["responses"].items())
            parts.append(f"<table><tr><th>status</th><th>meaning</th></tr>{rows}</table></section>")
    parts.append("</main>")
    return _page("Tradewire API", "".join(parts))


def _resolve(schema: Any, schemas: dict[str, Any], depth: int = 0) -> Any:
    if depth > 4:
        return schema
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            return _resolve(schemas.get(name, {}), schemas, depth + 1)
        return {k: _resolve(v, schemas, depth + 1) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_resolve(v, schemas, depth + 1) for v in schema]
    return schema


# -- / (status page) ---------------------------------------------------------------------------------------

STATUS_SCRIPT = """
<script>
(function(){
  const params = new URLSearchParams(location.search);
  let key = params.get('key');
  if (key) { localStorage.setItem('tradewire.key', key); history.replaceState(null, '', location.pathname); }
  else if (localStorage.getItem('tradewire.key') && !document.getElementById('live')) {
    location.replace('/?key=' + encodeURIComponent(localStorage.getItem('tradewire.key'))); return; }
  key = key || localStorage.getItem('tradewire.key');
  const form = document.getElementById('keyform');
  if (form) form.onsubmit = (e) => { e.preventDefault();
    location.replace('/?key=' + encodeURIComponent(document.getElementById('k').value)); };
  if (!key || !document.getElementById('live')) return;
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
  const upsert = (tbody, id, cells) => {
    let row = document.getElementById(id);
    if (!row) { row = document.createElement('tr'); row.id = id; tbody.prepend(row); }
    row.innerHTML = cells.map(c => '<td>' + esc(c) + '</td>').join('');
    while (tbody.rows.length > 50) tbody.deleteRow(-1);
  };
  const log = document.getElementById('events');
  function connect(delay) {
    const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host +
                             '/v1/stream?key=' + encodeURIComponent(key));
    ws.onopen = () => { document.getElementById('live').textContent = 'live'; delay = 1000; };
    ws.onclose = () => { document.getElementById('live').textContent = 'reconnecting';
                         setTimeout(() => connect(Math.min(delay * 2, 30000)), delay); };
    ws.onmessage = (m) => {
      const e = JSON.parse(m.data);
      if (e.type === 'order.updated') { const o = e.order;
        upsert(document.getElementById('orders'), 'o-' + o.id, [o.id, o.symbol, o.side, o.order_type, o.quantity,
               o.status, o.filled_quantity, o.average_price || '']); }
      else if (e.type === 'position.updated') {
        upsert(document.getElementById('positions'), 'p-' + e.account + '-' + e.symbol, [e.account, e.symbol,
               e.quantity, e.average_entry, e.realized_pnl, e.unrealized_pnl ?? '', '']); }
      else if (e.type === 'signal.decided') {
        upsert(document.getElementById('signals'), 's-' + e.key, [e.key, e.status, e.code || '', (e.orders || []).join(' ')]); }
      else if (e.type === 'breaker.changed') {
        upsert(document.getElementById('breakers'), 'b-' + e.name, [e.name, e.kind, e.state, e.reason || '']); }
      else if (e.type === 'trading_state.changed') {
        const cell = document.getElementById('ts-' + e.account); if (cell) cell.textContent = e.state; }
      if (e.type !== 'hello') { const li = document.createElement('li');
        li.textContent = new Date((e.ts || Date.now() / 1000) * 1000).toLocaleTimeString() + ' ' + e.type + ' ' +
          (e.order ? e.order.id + ' ' + e.order.status : (e.key || e.code || e.symbol || e.name || ''));
        log.prepend(li); while (log.children.length > 30) log.removeChild(log.lastChild); }
    };
  }
  connect(1000);
})();
</script>
"""


def _table(tbody_id: str, headers: list[str], rows: list[tuple[str, list[str]]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f"<tr id='{escape(rid)}'>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
                   for rid, cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody id='{tbody_id}'>{body}</tbody></table>"


async def status_page(api: "Api", ctx: Ctx) -> web.Response:
    from bot.api.state import positions_payload, signals_payload, trading_states

    key = api.keys.authenticate(ctx.query.key if ctx.query is not None else None)
    header = "<header><h1>Tradewire</h1><a href='/docs'>API</a><a href='/metrics'>metrics</a>"
    if key is None or not key.allows("read"):
        note = "<p class=bad>That key is not valid.</p>" if ctx.query is not None and ctx.query.key else ""
        body = (f"{header}</header><main><section><h2>API key</h2>{note}<p>The status page reads the daemon "
                "through the API: give a key with scope <code>read</code> (it stays in this browser's storage)."
                "</p><form id=keyform><input id=k type=password size=60 autocomplete=off> "
                "<button>Open</button></form></section></main>")
        return _page("Tradewire", body, STATUS_SCRIPT)
    daemon = api.daemon
    e = escape
    states = trading_states(api)
    ready = "ready" if daemon.ready else "starting"
    parts = [f"{header}<span class=muted>{e(ready)} · policy {e(daemon.gate.loaded.hash[:12])} · "
             f"<span id=live>connecting</span></span></header><main>"]
    rows = "".join(f"<tr><td>{e(a)}</td><td id='ts-{e(a)}'>{_pill(s)}</td></tr>" for a, s in states.items())
    parts.append(f"<section><h2>Trading state</h2><table><thead><tr><th>account</th><th>state</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table></section>")
    parts.append("<section><h2>Breakers</h2>" + _table("breakers", ["name", "kind", "state", "reason"], [
        (f"b-{b['name']}", [e(b["name"]), e(b.get("kind", "")), _pill(b.get("state", "")), e(b.get("reason") or "")])
        for b in daemon.gate.breakers()]) + "</section>")
    parts.append("<section><h2>Positions</h2>" + _table(
        "positions", ["account", "symbol", "quantity", "avg entry", "realized", "unrealized", "protection"], [
            (f"p-{p['account']}-{p['symbol']}", [e(p["account"]), e(p["symbol"]), e(p["quantity"]),
                                                e(p["average_entry"]), e(p["realized_pnl"]),
                                                e(p["unrealized_pnl"] or ""),
                                                e(" ".join(f"{o['leg']}@{o['stop_price'] or o['limit_price']}"
                                                           for o in p["protection"]))])
            for p in positions_payload(api)]) + "</section>")
    orders = daemon.store.list_orders(limit=25)
    live = daemon.execution.ledger.live
    parts.append("<section><h2>Recent orders</h2>" + _table(
        "orders", ["id", "symbol", "side", "type", "quantity", "status", "filled", "avg price"], [
            (f"o-{o['id']}", [e(o["id"]), e(o["symbol"]), e(o["side"]), e(o["order_type"]), e(o["quantity"]),
                              _pill(o["status"]), e(o["filled_quantity"]), e(o["average_price"] or "")])
            for o in (order_summary(live.get(x.client_id, x)) for x in orders)]) + "</section>")
    parts.append("<section><h2>Recent signals</h2>" + _table(
        "signals", ["key", "status", "code", "orders"], [
            (f"s-{s['key']}", [e(s["key"]), _pill(s["status"]), e(s["code"] or ""), e(" ".join(s["orders"]))])
            for s in signals_payload(api, limit=25)]) + "</section>")
    parts.append(f"<section><h2>Live events</h2><ul id=events></ul><p class=muted>rendered {e(iso(_now()) or '')}"
                 "</p></section></main>")
    return _page("Tradewire status", "".join(parts), STATUS_SCRIPT)


def _now() -> float:
    import time
    return time.time()
