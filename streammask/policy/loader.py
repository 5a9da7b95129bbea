"""Loading a policy file: YAML with line numbers, pydantic validation, then cross-field checks.

Every problem is reported at once, each naming the file, line, table and column and how to fix it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from streammask.errors import PolicyError, PolicyProblem
from streammask.policy.model import Policy
from streammask.strategies import STRATEGIES
from streammask.yamldoc import YamlDoc, YamlPath, describe_validation_error, parse_yaml

Path_ = YamlPath


@dataclass(frozen=True)
class LoadedPolicy:
    """A validated policy with where it came from: its sha256 and the line of each entry."""

    policy: Policy
    source: str
    sha256: str
    lines: dict[Path_, int]

    def line_of(self, *path: str | int) -> int | None:
        return YamlDoc(None, self.source, self.lines).line_of(path)

    def field_line(self, table: str, column: str) -> int | None:
        return self.line_of("tables", table, "fields", column)


def _where(path: Path_) -> tuple[str | None, str | None]:
    table = str(path[1]) if len(path) > 1 and path[0] == "tables" else None
    column = str(path[3]) if len(path) > 3 and path[2] == "fields" else None
    return table, column


def _without_union_tag(loc: Any) -> Path_:
    """pydantic puts the strategy (the union tag) after the column: tables/T/fields/C/<strategy>/option.
    Only that element is dropped: a column may well be named like a strategy (a password `hash`)."""
    path = tuple(loc)
    if len(path) > 4 and path[0] == "tables" and path[2] == "fields" and path[4] in STRATEGIES:
        return (*path[:4], *path[5:])
    return path


def _friendly(err: Any, path: Path_) -> str:
    kind = err["type"]
    if kind == "union_tag_invalid":
        return f"unknown strategy {err['input'].get('strategy')!r}; use one of: {', '.join(STRATEGIES)}"
    if kind == "union_tag_not_found":
        return f"no `strategy` given; use one of: {', '.join(STRATEGIES)}"
    if kind == "missing" and path == ("key",):
        return "the policy has no `key`; add key: {env: STREAMMASK_KEY, id: \"<key id>\"} (or file: PATH)"
    if kind in ("model_attributes_type", "dict_type") and len(path) == 4 and path[2] == "fields":
        return "a masked column needs a mapping such as {strategy: redact}"
    return describe_validation_error(err, path)


def load_policy(path: str | Path) -> LoadedPolicy:
    """Read, parse and validate a policy file; raise PolicyError listing every problem."""
    src = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyError([PolicyProblem(f"cannot read policy: {exc.strerror}", file=src)]) from None
    return parse_policy(raw, src)


def parse_policy(raw: bytes, src: str = "<policy>") -> LoadedPolicy:
    doc, problems = parse_yaml(raw, src, _where)
    if doc is None:
        raise PolicyError(problems)
    data, lines = doc.data, doc.lines
    if not isinstance(data, dict):
        raise PolicyError([PolicyProblem("the policy must be a YAML mapping with version, key and tables", file=src)])
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = _without_union_tag(err["loc"])
            table, column = _where(path)
            problems.append(
                PolicyProblem(_friendly(err, path), file=src, line=doc.line_of(path), table=table, column=column)
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
