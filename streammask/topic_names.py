"""Kafka's rules for topic names, so a name Kafka would refuse is reported where it comes from (a route, a
config field) instead of surfacing as librdkafka's ``Unknown topic`` at the first record.

The rules are those of ``org.apache.kafka.common.internals.Topic.validate``: not empty, not ``.`` or ``..``,
at most 249 characters, only ASCII letters, digits, ``.``, ``_`` and ``-``. Kafka also refuses to create a
topic whose name equals an existing one's once ``.`` and ``_`` are made the same (they collide in metric
names): ``collisions`` finds such pairs. Kafka's own topics (``__consumer_offsets``…) are not targets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_LENGTH = 249
LEGAL = re.compile(r"[A-Za-z0-9._-]*")
_ILLEGAL_CHAR = re.compile(r"[^A-Za-z0-9._-]")
INTERNAL = frozenset({"__consumer_offsets", "__transaction_state", "__cluster_metadata"})
ALLOWED = "only ASCII letters, digits, '.', '_' and '-'"
# A group reference in a route's ``to`` (re.Match.expand): \1 .. \99, \g<name>, \g<1>.
_GROUP_REF = re.compile(r"\\(?:g<[^>]*>|[1-9][0-9]?)")


def problem(name: str) -> str | None:
    """Which of Kafka's rules ``name`` breaks (None: it is a legal topic name)."""
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return f"it is {name!r}, which Kafka does not allow"
    if len(name) > MAX_LENGTH:
        return f"it is {len(name)} characters long; Kafka allows at most {MAX_LENGTH}"
    illegal = _illegal(name)
    if illegal:
        return f"it contains {illegal}; Kafka allows {ALLOWED}"
    if name in INTERNAL:
        return "it is one of Kafka's internal topics"
    return None


def template_problem(template: str) -> str | None:
    """What makes every name a route's ``to`` can give illegal, whatever its groups match (None: some
    names it gives may be legal; each is checked when routed)."""
    literal = _GROUP_REF.sub("", template)
    if literal == template:  # no group: every source topic gets this one name
        try:
            return problem(re.sub("^", template, "", count=1))  # the template with its escapes applied
        except (re.error, IndexError):
            return None  # not a template at all: the route's own check says so
    illegal = _illegal(literal)
    if illegal:
        return f"its literal part contains {illegal}; Kafka allows {ALLOWED} in topic names"
    if len(literal) > MAX_LENGTH:
        return f"its literal part alone is {len(literal)} characters long; Kafka allows at most {MAX_LENGTH}"
    return None


def shown(name: str, limit: int = 80) -> str:
    """A topic name (or route template) in a message, quoted as written: whole, or its start and length when it
    is too long to read. Characters Kafka does not allow are named by ``problem``."""
    return f"'{name}'" if len(name) <= limit else f"'{name[:limit]}'… ({len(name)} characters)"


def collisions(names: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of distinct names Kafka takes for the same one where ``.`` and ``_`` meet (sorted)."""
    first: dict[str, str] = {}
    found = []
    for name in sorted(set(names)):
        unified = name.replace(".", "_")
        other = first.setdefault(unified, name)
        if other != name:
            found.append((other, name))
    return found


def _illegal(text: str) -> str:
    chars = sorted(set(_ILLEGAL_CHAR.findall(text)))
    if not chars:
        return ""
    listed = ", ".join(repr(c) for c in chars[:5])
    more = f" and {len(chars) - 5} more" if len(chars) > 5 else ""
    return f"{'a character' if len(chars) == 1 else 'characters'} Kafka does not allow ({listed}{more})"
