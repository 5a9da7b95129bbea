"""One key per target topic: a start under another key id must not continue what the group wrote before.

A new key is an unrelated mapping, so a target topic holding records masked under two keys breaks every
join across them. At start the proxy compares the key in force with the key each target topic it will
write was last written under (the ``target/`` checkpoint records of its group, whichever instance wrote
them); a difference refuses the start unless the config's ``key_rotation`` acknowledges exactly that
switch. A policy change is allowed (policies evolve) and only reported. Pure: the runner reads the
checkpoints (and, for checkpoints that predate key ids, the audit topic's tail) and acts on the answer.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from streammask.errors import StreamMaskError
from streammask.proxy.checkpoint import CheckpointState, Written
from streammask.proxy.config import KeyRotation

RUNBOOK = "ops/runbooks/key-rotation.md"
MAX_LISTED = 10  # topics named in a message; the rest are counted
AUDIT_TAIL = 1000  # audit records read back per partition, only for checkpoints that predate key ids


class KeyChanged(StreamMaskError):
    """Target topics were last written under another key id, and no ``key_rotation`` acknowledges it."""


@dataclass(frozen=True)
class Rotation:
    """An acknowledged rotation that applies: the target topics it continues under the new key."""

    ack: KeyRotation
    targets: tuple[str, ...]

    def audit(self) -> dict[str, Any]:
        """The audit record's ``key_rotation``: who approved mixing which topics, and why."""
        return {**self.ack.model_dump(), "target_topics": list(self.targets)}


@dataclass(frozen=True)
class Assessment:
    rotation: Rotation | None
    """The acknowledged rotation, when the start needed one."""
    policy_from: str | None
    """The policy sha256 written under before, when it is not the one in force."""


def predates_key_ids(state: CheckpointState) -> bool:
    """Audit heads without key ids and no target records: checkpoints of a streammask before key checks,
    so the last audit record of the group is the only witness of the key used."""
    return not state.targets and bool(state.audit_heads.keys() - state.chains.keys())


def last_of_group(records: Iterable[tuple[bytes | None, bytes | None]], group: str) -> Written | None:
    """The key and policy of the group's last audit record among ``records`` (audit topic order)."""
    found = None
    for _, value in records:
        try:
            doc = orjson.loads(value or b"null")
        except orjson.JSONDecodeError:
            continue
        if not isinstance(doc, dict) or doc.get("group_id") != group:
            continue
        key_id, policy_sha256 = doc.get("key_id"), doc.get("policy_sha256")
        if isinstance(key_id, str) and isinstance(policy_sha256, str):
            found = Written(key_id, policy_sha256, str(doc.get("instance")))
    return found


def assess(
    state: CheckpointState,
    *,
    group: str,
    instance: str,
    key_id: str,
    policy_sha256: str,
    targets: Collection[str],
    rotation: KeyRotation | None,
    legacy: Written | None = None,
) -> Assessment:
    """Whether ``instance`` of ``group`` may write ``targets`` under ``key_id`` and ``policy_sha256``.

    ``legacy``: the group's last audit record, for checkpoints that predate key ids; it is taken to have
    written every one of ``targets`` (which topics it wrote is not recorded). Raises ``KeyChanged``."""
    written: Mapping[str, Written] = state.targets or ({t: legacy for t in targets} if legacy else {})
    found = check_key(group=group, key_id=key_id, targets=targets, written=written, rotation=rotation)
    before = previous_policy(state, instance, targets, legacy)
    return Assessment(found, before if before not in (None, policy_sha256) else None)


def previous_policy(
    state: CheckpointState, instance: str, targets: Collection[str], legacy: Written | None = None
) -> str | None:
    """The policy this instance's audit chain was last written under; for an instance without one, the
    policy one of ``targets`` was last written under (the latest)."""
    own = state.chains.get(instance)
    if own is not None:
        return own.policy_sha256
    for topic in reversed(state.targets):
        if topic in targets:
            return state.targets[topic].policy_sha256
    return legacy.policy_sha256 if legacy is not None else None


def check_key(
    *,
    group: str,
    key_id: str,
    targets: Iterable[str],
    written: Mapping[str, Written],
    rotation: KeyRotation | None,
) -> Rotation | None:
    """The rotation that lets ``key_id`` continue ``targets`` (None: none was needed); raises ``KeyChanged``
    when one of them was last written under another key and ``rotation`` does not acknowledge that key."""
    if rotation is not None and rotation.to_key_id != key_id:
        raise KeyChanged(
            f"key_rotation.to_key_id is {rotation.to_key_id!r}, but the key in force (the policy's key id) is "
            f"{key_id!r}: the acknowledgement is for another key; correct it or remove it"
        )
    conflicts: dict[str, list[tuple[str, Written]]] = {}
    for topic in sorted(set(targets)):
        before = written.get(topic)
        if before is not None and before.key_id != key_id:
            conflicts.setdefault(before.key_id, []).append((topic, before))
    if not conflicts:
        return None
    if rotation is not None and conflicts.keys() == {rotation.from_key_id}:
        return Rotation(rotation, tuple(topic for topic, _ in conflicts[rotation.from_key_id]))
    raise KeyChanged(_refusal(group, key_id, conflicts, rotation))


def _names(items: Collection[str]) -> str:
    shown = sorted(items)[:MAX_LISTED]
    more = f" and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
    return ", ".join(shown) + more


def _refusal(
    group: str, key_id: str, conflicts: Mapping[str, list[tuple[str, Written]]], rotation: KeyRotation | None
) -> str:
    found = "; ".join(
        f"target topic(s) {_names([t for t, _ in items])} last written under key id {old!r} "
        f"(instance {_names({w.instance for _, w in items})})"
        for old, items in sorted(conflicts.items())
    )
    lead = f"key id changed for group {group}: {found}; the key in force is {key_id!r}"
    if rotation is not None:
        lead = f"key_rotation acknowledges {rotation.from_key_id!r} -> {rotation.to_key_id!r}, but {lead}"
    rebuild = (
        f"rebuild under {key_id!r}: route to new target topics and run `streammask replay --config FILE "
        f"--from earliest` ({RUNBOOK})"
    )
    if len(conflicts) > 1:
        return (f"{lead}. Continuing would mix records of unrelated mappings in those topics and break every "
                f"join across them; nothing was consumed. One key_rotation cannot acknowledge several keys: "
                f"{rebuild}")
    [old] = conflicts
    return (
        f"{lead}. Continuing would mix records of two unrelated mappings in those topics and break every join "
        f"across them; nothing was consumed. Either {rebuild}; or, to continue those topics under {key_id!r} "
        f"anyway, acknowledge the mix in the config: key_rotation: {{from_key_id: {old}, to_key_id: {key_id}, "
        f"approved_by: <who>, reason: <why>}}"
    )
