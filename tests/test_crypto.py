"""crypto.Prf / crypto.Permutation and keys: bijection, round trips, key separation, error hygiene."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from streammask.crypto import Permutation, Prf
from streammask.errors import KeyError_
from streammask.keys import MIN_KEY_BYTES, MasterKey, load_from_env, load_from_file

KEY = bytes(range(32))
KEY2 = bytes(range(1, 33))


# -- Permutation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 10, 100, 1000, 4096])
def test_permutation_is_exhaustive_bijection(n: int) -> None:
    perm = Permutation(KEY, n, b"t")
    image = [perm.encrypt(x) for x in range(n)]
    assert sorted(image) == list(range(n))
    assert [perm.decrypt(y) for y in image] == list(range(n))


@pytest.mark.parametrize("n", [100, 1000, 4096])
def test_permutation_is_not_identity_or_shift(n: int) -> None:
    perm = Permutation(KEY, n)
    image = [perm.encrypt(x) for x in range(n)]
    fixed = sum(1 for x, y in enumerate(image) if x == y)
    assert fixed < n // 20  # a random permutation has ~1 fixed point
    offsets = {(y - x) % n for x, y in enumerate(image)}
    assert len(offsets) > n // 4


@pytest.mark.parametrize("n", [2**64, 10**40, 2**129, 2**200, 2**64 + 3, 2**31 - 1])
def test_permutation_round_trip_on_big_domains(n: int) -> None:
    perm = Permutation(KEY, n, b"big")
    rng = random.Random(n)
    xs = [0, 1, n - 1, n // 2] + [rng.randrange(n) for _ in range(60)]
    ys = [perm.encrypt(x) for x in xs]
    assert all(0 <= y < n for y in ys)
    assert [perm.decrypt(y) for y in ys] == xs
    assert len(set(ys)) == len(set(xs))


def test_wide_round_is_used_for_big_domains() -> None:
    # Sanity of the test above: those domains really exercise the HMAC (wide) rounds.
    assert not Permutation(KEY, 2**64)._wide
    assert Permutation(KEY, 10**40)._wide
    assert Permutation(KEY, 2**200)._wide


@pytest.mark.parametrize("n", [1000, 2**64, 2**200])
def test_permutation_depends_on_tweak_and_key(n: int) -> None:
    xs = list(range(200)) if n == 1000 else [random.Random(7).randrange(n) for _ in range(200)]
    base = [Permutation(KEY, n, b"a").encrypt(x) for x in xs]
    other_tweak = [Permutation(KEY, n, b"b").encrypt(x) for x in xs]
    other_key = [Permutation(KEY2, n, b"a").encrypt(x) for x in xs]
    assert sum(a != b for a, b in zip(base, other_tweak, strict=True)) > 180
    assert sum(a != b for a, b in zip(base, other_key, strict=True)) > 180
    # and it is deterministic
    assert base == [Permutation(KEY, n, b"a").encrypt(x) for x in xs]


def test_permutation_depends_on_domain_size() -> None:
    a = [Permutation(KEY, 10_000).encrypt(x) for x in range(200)]
    b = [Permutation(KEY, 10_001).encrypt(x) for x in range(200)]
    assert sum(x != y for x, y in zip(a, b, strict=True)) > 180


@pytest.mark.parametrize("n", [1, 10, 2**64, 2**200])
def test_permutation_rejects_values_outside_domain(n: int) -> None:
    perm = Permutation(KEY, n)
    for bad in (-1, n, n + 1, 2 * n + 5):
        with pytest.raises(ValueError):
            perm.encrypt(bad)
        with pytest.raises(ValueError):
            perm.decrypt(bad)


@pytest.mark.parametrize("n", [0, -1])
def test_permutation_rejects_empty_domain(n: int) -> None:
    with pytest.raises(ValueError):
        Permutation(KEY, n)


# -- Prf -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 2**64, 10**30])
def test_prf_below_stays_in_range(n: int) -> None:
    prf = Prf(KEY)
    values = [prf.below(b"%d" % i, n) for i in range(300)]
    assert all(0 <= v < n for v in values)
    if n >= 2**64:
        assert len(set(values)) == 300
    if n == 1000:  # ~255 distinct expected (birthday collisions), and spread over the range
        assert len(set(values)) > 220
        assert min(values) < 50 and max(values) > 950
    if n == 7:
        assert set(values) == set(range(7))


def test_prf_below_is_deterministic_and_keyed() -> None:
    a, b = Prf(KEY), Prf(KEY2)
    xs = [b"v%d" % i for i in range(200)]
    assert [a.below(x, 2**40) for x in xs] == [Prf(KEY).below(x, 2**40) for x in xs]
    assert sum(a.below(x, 2**40) != b.below(x, 2**40) for x in xs) > 195


@pytest.mark.parametrize("length", [0, 1, 2, 31, 32, 63, 64, 65, 128, 200, 1000])
def test_prf_stream_length(length: int) -> None:
    prf = Prf(KEY)
    out = prf.stream(b"seed", length)
    assert isinstance(out, bytes)
    assert len(out) == length
    assert out == prf.stream(b"seed", length)
    if length >= 16:
        assert out != prf.stream(b"seeD", length)
        assert out != Prf(KEY2).stream(b"seed", length)
        assert len(set(out)) > 1


def test_prf_stream_long_output_is_not_periodic() -> None:
    out = Prf(KEY).stream(b"x", 64 * 8)
    blocks = {out[i : i + 64] for i in range(0, len(out), 64)}
    assert len(blocks) == 8


def test_prf_digest_and_hmac_differ_per_key_and_input() -> None:
    prf = Prf(KEY)
    assert len(prf.digest(b"a")) == 32 and len(prf.hmac(b"a")) == 32
    assert prf.digest(b"a") != prf.digest(b"b")
    assert prf.digest(b"a") != Prf(KEY2).digest(b"a")
    assert prf.hmac(b"a") != Prf(KEY2).hmac(b"a")


# -- keys ------------------------------------------------------------------------------------------


def test_master_key_rejects_short_secret_without_leaking_it() -> None:
    secret = b"Sup3rS3cretVal"  # 14 bytes
    assert len(secret) < MIN_KEY_BYTES
    with pytest.raises(KeyError_) as info:
        MasterKey(secret, "prod-2024")
    message = str(info.value)
    assert secret.decode() not in message
    assert secret.hex() not in message
    assert "prod-2024" in message


def test_master_key_accepts_minimum_length_and_hides_secret_in_repr() -> None:
    key = MasterKey(b"k" * MIN_KEY_BYTES, "id1")
    assert "kkkk" not in repr(key)


def test_subkeys_differ_per_purpose_and_per_master_key() -> None:
    a = MasterKey(KEY, "a")
    b = MasterKey(KEY2, "b")
    purposes = ["tokenize:int:x", "tokenize:str:x", "tokenize:int:y", "hash:x", "replace:x", ""]
    subkeys = [a.subkey(p) for p in purposes]
    assert len(set(subkeys)) == len(purposes)
    assert all(len(k) == 32 for k in subkeys)
    assert all(a.subkey(p) != b.subkey(p) for p in purposes)
    assert a.subkey("hash:x") == MasterKey(KEY, "other id").subkey("hash:x")  # the id is not key material
    assert len(a.subkey("x", 64)) == 64
    assert KEY not in a.subkey("x", 64)


def test_key_fingerprint_is_a_keyed_digest_of_a_fixed_label_stable_per_secret_unlike_across_secrets() -> None:
    """Issue 12: which key material is in force, without the key or anything that helps guess it."""
    a = MasterKey(KEY, "k1")
    subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"streammask/v1", info=b"fingerprint").derive(KEY)
    expected = hmac.new(subkey, b"streammask key fingerprint v1", hashlib.sha256).hexdigest()[:16]
    assert a.fingerprint == expected and len(expected) == 16 and int(expected, 16) >= 0
    assert a.fingerprint == MasterKey(KEY, "another id").fingerprint  # the id is a name, not key material
    assert a.fingerprint == MasterKey(bytes(KEY), "k1").fingerprint  # stable: a new object, the same secret
    others = {MasterKey(bytes([i]) * 16 + KEY[16:], "k1").fingerprint for i in range(256)}
    assert len(others) == 256 and a.fingerprint != MasterKey(KEY2, "k1").fingerprint
    # nothing of the key in it: not its hex, nor a plain hash of it, nor any masking purpose's subkey
    for text in (KEY.hex(), hashlib.sha256(KEY).hexdigest(), a.subkey("tokenize:customer_id").hex()):
        assert a.fingerprint not in text
        assert not any(text[i:i + 8] in a.fingerprint for i in range(len(text) - 7))
    assert a.fingerprint not in repr(a) and KEY.hex() not in repr(a)


def test_load_from_env_missing_or_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SM_TEST_KEY", raising=False)
    with pytest.raises(KeyError_, match="SM_TEST_KEY"):
        load_from_env("SM_TEST_KEY", "k1")
    monkeypatch.setenv("SM_TEST_KEY", "")
    with pytest.raises(KeyError_, match="SM_TEST_KEY"):
        load_from_env("SM_TEST_KEY", "k1")


def test_load_from_env_hex_and_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = bytes(range(200, 232))
    monkeypatch.setenv("SM_TEST_KEY", "  " + raw.hex() + "\n")
    key = load_from_env("SM_TEST_KEY", "k1")
    assert key.secret == raw and key.key_id == "k1"
    monkeypatch.setenv("SM_TEST_KEY", "correct horse battery staple")
    assert load_from_env("SM_TEST_KEY", "k1").secret == b"correct horse battery staple"


def test_load_from_env_short_key_error_does_not_contain_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for secret in ("tooShortPw", "deadbeefcafe"):  # raw text, and hex (6 bytes)
        monkeypatch.setenv("SM_TEST_KEY", secret)
        with pytest.raises(KeyError_) as info:
            load_from_env("SM_TEST_KEY", "k1")
        assert secret not in str(info.value)
        assert secret.lower() not in str(info.value).lower()


def test_load_from_file_hex_and_raw(tmp_path) -> None:
    raw = bytes(range(50, 82))
    hex_file = tmp_path / "hex.key"
    hex_file.write_text(raw.hex().upper() + "\n")
    assert load_from_file(hex_file, "f1").secret == raw
    text_file = tmp_path / "raw.key"
    text_file.write_text("  a passphrase that is long enough\n")
    key = load_from_file(text_file, "f2")
    assert key.secret == b"a passphrase that is long enough"
    assert key.key_id == "f2"


def test_load_from_file_errors_do_not_contain_key(tmp_path) -> None:
    missing = tmp_path / "nope.key"
    with pytest.raises(KeyError_, match="nope.key"):
        load_from_file(missing, "f1")
    empty = tmp_path / "empty.key"
    empty.write_text("  \n")
    with pytest.raises(KeyError_, match="empty"):
        load_from_file(empty, "f1")
    short = tmp_path / "short.key"
    short.write_text("hunter2hunter2\n")
    with pytest.raises(KeyError_) as info:
        load_from_file(short, "f1")
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(info.value)
    short_hex = tmp_path / "short_hex.key"
    short_hex.write_text("00112233445566778899\n")
    with pytest.raises(KeyError_) as info:
        load_from_file(short_hex, "f1")
    assert "0011223344" not in str(info.value)
