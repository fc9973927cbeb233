"""Reads a policy file into a validated ``Policy``, with errors a risk manager can act on.

YAML is composed into nodes first so that every key path keeps the line it was written on; pydantic's error
locations are then mapped back to ``file:line: key.path: message``. Duplicate keys are errors too (plain
YAML keeps the last one silently, which would hide a limit). The content hash is the sha256 of the file's
bytes, so a decision can be traced to the exact file that made it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.policy.schema import Policy

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Issue:
    path: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.key or '<top>'}: {self.message}"


class PolicyError(Exception):
    """An invalid policy file; ``str()`` lists every problem as ``file:line: key: message``."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    hash: str
    path: str
    # Per-symbol limits resolved from defaults and overrides; filled lazily by the engine. Caching here is
    # safe because a LoadedPolicy never changes: a reload makes a new one.
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


def load_policy(path: str | Path) -> LoadedPolicy:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError([Issue(str(path), None, "", f"cannot read: {exc.strerror or exc}")]) from exc
    return parse_policy(data, str(path))


def parse_policy(data: bytes, path: str = "<policy>") -> LoadedPolicy:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([Issue(path, None, "", f"not UTF-8 text: {exc}")]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            raise PolicyError([Issue(path, 1, "", "the file is empty")])
        lines: dict[Path_, int] = {}
        duplicates = _index_lines(node, (), lines)
        if duplicates:
            raise PolicyError([Issue(path, line, _dotted(key), "duplicate key") for key, line in duplicates])
        raw = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        # Syntax errors, unknown tags (!!python/...), unhashable keys: all refused with their position.
        mark = getattr(exc, "problem_mark", None)
        message = " ".join(str(part) for part in (getattr(exc, "problem", None) or exc,) if part)
        kind = "YAML" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax"
        raise PolicyError([Issue(path, mark.line + 1 if mark else None, "", f"{kind}: {message}")]) from exc
    except RecursionError:
        # A self-referencing alias (&x [*x]) or absurd nesting: no policy looks like that.
        raise PolicyError([Issue(path, None, "", "YAML nests too deeply (a recursive alias?)")]) from None
    if not isinstance(raw, dict):
        raise PolicyError([Issue(path, node.start_mark.line + 1, "", "the policy must be a mapping of keys")])
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError([_issue(error, path, lines) for error in exc.errors()]) from exc
    return LoadedPolicy(policy=policy, hash=hashlib.sha256(data).hexdigest(), path=path)


def _index_lines(node: yaml.Node, prefix: Path_, lines: dict[Path_, int]) -> list[tuple[Path_, int]]:
    """Records the line of every key path below ``node``; returns duplicate keys with their lines."""
    duplicates: list[tuple[Path_, int]] = []
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = prefix + (str(key_node.value),)
            if key in lines:
                duplicates.append((key, key_node.start_mark.line + 1))
            lines[key] = key_node.start_mark.line + 1
            duplicates += _index_lines(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[prefix + (index,)] = item.start_mark.line + 1
            duplicates += _index_lines(item, prefix + (index,), lines)
    return duplicates


def _issue(error: dict[str, Any], path: str, lines: dict[Path_, int]) -> Issue:
    # pydantic inserts markers that are not keys in the file (union branches such as "str" or
    # "function-after[...]"); keep only the parts that continue a real key path.
    key: Path_ = ()
    for part in error["loc"]:
        candidate = key + (part,)
        if candidate in lines or error["type"] == "missing":
            key = candidate
    line = next((lines[key[:n]] for n in range(len(key), 0, -1) if key[:n] in lines), 1)
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; `tradewire policy schema` lists every key)"
    elif error["type"] == "missing":
        message = "required key is missing"
    return Issue(path, line, _dotted(key), message)


def _dotted(key: Path_) -> str:
    return ".".join(f"[{part}]" if isinstance(part, int) else part for part in key).replace(".[", "[")
