"""API keys: `mm_<prefix>_<secret>`. Only the SHA-256 of the whole key is stored.

Keys are 190 random bits, so a fast hash is enough (as GitHub and Stripe tokens do); a slow password
hash would only add latency to every request.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "mm"


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    secret_hash: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key() -> NewKey:
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(24)}"
    return NewKey(plaintext=plaintext, prefix=prefix, secret_hash=hash_key(plaintext))


def parse_prefix(plaintext: str) -> str | None:
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def matches(plaintext: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_key(plaintext), secret_hash)
