"""From a policy path to a ready ``RecordMasker``: load and validate the policy, load its key, compile, and
give it the codecs of the records' wire format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streammask.codec import Codec, SchemaRegistries, WireFormat, build_codecs, close_codecs
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
    codecs: tuple[Codec, ...] = ()
    """The masker's codecs, kept to close what they hold (registry sessions) at shutdown."""

    def close(self) -> None:
        close_codecs(*self.codecs)


def open_masker(
    policy_path: str | Path,
    value_format: WireFormat = "json",
    key_format: WireFormat | None = None,
    registries: SchemaRegistries | None = None,
) -> MaskingSetup:
    """The wire settings are ``codec.build_codecs``'s; registry clients are made last, so a bad policy or
    key leaves none open."""
    loaded = load_policy(policy_path)
    key = load_key(loaded)
    value_codec, key_codec = build_codecs(value_format, key_format, registries)
    masker = RecordMasker(CompiledPolicy(loaded, key), value_codec, key_codec)
    return MaskingSetup(loaded, key, masker, (value_codec, key_codec))
