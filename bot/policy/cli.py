"""``tradewire policy check|explain|schema`` and ``tradewire replay`` (SPEC §2).

``register(subparsers)`` adds them to the main parser; each command returns an exit code: 0 success,
2 an invalid policy, signal or argument (with a message saying what to fix), 1 a runtime failure.
Results go to stdout; errors, notes and the progress bar to stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot.model import Signal
from bot.policy.engine import explain
from bot.policy.loader import LoadedPolicy, PolicyError, load_policy
from bot.policy.offline import DEFAULT_STRATEGY, OfflineWorld, make_gate, parse_params, read_json_arg, \
    strategy_intents
from bot.policy.replay import replay
from bot.policy.schema import json_schema
from bot.strategy import StrategyError, StrategyLoadError


class UsageError(Exception):
    """Bad input the user can fix: exit 2."""


def register(subparsers: Any) -> None:
    policy = subparsers.add_parser("policy", help="validate, explain and describe risk policies")
    commands = policy.add_subparsers(dest="policy_command", required=True)

    check = commands.add_parser("check", help="validate a policy file (exit 0 valid, 2 invalid)")
    check.add_argument("file", help="policy YAML")
    check.set_defaults(func=_guarded(cmd_check))

    explain_ = commands.add_parser("explain", help="show the decision for one signal and every rule's verdict")
    explain_.add_argument("-p", "--policy", required=True, help="policy YAML")
    explain_.add_argument("--signal", required=True, help="native signal JSON, or @FILE")
    explain_.add_argument("--state", help="JSON file with quotes, balances, positions, risk state "
                                          "(see docs/policy.md)")
    _strategy_args(explain_)
    explain_.add_argument("--json", action="store_true", help="machine-readable output")
    explain_.set_defaults(func=_guarded(cmd_explain))

    schema = commands.add_parser("schema", help="print the policy's JSON Schema")
    schema.set_defaults(func=_guarded(cmd_schema))

    replay_ = subparsers.add_parser("replay", help="run recorded signals through a strategy and a policy offline")
    replay_.add_argument("signals", help="JSON lines of native signals (or feed frames)")
    replay_.add_argument("-p", "--policy", required=True, help="policy YAML")
    replay_.add_argument("--prices", help="CSV or JSON lines: ts, symbol, bid, ask (or price)")
    replay_.add_argument("--state", help="starting state JSON, as for policy explain")
    _strategy_args(replay_)
    replay_.add_argument("--report", default="replay-report.json", help="report file (default %(default)s)")
    replay_.set_defaults(func=_guarded(cmd_replay))


def _strategy_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strategy", default=DEFAULT_STRATEGY,
                        help="handler as module:Class or entry-point name (default %(default)s)")
    parser.add_argument("--param", action="append", metavar="KEY=VALUE", help="strategy parameter (repeatable)")
    parser.add_argument("--account", help="account to trade (default: the state file's, else the policy's "
                                          "first account, else main)")


def _guarded(command: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except PolicyError as exc:
            print(f"tradewire: invalid policy:\n{exc}", file=sys.stderr)
            return 2
        except (UsageError, StrategyLoadError) as exc:
            print(f"tradewire: {exc}", file=sys.stderr)
            return 2
    return run


# -- policy check / schema -----------------------------------------------------------------------------------

def cmd_check(args: argparse.Namespace) -> int:
    loaded = load_policy(args.file)
    print(f"{loaded.path}: valid (mode {loaded.policy.mode}, sha256 {loaded.hash})")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


# -- policy explain --------------------------------------------------------------------------------------------

def cmd_explain(args: argparse.Namespace) -> int:
    loaded = load_policy(args.policy)
    signal = _signal(args.signal)
    state = _state(args.state)
    world = OfflineWorld.from_state(state)
    if "now" not in state:
        world.now = signal.generated_at.timestamp()
    world.stand_in_quote(signal)
    gate = make_gate(loaded, world, state)
    account = _account(args, state, loaded)
    try:
        intents = strategy_intents(args.strategy, parse_params(args.param), signal, world, account)
    except StrategyError as exc:
        print(f"STRATEGY_ERROR: {exc}", file=sys.stderr)
        return 1
    results = []
    for index, intent in enumerate(intents):
        result = explain(intent, gate.snapshot(intent, signal), loaded)
        gate.evaluate(intent, signal, key=f"explain:{index}")   # reserve, so a ladder's next leg sees this one
        results.append(result)
    if args.json:
        print(json.dumps([_explanation_json(r) for r in results], indent=2, default=str))
    else:
        _print_explanations(signal, results, loaded)
    return 0


def _explanation_json(result: Any) -> dict[str, Any]:
    d, intent = result.decision, result.decision.intent
    return {"accepted": d.accepted, "enforced": d.enforced, "code": d.code, "rule": d.rule, "limit": d.limit,
            "observed": d.observed, "policy_hash": d.policy_hash, "notes": list(d.notes),
            "intent": {"symbol": intent.symbol, "side": intent.side.value, "order_type": intent.order_type.value,
                       "quantity": intent.quantity, "price": intent.price, "notional": intent.notional,
                       "time_in_force": intent.time_in_force.value, "reduce_only": intent.reduce_only,
                       "leg": intent.leg.value, "tag": intent.tag},
            "verdicts": [{"rule": v.rule, "outcome": v.outcome, "code": v.code, "limit": v.limit,
                          "observed": v.observed, "note": v.note} for v in result.verdicts]}


def _console(**kwargs: Any) -> Console:
    console = Console(**kwargs)
    if not console.is_terminal:
        console.width = 160              # piped output: wide tables rather than truncated rule paths
    return console


def _print_explanations(signal: Signal, results: list[Any], loaded: LoadedPolicy) -> None:
    console = _console()
    console.print(f"signal {signal.source}:{signal.id} {signal.action} {signal.side or ''} {signal.symbol} — "
                  f"policy {loaded.path} ({loaded.hash[:12]}, {loaded.policy.mode})")
    if not results:
        console.print("the strategy returned no orders")
    style = {"pass": "green", "fail": "bold red", "skip": "dim"}
    for result in results:
        d, intent = result.decision, result.decision.intent
        verdict = "ACCEPT" if d.accepted else f"REJECT {d.code}" + ("" if d.enforced else " (observe: not applied)")
        table = Table(title=f"{verdict}: {intent.side.value} {intent.quantity} {intent.symbol} "
                            f"{intent.order_type.value} @ {intent.price or 'market'} {intent.tag}".rstrip())
        for column in ("rule", "verdict", "code", "limit", "observed", "note"):
            table.add_column(column)
        for v in result.verdicts:
            table.add_row(v.rule, f"[{style[v.outcome]}]{v.outcome}[/]", v.code or "", v.limit or "",
                          v.observed or "", v.note)
        console.print(table)
        for note in d.notes:
            console.print(f"  note: {note}")


# -- replay ----------------------------------------------------------------------------------------------------

def cmd_replay(args: argparse.Namespace) -> int:
    loaded = load_policy(args.policy)
    signals = _existing(args.signals)
    prices = _existing(args.prices) if args.prices else None
    state = _state(args.state)
    if "balances" not in state:
        print("note: no balances given (--state); assuming paper balances in every asset", file=sys.stderr)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        report = replay(signals, loaded, prices=prices, handler=args.strategy, params=parse_params(args.param),
                        state=state, account=_account(args, state, loaded), progress=progress)
    Path(args.report).write_text(json.dumps(report, indent=2))
    _print_summary(report, args.report)
    return 0


def _print_summary(report: dict[str, Any], path: str) -> None:
    console = _console()
    console.print(f"{report['decisions']} decisions: {report['accepted']} accepted, {report['rejected']} rejected "
                  f"(policy {report['policy']['hash'][:12]}, {report['policy']['mode']})")
    rules = Table(title="rejects by rule")
    rules.add_column("code and rule")
    rules.add_column("count", justify="right")
    for rule, count in report["by_rule"].items():
        rules.add_row(rule, str(count))
    console.print(rules)
    sources = Table(title="by source")
    for column in ("source", "accepted", "rejected", "top reject"):
        sources.add_column(column)
    for source, tally in report["by_source"].items():
        top = next(iter(tally["by_code"]), "")
        sources.add_row(source, str(tally["accepted"]), str(tally["rejected"]), top)
    console.print(sources)
    console.print(f"report written to {path}")


# -- inputs ----------------------------------------------------------------------------------------------------

def _signal(text: str) -> Signal:
    try:
        data = read_json_arg(text)
        if isinstance(data, dict) and data.get("type") == "signal":
            data = data["signal"]
        return Signal.model_validate(data)
    except OSError as exc:
        raise UsageError(f"--signal: cannot read {text[1:]}: {exc.strerror}") from exc
    except (ValueError, ValidationError) as exc:
        raise UsageError(f"--signal: not a valid native signal: {exc}") from exc


def _state(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        state = json.loads(_existing(path).read_text())
    except ValueError as exc:
        raise UsageError(f"--state {path}: not JSON: {exc}") from exc
    if not isinstance(state, dict):
        raise UsageError(f"--state {path}: expected a JSON object")
    return state


def _existing(path: str) -> Path:
    if not Path(path).is_file():
        raise UsageError(f"{path}: no such file")
    return Path(path)


def _account(args: argparse.Namespace, state: dict[str, Any], loaded: LoadedPolicy) -> str:
    named = [name for name in loaded.policy.accounts if name != "default"]
    return args.account or state.get("account") or (named[0] if named else "main")
