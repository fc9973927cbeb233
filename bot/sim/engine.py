"""The matching engine: validation, balance locks, taker walks, resting fills, stop triggers and OCO.

Pure Python, no I/O: every state change is announced to ``listeners`` as (kind, market, payload) with
kind "user" (a user-stream event, already in Binance JSON), "trade" (a public trade) or "book".
"""
from __future__ import annotations

import itertools
import random
import string
from decimal import ROUND_UP, Decimal
from typing import Callable

from .account import Account
from .config import SimConfig
from .errors import (DUPLICATE, OCO_BAD_PRICES, UNKNOWN_ORDER, WOULD_TAKE, WOULD_TRIGGER, BinanceError,
                     invalid_symbol, mandatory, rejected)
from .market import Level, Market, MarketData, floor_to
from .orders import STOPS, Order, OrderList, OrderSpec, Trade, client_id_param, parse_spec
from . import wire

ZERO = Decimal(0)
FEE_PLACES = Decimal("0.00000001")
Listener = Callable[[str, "Market | None", object], None]


class Engine:
    def __init__(self, config: SimConfig, clock: Callable[[], int]):
        self.config = config
        self.clock = clock
        self.listeners: list[Listener] = []
        # ids keep increasing across reset(): a client must never see an id reused
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._list_ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.id_rng = random.Random(self.config.seed + 1)
        previous = getattr(self, "data", None)
        self.data = MarketData(self.config, self.rng)
        if previous is not None:  # keep book update ids increasing, or depth-stream clients see a gap
            for symbol, market in self.data.markets.items():
                market.update_id = previous.markets[symbol].update_id + 1
        self.data.seed_history(self.clock())
        self.account = Account(self.config.balances)
        for market in self.data.markets.values():
            self.account.ensure(market.base)
            self.account.ensure(market.quote)
        self.orders: dict[int, Order] = {}
        # indexes so placement and matching cost does not grow with the order history
        self.open: dict[int, Order] = {}
        self.open_client_ids: dict[str, int] = {}
        self.latest_by_client_id: dict[str, int] = {}
        self.trades: list[Trade] = []
        self.lists: dict[int, OrderList] = {}
        self._touched: set[str] = set()

    # ----- helpers -------------------------------------------------------------------------------
    def emit(self, kind: str, market: Market | None, payload: object = None) -> None:
        for listener in list(self.listeners):
            listener(kind, market, payload)

    def market(self, symbol_id: str | None) -> Market:
        if not symbol_id:
            raise mandatory("symbol")
        market = self.data.by_id.get(symbol_id)
        if market is None:
            raise invalid_symbol()
        return market

    def new_client_id(self) -> str:
        return "".join(self.id_rng.choice(string.ascii_letters + string.digits) for _ in range(22))

    def open_orders(self, market: Market | None = None) -> list[Order]:
        """Open orders in orderId (time) order."""
        return [o for o in self.open.values() if market is None or o.market is market]

    def _book_order(self, order: Order) -> None:
        self.orders[order.order_id] = order
        self.open[order.order_id] = order
        self.open_client_ids[order.client_id] = order.order_id
        self.latest_by_client_id[order.client_id] = order.order_id

    def _closed(self, order: Order) -> None:
        self.open.pop(order.order_id, None)
        if self.open_client_ids.get(order.client_id) == order.order_id:
            del self.open_client_ids[order.client_id]

    def find(self, market: Market, params: dict) -> Order | None:
        """Lookup by orderId and/or origClientOrderId; a client id finds the latest order that used it."""
        order_id = params.get("orderId")
        client_id = params.get("origClientOrderId")
        if not order_id and not client_id:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if order_id:
            try:
                order = self.orders.get(int(order_id))
            except ValueError:
                raise BinanceError(-1100, "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'.")
            if order is None or order.market is not market or (client_id and order.client_id != client_id):
                return None
            return order
        order = self.orders.get(self.latest_by_client_id.get(client_id, 0))
        return order if order is not None and order.market is market else None

    def _touch(self, *assets: str) -> None:
        self._touched.update(assets)

    def flush(self) -> None:
        """Announce one outboundAccountPosition for the assets changed by the last operation."""
        if not self._touched:
            return
        now = self.clock()
        self.account.update_time = now
        balances = [{"a": a, "f": wire.fmt(self.account.free[a]), "l": wire.fmt(self.account.locked[a])}
                    for a in sorted(self._touched)]
        self._touched.clear()
        self.emit("user", None, {"e": "outboundAccountPosition", "E": now, "u": now, "B": balances})

    def _report(self, order: Order, exec_type: str, trade: Trade | None = None, cancel_id: str | None = None):
        self.emit("user", order.market, wire.execution_report(order, exec_type, self.clock(), trade, cancel_id))

    # ----- validation -----------------------------------------------------------------------------
    def _check(self, market: Market, spec: OrderSpec) -> None:
        flt = market.filters
        if spec.price:
            flt.check_price(spec.price)
        if spec.stop_price:
            flt.check_price(spec.stop_price)
        if spec.quote_qty:
            flt.check_notional(spec.quote_qty)
        else:
            flt.check_qty(spec.qty)
            reference = spec.price or spec.stop_price or market.mid
            flt.check_notional(spec.qty * reference)
        if spec.client_id and spec.client_id in self.open_client_ids:
            raise rejected(DUPLICATE)

    def _lock_amount(self, market: Market, spec: OrderSpec) -> tuple[str, Decimal]:
        if spec.side == "BUY":
            if spec.type == "MARKET":
                return market.quote, spec.quote_qty or self._estimate(market.asks, qty=spec.qty)
            if spec.type in ("STOP_LOSS", "TAKE_PROFIT"):
                return market.quote, spec.stop_price * spec.qty
            return market.quote, spec.price * spec.qty
        if spec.type == "MARKET" and spec.quote_qty:
            return market.base, self._estimate(market.bids, quote=spec.quote_qty)
        return market.base, spec.qty

    @staticmethod
    def _estimate(levels: list[Level], qty: Decimal = ZERO, quote: Decimal = ZERO) -> Decimal:
        """Quote cost of ``qty`` (or base needed to raise ``quote``) walking the book; beyond it, the last price."""
        total, left, last = ZERO, qty or quote, None
        for level in levels:
            last = level.price
            if qty:
                take = min(level.qty, left)
                total, left = total + take * level.price, left - take
            else:
                take = min(level.qty * level.price, left)
                total, left = total + take / level.price, left - take
            if left <= 0:
                return total
        if last is None:
            return total
        return total + (left * last if qty else left / last)

    def _new_order(self, market: Market, spec: OrderSpec, now: int, list_id: int = -1) -> Order:
        return Order(order_id=next(self._order_ids), market=market,
                     client_id=spec.client_id or self.new_client_id(), side=spec.side, type=spec.type,
                     tif=spec.tif, qty=spec.qty, price=spec.price, stop_price=spec.stop_price,
                     quote_qty=spec.quote_qty, time=now, update_time=now,
                     working_time=-1 if spec.type in STOPS else now, list_id=list_id)

    # ----- placement ------------------------------------------------------------------------------
    def place(self, params: dict) -> tuple[Order, list[Trade]]:
        market = self.market(params.get("symbol"))
        spec = parse_spec(params)
        self._check(market, spec)
        if spec.type == "LIMIT_MAKER" and self._crosses(market, spec.side, spec.price):
            raise rejected(WOULD_TAKE)
        if spec.type in STOPS:
            probe = self._new_probe(market, spec)
            if probe.triggers_at(market.last):
                raise rejected(WOULD_TRIGGER)
        asset, amount = self._lock_amount(market, spec)
        self.account.lock(asset, amount)
        self._touch(asset)
        order = self._new_order(market, spec, self.clock())
        order.lock_asset, order.lock_left = asset, amount
        self._book_order(order)
        self._report(order, "NEW")
        fills: list[Trade] = []
        if order.type in ("MARKET", "LIMIT"):
            self._execute_taker(order, fills)
        self._after_match(market)
        self.flush()
        return order, fills

    @staticmethod
    def _new_probe(market: Market, spec: OrderSpec) -> Order:
        return Order(0, market, "", spec.side, spec.type, spec.tif, spec.qty, spec.price, spec.stop_price,
                     spec.quote_qty, 0)

    @staticmethod
    def _crosses(market: Market, side: str, price: Decimal) -> bool:
        if side == "BUY":
            return bool(market.asks) and price >= market.asks[0].price
        return bool(market.bids) and price <= market.bids[0].price

    def _execute_taker(self, order: Order, fills: list[Trade]) -> None:
        """Walk the opposite side of the book (up to the limit price, if any), then apply timeInForce."""
        market = order.market
        limit = None if order.type in ("MARKET", "STOP_LOSS", "TAKE_PROFIT") else order.price
        levels = market.asks if order.side == "BUY" else market.bids
        plan: list[tuple[Level, Decimal]] = []
        left = (order.quote_qty - order.cum_quote) if order.quote_mode else order.remaining
        for level in levels:
            if left <= 0:
                break
            if limit is not None and (level.price > limit if order.side == "BUY" else level.price < limit):
                break
            if order.quote_mode:
                take = min(level.qty, floor_to(left / level.price, market.filters.step_size))
                left -= take * level.price
            else:
                take = min(level.qty, left)
                left -= take
            if take <= 0:
                break
            plan.append((level, take))
        if order.quote_mode:
            order.qty = sum((take for _, take in plan), ZERO)
        planned = sum((take for _, take in plan), ZERO)
        if order.tif == "FOK" and order.type != "MARKET" and planned < order.remaining:
            self._expire(order, "UNFILLED_FOK_ORDER_EXPIRED")
            return
        for level, take in plan:
            level.qty -= take
            fills.append(self._fill(order, level.price, take, maker=False))
        if plan:
            self._prune(market)
        if order.is_open:
            if order.type in ("MARKET", "STOP_LOSS", "TAKE_PROFIT"):
                self._expire(order, "INSUFFICIENT_LIQUIDITY")
            elif order.tif == "IOC":
                self._expire(order, "UNFILLED_IOC_QUANTITY_EXPIRED")
            elif order.tif == "FOK":
                self._expire(order, "UNFILLED_FOK_ORDER_EXPIRED")

    def _prune(self, market: Market) -> None:
        market.bids = [lv for lv in market.bids if lv.qty > 0]
        market.asks = [lv for lv in market.asks if lv.qty > 0]
        market.update_id += 1
        self.emit("book", market)

    def _fill(self, order: Order, price: Decimal, qty: Decimal, maker: bool) -> Trade:
        market, account, now = order.market, self.account, self.clock()
        if order.list_id != -1:
            self._end_list_siblings(order, "OCO_TRIGGER")
        rate = self.config.maker_fee if maker else self.config.taker_fee
        quote_amount = price * qty
        if order.side == "BUY":
            from_lock = min(quote_amount, order.lock_left)
            account.spend(market.quote, quote_amount, from_lock)
            commission = (qty * rate).quantize(FEE_PLACES, rounding=ROUND_UP)
            account.credit(market.base, qty - commission)
            asset = market.base
        else:
            from_lock = min(qty, order.lock_left)
            account.spend(market.base, qty, from_lock)
            commission = (quote_amount * rate).quantize(FEE_PLACES, rounding=ROUND_UP)
            account.credit(market.quote, quote_amount - commission)
            asset = market.quote
        order.lock_left -= from_lock
        self._touch(market.base, market.quote)
        order.executed += qty
        order.cum_quote += quote_amount
        order.update_time = now
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        trade = Trade(next(self._trade_ids), market, order.order_id, order.list_id, price, qty, commission,
                      asset, now, order.side == "BUY", maker)
        self.trades.append(trade)
        self.data.record(market, now, price, qty)
        self.emit("trade", market, {"id": trade.id, "price": price, "qty": qty, "time": now,
                                    "buyer_maker": (order.side == "BUY") == maker})
        if not order.is_open:
            self._release(order)
            self._closed(order)
        self._report(order, "TRADE", trade)
        return trade

    def _release(self, order: Order) -> None:
        if order.lock_left:
            self.account.unlock(order.lock_asset, order.lock_left)
            self._touch(order.lock_asset)
            order.lock_left = ZERO

    def _expire(self, order: Order, reason: str) -> None:
        order.status, order.expiry_reason, order.update_time = "EXPIRED", reason, self.clock()
        self._release(order)
        self._closed(order)
        self._report(order, "EXPIRED")

    # ----- price moves: triggers and resting fills -------------------------------------------------
    def step(self, market: Market, synthetic_trade: bool = True) -> None:
        """One price-model step: new mid, fresh book, maybe a synthetic public trade, then matching."""
        self.data.step(market)
        now = self.clock()
        if synthetic_trade:
            qty = self.data._trade_qty(market, market.mid)
            self.data.record(market, now, market.mid, qty)
            self.emit("trade", market, {"id": next(self._trade_ids), "price": market.mid, "qty": qty,
                                        "time": now, "buyer_maker": self.rng.random() < 0.5})
        self.emit("book", market)
        self._after_match(market)
        self.flush()

    def set_price(self, market: Market, price: Decimal) -> None:
        self.data.set_mid(market, price)
        self.data.record(market, self.clock(), market.mid, ZERO)
        self.emit("book", market)
        self._after_match(market)
        self.flush()

    def _after_match(self, market: Market) -> None:
        for order in self.open_orders(market):
            if not order.is_open:
                continue  # an OCO sibling may have ended it during this loop
            if order.is_stop and order.working_time == -1:
                if order.triggers_at(market.last):
                    self._trigger(order)
            elif order.type not in ("MARKET", "STOP_LOSS", "TAKE_PROFIT"):
                self._fill_resting(order)

    def _trigger(self, order: Order) -> None:
        order.working_time = self.clock()
        if order.list_id != -1:
            self._end_list_siblings(order, "OCO_TRIGGER")
        if order.type in ("STOP_LOSS", "TAKE_PROFIT"):
            self._execute_taker(order, [])
        elif self._crosses(order.market, order.side, order.price):
            self._execute_taker(order, [])

    def _fill_resting(self, order: Order) -> None:
        """A resting limit fills, at its own price as maker, against the book levels that cross it."""
        market = order.market
        levels = market.asks if order.side == "BUY" else market.bids
        touched = False
        for level in levels:
            if not order.is_open:
                break
            if level.price > order.price if order.side == "BUY" else level.price < order.price:
                break
            take = min(level.qty, order.remaining)
            level.qty -= take
            touched = True
            self._fill(order, order.price, take, maker=True)
        if touched:
            self._prune(market)

    # ----- cancel ---------------------------------------------------------------------------------
    def cancel(self, params: dict) -> dict:
        market = self.market(params.get("symbol"))
        order = self.find(market, params)
        if order is None or not order.is_open:
            raise BinanceError(-2011, UNKNOWN_ORDER)
        cancel_id = client_id_param(params, "newClientOrderId") or self.new_client_id()
        self._cancel(order, cancel_id)
        if order.list_id != -1:
            self._end_list_siblings(order, None, cancel_id)
        self.flush()
        return wire.cancel_result(order, cancel_id, self.clock())

    def _cancel(self, order: Order, cancel_id: str) -> None:
        order.status, order.update_time = "CANCELED", self.clock()
        self._release(order)
        self._closed(order)
        self._report(order, "CANCELED", cancel_id=cancel_id)

    def cancel_all(self, params: dict) -> list[dict]:
        market = self.market(params.get("symbol"))
        open_orders = self.open_orders(market)
        if not open_orders:
            raise BinanceError(-2011, UNKNOWN_ORDER)
        cancel_id = self.new_client_id()
        results, done_lists = [], set()
        for order in open_orders:
            if order.list_id != -1:
                if order.list_id not in done_lists:
                    done_lists.add(order.list_id)
                    results.append(self._cancel_list(self.lists[order.list_id], cancel_id))
                continue
            self._cancel(order, cancel_id)
            results.append(wire.cancel_result(order, cancel_id, self.clock()))
        self.flush()
        return results

    # ----- OCO order lists ------------------------------------------------------------------------
    def place_oco(self, params: dict) -> dict:
        market = self.market(params.get("symbol"))
        above = parse_spec(params, "above")
        below = parse_spec(params, "below")
        kinds = {above.type, below.type}
        stop_legs = [s for s in (above, below) if s.type in ("STOP_LOSS", "STOP_LOSS_LIMIT")]
        if above.type == "MARKET" or below.type == "MARKET" or "LIMIT" in kinds or len(stop_legs) != 1:
            raise BinanceError(-1158, "Order type not supported in OCO.")
        for spec in (above, below):
            self._check(market, spec)
        if above.client_id and above.client_id == below.client_id:
            raise rejected(DUPLICATE)
        last = market.last

        def ref(spec: OrderSpec) -> Decimal:
            return spec.price if spec.type == "LIMIT_MAKER" else spec.stop_price

        if not (ref(above) > last > ref(below)):
            raise rejected(OCO_BAD_PRICES)
        list_client_id = client_id_param(params, "listClientOrderId") or self.new_client_id()
        if any(lst.is_open and lst.client_id == list_client_id for lst in self.lists.values()):
            raise rejected(DUPLICATE)
        # One lock covers the pair: the legs can never both execute.
        locks = [self._lock_amount(market, s) for s in (below, above)]
        asset, amount = max(locks, key=lambda lock: lock[1])
        self.account.lock(asset, amount)
        self._touch(asset)
        now = self.clock()
        order_list = OrderList(next(self._list_ids), market, list_client_id, now)
        for spec in (below, above):
            order = self._new_order(market, spec, now, order_list.list_id)
            order_list.orders.append(order)
            self._book_order(order)
        holder = order_list.orders[0] if locks[0][1] >= locks[1][1] else order_list.orders[1]
        holder.lock_asset, holder.lock_left = asset, amount
        for order in order_list.orders:
            order.lock_asset = order.lock_asset or asset
        self.lists[order_list.list_id] = order_list
        self.emit("user", market, wire.list_status_event(order_list, now))
        for order in order_list.orders:
            self._report(order, "NEW")
        resp_type = params.get("newOrderRespType") or "RESULT"
        reports = [wire.order_result(o, resp_type, []) for o in order_list.orders]
        self._after_match(market)
        self.flush()
        return wire.list_status(order_list, now, reports)

    def _end_list_siblings(self, order: Order, reason: str | None, cancel_id: str | None = None) -> None:
        order_list = self.lists.get(order.list_id)
        if order_list is None or not order_list.is_open:
            return
        order_list.status_type = order_list.order_status = "ALL_DONE"
        for sibling in order_list.orders:
            if sibling is order or not sibling.is_open:
                continue
            if reason is None:
                self._cancel(sibling, cancel_id or self.new_client_id())
            else:
                if sibling.lock_left:   # hand the shared lock to the leg that is executing
                    order.lock_asset, order.lock_left = sibling.lock_asset, order.lock_left + sibling.lock_left
                    sibling.lock_left = ZERO
                self._expire(sibling, reason)
        self.emit("user", order.market, wire.list_status_event(order_list, self.clock()))

    def find_list(self, params: dict) -> OrderList | None:
        list_id = params.get("orderListId")
        client_id = params.get("listClientOrderId") or params.get("origClientOrderId")
        if not list_id and not client_id:
            raise BinanceError(-1102, "Param 'orderListId' or 'listClientOrderId' must be sent, but both were empty/null!")
        if list_id:
            found = self.lists.get(int(list_id)) if list_id.isdigit() else None
            if found is None or (client_id and found.client_id != client_id):
                return None
            return found
        matches = [lst for lst in self.lists.values() if lst.client_id == client_id]
        return max(matches, key=lambda lst: lst.list_id) if matches else None

    def cancel_list(self, params: dict) -> dict:
        market = self.market(params.get("symbol"))
        order_list = self.find_list(params)
        if order_list is None or order_list.market is not market or not order_list.is_open:
            raise BinanceError(-2011, "Order list does not exist.")
        cancel_id = client_id_param(params, "newClientOrderId") or self.new_client_id()
        result = self._cancel_list(order_list, cancel_id)
        self.flush()
        return result

    def _cancel_list(self, order_list: OrderList, cancel_id: str) -> dict:
        order_list.status_type = order_list.order_status = "ALL_DONE"
        reports = []
        for order in order_list.orders:
            if order.is_open:
                self._cancel(order, cancel_id)
            reports.append(wire.cancel_result(order, cancel_id, self.clock()))
        self.emit("user", order_list.market, wire.list_status_event(order_list, self.clock()))
        return wire.list_status(order_list, self.clock(), reports)
