"""Loading: strict keys, errors with file, line and key, durations, the content hash, the JSON Schema."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bot.policy import PolicyError, json_schema, load_policy
from bot.policy.schema import parse_duration

ROOT = Path(__file__).resolve().parents[2]

VALID = """\
version: 1
symbols:
  allow: ["*/USDT"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy(write(tmp_path, text))
    return caught.value


def test_the_shipped_example_policy_is_valid() -> None:
    loaded = load_policy(ROOT / "config" / "policy.yaml")
    assert set(loaded.policy.sources) == {"demo", "tv"} and "main" in loaded.policy.accounts
    assert loaded.policy.symbols.allow == ("*/USDT",)


def test_hash_is_sha256_of_the_file_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert load_policy(path).hash == hashlib.sha256(path.read_bytes()).hexdigest()


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID + "defaults:\n  order:\n    max_notionall: '5'\n")
    assert str(error).startswith(f"{tmp_path / 'policy.yaml'}:6: defaults.order.max_notionall: unknown key")


def test_bad_value_deep_in_an_override_names_its_line(tmp_path: Path) -> None:
    text = VALID + "  overrides:\n    BTC/USDT:\n      order: {max_slippage_bps: -3}\n"
    (issue,) = error_of(tmp_path, text).issues
    assert (issue.line, issue.key) == (6, "symbols.overrides.BTC/USDT.order.max_slippage_bps")


def test_missing_required_key_and_several_errors_at_once(tmp_path: Path) -> None:
    error = error_of(tmp_path, "version: 2\nmode: enforce\nsources:\n  demo:\n    rate: {max: 0, per: 1m}\n")
    keys = {issue.key: issue for issue in error.issues}
    assert keys["version"].line == 1
    assert keys["symbols"].message == "required key is missing"
    assert keys["sources.demo.rate.max"].line == 5


def test_bad_duration_is_explained(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID + "defaults:\n  signal: {max_age: 30 seconds}\n")
    assert "defaults.signal.max_age" in str(error) and "30s, 1m, 2h" in str(error)


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID + "mode: enforce\nmode: observe\n")
    assert str(error).endswith(":5: mode: duplicate key")


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    error = error_of(tmp_path, VALID + "mode: [enforce\n")
    assert ":5: <top>: YAML syntax" in str(error)          # the unclosed bracket runs to the end


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    assert "empty" in str(error_of(tmp_path, ""))


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("1m", 60), ("2h", 7200), ("1d", 86400), (5, 5),
                                          ("250ms", 0.25)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["30", "1 week", -1, True, "0s"])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_json_schema_is_strict_and_uses_file_key_names() -> None:
    schema = json_schema()
    json.dumps(schema)
    assert schema["additionalProperties"] is False
    window = schema["$defs"]["Window"]["properties"]
    assert "from" in window and "to" in window
    assert "symbols" in schema["required"]
