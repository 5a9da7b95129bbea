"""One key per target topic: a start under another key must not continue what the group wrote before.

A new key is an unrelated mapping, so a target topic holding records masked under two keys breaks every
join across them. At start the proxy compares the key in force with the key each target topic it will
write was last written under (the ``target/`` checkpoint records of its group, whichever instance wrote
them): its key id and, where recorded, its fingerprint (new key material under an old key id is as new a
mapping as a new key id). A difference refuses the start unless the config's ``key_rotation`` acknowledges
exactly that switch; ``replay`` to topics decides with the same ``check_key``. A policy change is allowed
(policies evolve) and only reported. Pure: the runner reads the checkpoints (and, for checkpoints that predate
key ids, the audit topic's tail) and acts on the answer.
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
        return {**self.ack.model_dump(exclude_none=True), "target_topics": list(self.targets)}


@dataclass(frozen=True)
class Assessment:
    rotation: Rotation | None
    """The acknowledged rotation, when the start needed one."""
    policy_from: str | None
    """The policy sha256 written under before, when it is not the one in force."""

    def notes(self) -> dict[str, Any]:
        """What the first audit record after the start notes (``build_record``'s ``notes``): the acknowledged
        ``key_rotation`` and ``policy_changed_from``, each when it applies."""
        notes: dict[str, Any] = {}
        if self.rotation is not None:
            notes["key_rotation"] = self.rotation.audit()
        if self.policy_from is not None:
            notes["policy_changed_from"] = self.policy_from
        return notes


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
            fingerprint = doc.get("key_fingerprint")
            found = Written(key_id, policy_sha256, str(doc.get("instance")),
                            fingerprint if isinstance(fingerprint, str) else None)
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
    key_fingerprint: str | None = None,
) -> Assessment:
    """Whether ``instance`` of ``group`` may write ``targets`` under ``key_id`` (with ``key_fingerprint``) and
    ``policy_sha256``.

    ``legacy``: the group's last audit record, for checkpoints that predate key ids; it is taken to have
    written every one of ``targets`` (which topics it wrote is not recorded). Raises ``KeyChanged``."""
    written: Mapping[str, Written] = state.targets or ({t: legacy for t in targets} if legacy else {})
    found = check_key(group=group, key_id=key_id, targets=targets, written=written, rotation=rotation,
                      key_fingerprint=key_fingerprint)
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


Old = tuple[str, str | None]
"""A key target topics were last written under: its id and fingerprint (None: not recorded)."""


def check_key(
    *,
    group: str,
    key_id: str,
    targets: Iterable[str],
    written: Mapping[str, Written],
    rotation: KeyRotation | None,
    key_fingerprint: str | None = None,
) -> Rotation | None:
    """The rotation that lets the key in force (``key_id``, ``key_fingerprint``) continue ``targets`` (None:
    none was needed); raises ``KeyChanged`` when one of them was last written under another key id, or under
    the same key id with other key material, and ``rotation`` does not acknowledge exactly that key. ``run``
    at start and ``replay`` to topics both decide here. A fingerprint not recorded (older checkpoints) is not
    judged."""
    check_acknowledgement(rotation, key_id, key_fingerprint)
    conflicts: dict[Old, list[tuple[str, Written]]] = {}
    for topic in sorted(set(targets)):
        before = written.get(topic)
        if before is None:
            continue
        other_material = None not in (before.key_fingerprint, key_fingerprint) and (
            before.key_fingerprint != key_fingerprint)
        if before.key_id != key_id or other_material:
            conflicts.setdefault((before.key_id, before.key_fingerprint), []).append((topic, before))
    if not conflicts:
        return None
    if rotation is not None and _acknowledges(rotation, conflicts):
        return Rotation(rotation, tuple(sorted(topic for items in conflicts.values() for topic, _ in items)))
    raise KeyChanged(_refusal(group, key_id, key_fingerprint, conflicts, rotation))


def check_acknowledgement(rotation: KeyRotation | None, key_id: str, key_fingerprint: str | None) -> None:
    """A ``key_rotation`` must name the key in force as the one it rotates to (``KeyChanged`` otherwise),
    whether or not there is anything to acknowledge: one for another key is a mistake to correct."""
    if rotation is None:
        return
    if rotation.to_key_id != key_id:
        raise KeyChanged(
            f"key_rotation.to_key_id is {rotation.to_key_id!r}, but the key in force (the policy's key id) is "
            f"{key_id!r}: the acknowledgement is for another key; correct it or remove it"
        )
    if None not in (rotation.to_fingerprint, key_fingerprint) and rotation.to_fingerprint != key_fingerprint:
        raise KeyChanged(
            f"key_rotation.to_fingerprint is {rotation.to_fingerprint}, but the key in force ({key_id!r}) has "
            f"fingerprint {key_fingerprint}: the acknowledgement is for other key material; correct it or remove it"
        )


def _acknowledges(rotation: KeyRotation, conflicts: Mapping[Old, object]) -> bool:
    """Whether ``rotation`` is from the one key all ``conflicts`` were written under. An unrecorded
    fingerprint is taken to be whichever one the others under that id have."""
    ids = {key_id for key_id, _ in conflicts}
    fingerprints = {fp for _, fp in conflicts if fp is not None}
    if ids != {rotation.from_key_id} or len(fingerprints) > 1:
        return False
    return rotation.from_fingerprint is None or fingerprints <= {rotation.from_fingerprint}


def _names(items: Collection[str]) -> str:
    shown = sorted(items)[:MAX_LISTED]
    more = f" and {len(items) - len(shown)} more" if len(items) > len(shown) else ""
    return ", ".join(shown) + more


def _found(old: Old, items: list[tuple[str, Written]], key_id: str, ambiguous: set[str], same_id: bool) -> str:
    """One old key's topics, as the refusal lists them (``same_id``: the refusal is about the key id in force
    only, and says so first)."""
    old_id, old_fp = old
    topics, instances = _names([t for t, _ in items]), _names({w.instance for _, w in items})
    if old_id == key_id:
        under = "" if same_id else f"key id {key_id!r} with another "
        return f"target topic(s) {topics} last written under {under}fingerprint {old_fp} (instance {instances})"
    fingerprint = f"fingerprint {old_fp}; " if old_id in ambiguous and old_fp is not None else ""
    return f"target topic(s) {topics} last written under key id {old_id!r} ({fingerprint}instance {instances})"


def _refusal(
    group: str, key_id: str, key_fingerprint: str | None, conflicts: Mapping[Old, list[tuple[str, Written]]],
    rotation: KeyRotation | None,
) -> str:
    old_ids = {old_id for old_id, _ in conflicts}
    old_fps = {fp for _, fp in conflicts if fp is not None}
    known = [old_id for old_id, fp in conflicts if fp is not None]
    ambiguous = {old_id for old_id in known if known.count(old_id) > 1}
    found = "; ".join(_found(old, items, key_id, ambiguous, old_ids == {key_id})
                      for old, items in sorted(conflicts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")))
    if old_ids == {key_id}:  # new material under the same id, nothing else
        change = f"{next(iter(old_fps))} → {key_fingerprint}" if len(old_fps) == 1 else f"now {key_fingerprint}"
        lead = (f"same key id {key_id!r} but another key (fingerprint {change}) for group {group}: the key material "
                f"changed without a new key id; {found}")
    else:
        in_force = f"{key_id!r}" + (f" (fingerprint {key_fingerprint})" if key_fingerprint is not None else "")
        lead = f"key id changed for group {group}: {found}; the key in force is {in_force}"
    if rotation is not None:
        acknowledged = f"{rotation.from_key_id!r} -> {rotation.to_key_id!r}"
        if rotation.fingerprints:
            acknowledged += f" ({rotation.fingerprints})"
        lead = f"key_rotation acknowledges {acknowledged}, but {lead}"
    rebuild = (
        f"rebuild under {key_id!r}: route to new target topics and run `streammask replay --config FILE "
        f"--from earliest` ({RUNBOOK})"
    )
    if len(old_ids) > 1 or len(old_fps) > 1:
        return (f"{lead}. Continuing would mix records of unrelated mappings in those topics and break every "
                f"join across them; nothing was consumed. One key_rotation cannot acknowledge several keys: "
                f"{rebuild}")
    [old_id] = old_ids
    mix = (f"{lead}. Continuing would mix records of two unrelated mappings in those topics and break every join "
           f"across them; nothing was consumed.")
    if old_id == key_id:
        [old_fp] = old_fps
        return (
            f"{mix} If the key was replaced by mistake, start with the key of fingerprint {old_fp} again. Otherwise "
            f"give the new key a new key id (the policy's key.id) and rebuild: route to new target topics and run "
            f"`streammask replay --config FILE --from earliest` ({RUNBOOK}); or, to continue those topics under the "
            f"new key anyway, acknowledge the mix in the config: key_rotation: {{from_key_id: {key_id}, to_key_id: "
            f"{key_id}, from_fingerprint: {old_fp}, to_fingerprint: {key_fingerprint}, approved_by: <who>, "
            f"reason: <why>}}"
        )
    return (
        f"{mix} Either {rebuild}; or, to continue those topics under {key_id!r} anyway, acknowledge the mix in the "
        f"config: key_rotation: {{from_key_id: {old_id}, to_key_id: {key_id}, approved_by: <who>, reason: <why>}}"
    )
