"""Secrets the server must read back, sealed at rest with a key derived from its secret key.

A model's access key (shown again in the UI's sample code) and a console kernel's message key
(the server connects to the kernel with it) cannot be stored as hashes only. They are stored
as Fernet tokens (AES-128-CBC with HMAC-SHA256, from ``cryptography``) under a key derived
with HKDF from ``LAKEWORKS_SECRET_KEY`` and the secret's purpose, so a database dump alone
reveals neither, and one purpose's token never opens as another's.

Example::

    token = seal(settings, "model-access-key", "mkvxq2...")
    unseal(settings, "model-access-key", token)  # "mkvxq2..."
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lakeworks.config import Settings


class Unsealable(ValueError):
    """The token was not sealed by this server's secret key for this purpose (or is damaged)."""


@functools.lru_cache(maxsize=16)
def _fernet(secret_key: str, purpose: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"lakeworks-sealing", info=purpose.encode()
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(settings: Settings, purpose: str, value: str) -> str:
    return _fernet(settings.secret_key, purpose).encrypt(value.encode()).decode()


def unseal(settings: Settings, purpose: str, token: str) -> str:
    try:
        return _fernet(settings.secret_key, purpose).decrypt(token.encode()).decode()
    except (InvalidToken, UnicodeDecodeError) as exc:
        raise Unsealable(f"cannot unseal this {purpose}") from exc
