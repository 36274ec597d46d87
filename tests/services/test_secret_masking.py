"""services.secret_masking: secret values never come out of a log read, whatever the windows."""

from __future__ import annotations

import pytest

from lakeworks.services.secret_masking import MASK, Masker

LOG = b"start s3cr3t-value mid s3cr3t-value\nline two: multi-line-part ok s3cr end"
SECRETS = ["s3cr3t-value", "first line\nmulti-line-part", "abc"]


def read_all(masker: Masker, log: bytes, limit: int, *, growing: bool) -> tuple[bytes, int]:
    """Read ``log`` in windows of ``limit`` bytes as ``workloads.read_log`` does."""
    out, offset = b"", 0
    look = masker.longest - 1
    while True:
        begin = max(offset - look, 0)
        raw = log[begin : offset + limit + look]
        end = min(offset + limit, begin + len(raw))
        if end <= offset:
            return out, offset
        data, offset = masker.mask_window(raw, begin, offset, end, growing=growing)
        out += data
        if not data and growing:
            return out, offset


def test_values_and_lines_of_multi_line_values_are_masked_short_ones_are_not() -> None:
    masker = Masker(SECRETS)
    masked = masker.mask(LOG)
    assert b"s3cr3t" not in masked and b"multi-line-part" not in masked
    assert masked.count(MASK) == 3
    assert b"s3cr end" in masked  # a different string that merely starts like a secret
    assert Masker(["abc", "  "]).mask(b"abc") == b"abc"  # under MIN_LENGTH: left alone
    assert not Masker([]) and Masker([]).mask(LOG) == LOG


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 7, 11, 13, 64, 1000])
def test_no_window_size_lets_a_value_through(limit: int) -> None:
    masker = Masker(SECRETS)
    out, offset = read_all(masker, LOG, limit, growing=False)
    assert offset == len(LOG)
    assert b"s3cr3t" not in out and b"3cr3t-v" not in out and b"line-pa" not in out
    assert out.replace(MASK, b"") == masker.mask(LOG).replace(MASK, b"")
    assert out.startswith(b"start ") and out.endswith(b"s3cr end")


def test_a_growing_log_holds_back_what_could_start_a_value() -> None:
    masker = Masker(["s3cr3t-value"])
    first, offset = read_all(masker, b"token: s3cr", 100, growing=True)
    assert first == b"token: " and offset == len(b"token: ")
    # The rest arrives; the next read starts where the last one stopped.
    full = b"token: s3cr3t-value\n"
    begin = max(offset - (masker.longest - 1), 0)
    data, end = masker.mask_window(full[begin:], begin, offset, len(full), growing=True)
    assert first + data == b"token: " + MASK + b"\n" and end == len(full)
    # Once the workload ended, nothing is held back.
    ended, _ = read_all(masker, b"token: s3cr", 100, growing=False)
    assert ended == b"token: s3cr"
