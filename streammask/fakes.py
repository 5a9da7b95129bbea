"""Realistic fake values drawn from Faker's locale datasets, deterministically.

Faker is only used to *build* pools: for each (locale, kind) a Faker seeded with a fixed seed generates
``POOL_SIZE`` values once; ``replace`` then picks from the pool with a keyed PRF. The pools depend only
on the pinned Faker release, so pseudonyms are stable across restarts, replays and instances.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache

from faker import Faker
from faker.config import AVAILABLE_LOCALES

POOL_SIZE = 4096
SAFE_DOMAINS = ("example.com", "example.org", "example.net")  # RFC 2606: never a real mailbox

# kind -> the Faker method that makes one value
POOL_KINDS: dict[str, Callable[[Faker], str]] = {
    "first_name": lambda f: f.first_name(),
    "last_name": lambda f: f.last_name(),
    "phone": lambda f: f.phone_number(),
    "street_address": lambda f: f.street_address(),
    "city": lambda f: f.city(),
    "postcode": lambda f: f.postcode(),
    "country": lambda f: f.country(),
    "company": lambda f: f.company(),
    "job": lambda f: f.job(),
}
COMPOSED_KINDS = ("full_name", "email", "username")
KINDS = tuple(sorted((*POOL_KINDS, *COMPOSED_KINDS)))


def locale_available(locale: str) -> bool:
    return locale in AVAILABLE_LOCALES


@lru_cache(maxsize=64)
def pool(locale: str, kind: str) -> tuple[str, ...]:
    """POOL_SIZE values of ``kind`` in ``locale``; the same tuple on every run of a Faker release."""
    fake = Faker(locale)
    fake.seed_instance(f"streammask:{locale}:{kind}")
    make = POOL_KINDS[kind]
    return tuple(make(fake) for _ in range(POOL_SIZE))


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits only (for e-mail local parts and user names)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed.lower() if ch.isascii() and ch.isalnum())
