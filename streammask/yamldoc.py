"""YAML documents with line numbers: the policy and the proxy config both report problems by line."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from streammask.errors import PolicyProblem

YamlPath = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDoc:
    """Parsed YAML plus the line of every mapping key and sequence item, by path."""

    data: Any
    source: str
    lines: dict[YamlPath, int]

    def line_of(self, path: YamlPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None


Where = Callable[[YamlPath], tuple[str | None, str | None]]


def _nowhere(path: YamlPath) -> tuple[str | None, str | None]:
    return None, None


def parse_yaml(raw: bytes, source: str, where: Where = _nowhere) -> tuple[YamlDoc | None, list[PolicyProblem]]:
    """Parse ``raw``; on a syntax error or duplicate keys, return the problems instead of a document.
    ``where`` names the table and column a path belongs to, for the problems' messages."""
    try:
        text = raw.decode("utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or "not valid UTF-8 YAML"
        return None, [PolicyProblem(f"YAML syntax error: {problem}", file=source, line=line)]
    lines: dict[YamlPath, int] = {}
    problems: list[PolicyProblem] = []
    if root is not None:
        _walk(root, (), lines, problems, source, where)
    return (None if problems else YamlDoc(data, source, lines)), problems


def _walk(
    node: yaml.Node, path: YamlPath, lines: dict[YamlPath, int], problems: list[PolicyProblem], src: str, where: Where
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                table, column = where((*path, key))
                message = f"duplicate key {key!r}; each entry may appear once"
                problems.append(PolicyProblem(message, file=src, line=line, table=table, column=column))
            seen.add(key)
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, problems, src, where)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, problems, src, where)


def describe_validation_error(err: Any, path: YamlPath) -> str:
    """A pydantic error entry as a sentence that says what to fix."""
    kind = err["type"]
    last = path[-1] if path else None
    if kind == "extra_forbidden":
        owner = path[-2] if len(path) > 1 else "the top level"
        return f"unknown option {last!r} in {owner!r}; remove it or check its spelling"
    if kind == "missing":
        return f"option {last!r} is required here"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{last}: {message}" if isinstance(last, str) else message
