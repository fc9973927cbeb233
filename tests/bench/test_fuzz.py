"""Fuzzing the two parsers that take untrusted input: any input gives a Signal or SignalError (adapters),
a LoadedPolicy or PolicyError (policy loader) — never another exception.

The budget is small here (``make test``); ``make chaos`` runs the same properties with
``TRADEWIRE_FUZZ_EXAMPLES`` (default there: 5,000 per property).
"""
from __future__ import annotations

import json
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from bot.intake.adapters import SignalError, parse_signal
from bot.model import Signal
from bot.policy import PolicyError, parse_policy
from bot.policy.loader import LoadedPolicy

EXAMPLES = int(os.environ.get("TRADEWIRE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 150,
                suppress_health_check=list(HealthCheck))

FIELDS = ["id", "source", "symbol", "action", "side", "entry", "stop_loss", "take_profit", "size", "confidence",
          "timeframe", "generated_at", "ttl", "meta", "ticker", "price", "time", "secret", "type"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
                    st.sampled_from(["open", "close", "buy", "sell", "BTC/USDT", "BINANCE:BTCUSDT", "67350", "-1",
                                     "1e999", "NaN", "2026-11-21T12:00:00Z", "market", "limit", "exit"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS + ["price", "notional", "quantity",
                                                                           "risk_pct", "size_pct"]), inner,
                                                 max_size=4)), max_leaves=12)
objects = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), values, max_size=12)
payloads = st.one_of(objects, objects.map(json.dumps), st.text(max_size=200), st.binary(max_size=200),
                     st.lists(values, max_size=3).map(json.dumps))
mappings = st.dictionaries(st.sampled_from(FIELDS), st.one_of(st.text(max_size=12), st.sampled_from(
    ["=open", "=buy", "data.id", "data.0.x", "a.b.c", "="])), max_size=8)


def _check(payload, fmt, mapping=None) -> None:
    try:
        result = parse_signal(payload, "fuzz", fmt, mapping)
    except SignalError as exc:
        assert exc.code in ("INVALID_JSON", "INVALID_SIGNAL", "UNAUTHENTICATED")
        return
    assert isinstance(result, Signal)
    assert result.source == "fuzz"


@FUZZ
@given(payload=payloads, fmt=st.sampled_from(["native", "tradingview", "bogus"]))
def test_adapters_never_raise_anything_else(payload, fmt):
    _check(payload, fmt)


@FUZZ
@given(payload=payloads, mapping=mappings)
def test_mapping_adapter_never_raises_anything_else(payload, mapping):
    _check(payload, "mapping", mapping)


POLICY_KEYS = ["version", "mode", "defaults", "order", "position", "signal", "protection", "market", "symbols",
               "allow", "deny", "overrides", "accounts", "main", "sources", "demo", "rate", "max", "per", "breaker",
               "venues", "default", "strategies", "schedule", "windows", "max_notional", "min_notional",
               "max_slippage_bps", "allowed_types", "max_age", "min_confidence", "cooldown", "window", "days",
               "from", "to", "tz", "on_limit", "max_gross_exposure", "daily_loss_limit", "resize"]
policy_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                           st.text(max_size=10), st.sampled_from(["1", "30s", "1m", "2h", "enforce", "observe",
                                                                 "flatten", "mon-sun", "00:00", "24:00", "UTC",
                                                                 "*/USDT", "MARKET", "-5", "1e400"]))
policy_trees = st.recursive(policy_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(POLICY_KEYS), inner, max_size=5)), max_leaves=25)
with open(os.path.join(os.path.dirname(__file__), "..", "..", "config", "policy.yaml"), "rb") as _f:
    EXAMPLE_POLICY = _f.read()


def _mutations():
    lines = EXAMPLE_POLICY.split(b"\n")
    return st.tuples(st.integers(0, len(lines) - 1), st.binary(max_size=12)).map(
        lambda t: b"\n".join(lines[:t[0]] + [t[1]] + lines[t[0] + 1:]))


policy_bytes = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")),
    policy_trees.map(lambda tree: yaml.safe_dump(tree).encode()),
    st.fixed_dictionaries({"version": st.sampled_from([1, 2, "1"])}, optional={
        k: policy_trees for k in ["mode", "defaults", "symbols", "accounts", "sources", "venues", "strategies",
                                  "schedule"]}).map(lambda tree: yaml.safe_dump(tree).encode()),
    _mutations(),
    st.sampled_from([b"a: &x [*x]", b"!!python/object:os.system {}", b"a: b\na: c", b"- [\n", b"\xff\xfe",
                     b"version: 1\n" * 3, b"? [a]\n: b", b"a: !!binary zz"]),
)


def _load_policy(data: bytes) -> None:
    try:
        loaded = parse_policy(data, "fuzz.yaml")
    except PolicyError as exc:
        assert str(exc)
        return
    assert isinstance(loaded, LoadedPolicy)


@FUZZ
@given(data=policy_bytes)
def test_policy_loader_never_raises_anything_else(data):
    _load_policy(data)


# Found by the properties above (fixed in bot/ in 0ce428b); kept as explicit regression examples.
# bot.intake.adapters.parse_native: {**meta} on a non-object meta raised TypeError (payload source != stream's)
@pytest.mark.parametrize("meta", [None, [], "x", 1])
def test_known_meta_bug(meta):
    _check_raw({"id": "x", "source": "other", "meta": meta, "symbol": "BTC/USDT", "action": "open", "side": "buy",
                "generated_at": "2026-11-21T12:00:00Z"})


# bot.policy.loader: a recursive YAML alias (or very deep nesting) raised RecursionError, not PolicyError
@pytest.mark.parametrize("data", [b"a: &x [*x]", b"version: 1\nsymbols: &s {allow: *s}", b"[" * 5000])
def test_known_recursive_alias_bug(data):
    _load_policy(data)


# bot.policy.loader: an unknown tag or unhashable key raised ConstructorError (from yaml.load), not PolicyError
@pytest.mark.parametrize("data", [b"!!python/object:os.system {}", b"version: !foo 1", b"a: !!binary zz", b"? []\n: 1"])
def test_known_yaml_constructor_bug(data):
    _load_policy(data)


def _check_raw(payload) -> None:
    try:
        result = parse_signal(payload, "fuzz", "native")
    except SignalError:
        return
    assert isinstance(result, Signal)
