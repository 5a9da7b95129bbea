"""Loading a policy file: YAML with line numbers, pydantic validation, then cross-field checks.

Every problem is reported at once, each naming the file, line, table and column and how to fix it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from streammask.errors import PolicyError, PolicyProblem
from streammask.policy.model import Policy
from streammask.strategies import STRATEGIES

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy with where it came from: its sha256 and the line of each entry."""

    policy: Policy
    source: str
    sha256: str
    lines: dict[Path_, int]

    def line_of(self, *path: str | int) -> int | None:
        return _line_for(self.lines, path)

    def field_line(self, table: str, column: str) -> int | None:
        return self.line_of("tables", table, "fields", column)


def _line_for(lines: dict[Path_, int], path: Path_) -> int | None:
    for end in range(len(path), 0, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], problems: list[PolicyProblem], src: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    PolicyProblem(f"duplicate key {key!r}; each entry may appear once", file=src, line=line)
                )
            seen.add(key)
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, problems, src)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, problems, src)


def _where(path: Path_) -> tuple[str | None, str | None]:
    table = str(path[1]) if len(path) > 1 and path[0] == "tables" else None
    column = str(path[3]) if len(path) > 3 and path[2] == "fields" else None
    return table, column


def _friendly(err: Any, path: Path_) -> str:
    kind = err["type"]
    last = path[-1] if path else None
    if kind == "union_tag_invalid":
        return f"unknown strategy {err['input'].get('strategy')!r}; use one of: {', '.join(STRATEGIES)}"
    if kind == "union_tag_not_found":
        return f"no `strategy` given; use one of: {', '.join(STRATEGIES)}"
    if kind == "extra_forbidden":
        owner = path[-2] if len(path) > 1 else "policy"
        return f"unknown option {last!r} for {owner!r}; remove it or check its spelling"
    if kind == "missing":
        if path == ("key",):
            return "the policy has no `key`; add key: {env: STREAMMASK_KEY, id: \"<key id>\"} (or file: PATH)"
        return f"option {last!r} is required here"
    return f"{last}: {err['msg']}" if isinstance(last, str) else str(err["msg"])


def load_policy(path: str | Path) -> LoadedPolicy:
    """Read, parse and validate a policy file; raise PolicyError listing every problem."""
    src = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError([PolicyProblem(f"cannot read policy: {exc.strerror}", file=src)]) from None
    return parse_policy(raw, src)


def parse_policy(raw: bytes, src: str = "<policy>") -> LoadedPolicy:
    problems: list[PolicyProblem] = []
    lines: dict[Path_, int] = {}
    try:
        text = raw.decode("utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or "not valid UTF-8 YAML"
        raise PolicyError([PolicyProblem(f"YAML syntax error: {problem}", file=src, line=line)]) from None
    if root is None or not isinstance(data, dict):
        raise PolicyError([PolicyProblem("the policy must be a YAML mapping with version, key and tables", file=src)])
    _walk(root, (), lines, problems, src)
    if problems:
        raise PolicyError(problems)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in STRATEGIES))
            table, column = _where(path)
            problems.append(
                PolicyProblem(_friendly(err, path), file=src, line=_line_for(lines, path), table=table, column=column)
            )
        raise PolicyError(problems) from None
    loaded = LoadedPolicy(policy, src, hashlib.sha256(raw).hexdigest(), lines)
    problems.extend(_semantic_problems(loaded))
    if problems:
        raise PolicyError(problems)
    return loaded


def _semantic_problems(loaded: LoadedPolicy) -> Iterator[PolicyProblem]:
    policy, src = loaded.policy, loaded.source
    domain_users: dict[str, tuple[str, str, str, Any]] = {}
    shift_days: dict[str, tuple[int, str, str]] = {}
    for table, spec in policy.tables.items():
        if table.count(".") < 1 or table.startswith(".") or table.endswith("."):
            yield PolicyProblem(
                "table names are schema.table (or db.table for MySQL), as in the event's source block",
                file=src, line=loaded.line_of("tables", table), table=table,
            )
        seen: set[str] = set()
        for i, column in enumerate(spec.passthrough):
            line = loaded.line_of("tables", table, "passthrough", i)
            if column in seen:
                yield PolicyProblem("listed twice in passthrough", file=src, line=line, table=table, column=column)
            seen.add(column)
            if column in spec.fields:
                yield PolicyProblem(
                    "column is both passthrough and masked; keep it in exactly one of the two",
                    file=src, line=line, table=table, column=column,
                )
        for column, field in spec.fields.items():
            line = loaded.field_line(table, column)
            domain = getattr(field, "domain", None)
            if domain is not None:
                signature = field.model_dump(exclude={"domain"})
                first = domain_users.setdefault(domain, (table, column, field.strategy, signature))
                if first[3] != signature:
                    yield PolicyProblem(
                        f"domain {domain!r} is used with different strategy or options at "
                        f"{first[0]}.{first[1]}; values would not match across tables, so use one definition",
                        file=src, line=line, table=table, column=column,
                    )
            if field.strategy == "shift":
                entity = field.entity
                if entity not in spec.fields and entity not in spec.passthrough:
                    yield PolicyProblem(
                        f"shift entity {entity!r} is not a classified column of this table; "
                        "name a column listed under fields or passthrough",
                        file=src, line=line, table=table, column=column,
                    )
                    continue
                entity_domain = entity_domain_of(policy, table, entity)
                first_shift = shift_days.setdefault(entity_domain, (field.max_days, table, column))
                if first_shift[0] != field.max_days:
                    yield PolicyProblem(
                        f"shift max_days differs from {first_shift[1]}.{first_shift[2]} for the same entity "
                        f"domain {entity_domain!r}; use one value so intervals between dates hold",
                        file=src, line=line, table=table, column=column,
                    )


def entity_domain_of(policy: Policy, table: str, column: str) -> str:
    """The domain a shift entity's values live in: its own `domain`, or table.column."""
    spec = policy.tables[table].fields.get(column)
    domain = getattr(spec, "domain", None) if spec is not None else None
    return domain or f"{table}.{column}"
