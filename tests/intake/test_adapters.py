"""Provider formats → native signals; everything malformed becomes a SignalError with a code."""
from __future__ import annotations

from decimal import Decimal

import pytest

from bot.intake.adapters import SignalError, parse_signal

NATIVE = {"id": "voc-000123", "source": "voiceofchain", "symbol": "BTC/USDT", "action": "open", "side": "buy",
          "entry": {"type": "limit", "price": "67350"}, "stop_loss": "66100", "take_profit": ["68500", "69800"],
          "size": {"notional": "100"}, "confidence": 0.78, "timeframe": "4h",
          "generated_at": "2026-11-21T12:00:00Z", "ttl": 30, "meta": {}}


def test_native_signal_from_the_spec():
    signal = parse_signal(NATIVE, "voc")
    assert signal.source == "voc" and signal.meta["origin_source"] == "voiceofchain"
    assert signal.entry.price == Decimal("67350") and signal.stop_loss == Decimal("66100")
    assert signal.take_profit_fractions() == [(Decimal("68500"), Decimal("0.5")), (Decimal("69800"), Decimal("0.5"))]


def test_take_profit_ladder_with_sizes():
    signal = parse_signal({**NATIVE, "take_profit": [{"price": "68500", "size_pct": 30},
                                                     {"price": "69800", "size_pct": 70}]}, "voc")
    assert [f for _, f in signal.take_profit_fractions()] == [Decimal("0.3"), Decimal("0.7")]


@pytest.mark.parametrize("payload, fragment", [
    ("{not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    ({**NATIVE, "side": None}, "side is required"),
    ({**NATIVE, "symbol": "btcusdt"}, "symbol"),
    ({**NATIVE, "generated_at": "2026-11-21T12:00:00"}, "timezone"),
    ({**NATIVE, "entry": {"type": "limit"}}, "entry.price is required"),
    ({**NATIVE, "size": {"notional": "100", "quantity": "1"}}, "exactly one"),
    ({**NATIVE, "confidence": 1.5}, "confidence"),
    ({**NATIVE, "surprise": 1}, "unknown field"),
    ({**NATIVE, "stop_loss": "-1"}, "stop_loss"),
])
def test_malformed_signals_name_what_is_wrong(payload, fragment):
    with pytest.raises(SignalError) as err:
        parse_signal(payload, "voc")
    assert fragment in err.value.message
    assert err.value.code in ("INVALID_JSON", "INVALID_SIGNAL")


def test_tradingview_alert_text():
    body = '{"secret": "s3", "id": "tv-1", "ticker": "BINANCE:ETHUSDT", "action": "sell", "price": "3500",' \
           ' "time": "2026-11-21T12:00:00Z", "stop_loss": "3600"}'
    signal = parse_signal(body, "tv", "tradingview")
    assert (signal.symbol, signal.action, signal.side) == ("ETH/USDT", "open", "sell")
    assert signal.entry.type == "limit" and signal.entry.price == Decimal("3500")
    assert "secret" not in signal.meta


def test_mapping_adapter():
    mapping = {"id": "data.uuid", "symbol": "data.pair", "action": "=open", "side": "data.dir",
               "generated_at": "ts", "stop_loss": "data.sl"}
    payload = {"data": {"uuid": "x-9", "pair": "BTC/USDT", "dir": "BUY", "sl": "60000"},
               "ts": "2026-11-21T12:00:00+00:00"}
    signal = parse_signal(payload, "prov", "mapping", mapping)
    assert (signal.id, signal.side, signal.stop_loss) == ("x-9", "buy", Decimal("60000"))
