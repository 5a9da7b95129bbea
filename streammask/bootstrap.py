"""From a policy path to a ready ``RecordMasker``: load and validate the policy, load its key, compile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streammask.keys import MasterKey, load_from_env, load_from_file
from streammask.masker import RecordMasker
from streammask.plan import CompiledPolicy
from streammask.policy import LoadedPolicy, load_policy


def load_key(loaded: LoadedPolicy) -> MasterKey:
    """The policy's key: from its env var, or its file (relative paths are relative to the policy)."""
    ref = loaded.policy.key
    if ref.env is not None:
        return load_from_env(ref.env, ref.id)
    path = Path(ref.file or "")
    if not path.is_absolute():
        path = Path(loaded.source).parent / path
    return load_from_file(path, ref.id)


@dataclass(frozen=True)
class MaskingSetup:
    loaded: LoadedPolicy
    key: MasterKey
    masker: RecordMasker


def open_masker(policy_path: str | Path) -> MaskingSetup:
    loaded = load_policy(policy_path)
    key = load_key(loaded)
    return MaskingSetup(loaded, key, RecordMasker(CompiledPolicy(loaded, key)))
