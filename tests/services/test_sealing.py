"""Sealed secrets: readable back by this server, not from the database alone."""

from __future__ import annotations

import pytest

from lakeworks.config import Settings
from lakeworks.services import sealing


def test_sealed_values_open_only_with_the_same_secret_and_purpose(settings: Settings) -> None:
    token = sealing.seal(settings, "model-access-key", "abc123")
    assert "abc123" not in token
    assert sealing.seal(settings, "model-access-key", "abc123") != token  # fresh IV each time
    assert sealing.unseal(settings, "model-access-key", token) == "abc123"

    with pytest.raises(sealing.Unsealable, match="console-kernel-key"):
        sealing.unseal(settings, "console-kernel-key", token)
    other = settings.model_copy(update={"secret_key": "another secret key of enough length!!"})
    with pytest.raises(sealing.Unsealable):
        sealing.unseal(other, "model-access-key", token)
    with pytest.raises(sealing.Unsealable):
        sealing.unseal(settings, "model-access-key", token[:-4] + "AAAA")
    with pytest.raises(sealing.Unsealable):
        sealing.unseal(settings, "model-access-key", "not a token")
