"""Risk policy (SPEC §5): the strict YAML schema and its loader, the pure engine ``decide(intent, snapshot,
policy) -> Decision`` that fails closed, circuit breakers for venues, signal sources and strategies, account
trading states (ACTIVE / REDUCE_ONLY / HALTED) driven by daily-loss and drawdown limits, and ``RiskGate``,
the stateful shell the daemon calls: it snapshots market and account state, decides, and reserves admitted
exposure in the same synchronous call so that racing signals can never both pass a limit only one fits.
``bot.policy.cli`` adds ``tradewire policy check|explain|schema`` and ``tradewire replay``.
"""
from bot.policy.engine import Explanation, Quote, Snapshot, Verdict, decide, explain
from bot.policy.gate import AccountView, MarketView, RiskGate
from bot.policy.loader import LoadedPolicy, PolicyError, load_policy, parse_policy
from bot.policy.schema import Policy, json_schema

__all__ = ["AccountView", "Explanation", "LoadedPolicy", "MarketView", "Policy", "PolicyError", "Quote", "RiskGate",
           "Snapshot", "Verdict", "decide", "explain", "json_schema", "load_policy", "parse_policy"]
