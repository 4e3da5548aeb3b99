"""Time-ordered identifiers (UUID version 7) that carry their own timestamp."""

from __future__ import annotations

import functools
import os
import re
import time
import uuid
from datetime import UTC, datetime


def uuid7(now_ms: int | None = None) -> str:
    """A UUIDv7 string: 48 bits of Unix milliseconds, then random bits (RFC 9562)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    h = f"{value:032x}"  # what str(uuid.UUID(int=value)) gives, without building the object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7s(n: int, now_ms: int | None = None) -> list[str]:
    """A list of n UUIDv7 strings of one millisecond, as uuid7() makes them, at half the cost each."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    head = (ms & ((1 << 48) - 1)).to_bytes(6, "big")
    if n > _ROW_WISE_MAX:
        return _uuid7s_columns(n, head)
    # One urandom call and one hex conversion for the lot; per id only the fixed bits are set.
    raw = bytearray(os.urandom(16 * n))
    for i in range(0, 16 * n, 16):
        raw[i : i + 6] = head
        raw[i + 6] = (raw[i + 6] & 0x0F) | 0x70  # version 7
        raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


# Up to this many ids, uuid7s() loops over them; beyond, numpy builds their text at once (a batch's
# thousand ids in a quarter of the loop's time; a fixed cost a request's single id does not repay).
_ROW_WISE_MAX = 16
# Where the 32 hex digits of an id go in its 36 characters (the others are dashes).
_DIGIT_COLUMNS = [i for i in range(36) if i not in (8, 13, 18, 23)]


def _uuid7s_columns(n: int, head: bytes) -> list[str]:
    """uuid7s() for many ids: the same bits, set and written out as hex a column at a time."""
    import numpy as np  # the predict function's, already imported there; other users never get here

    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, :6] = np.frombuffer(head, dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x70  # version 7
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    # Each id's 36 characters and a space, so that one split() cuts the text into the ids.
    text = np.full((n, 37), ord("-"), dtype=np.uint8)
    text[:, 36] = ord(" ")
    text[:, _DIGIT_COLUMNS] = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[nibbles]
    return text.tobytes().decode("ascii").split()


_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def uuid7_millis(value: str) -> int:
    """The Unix milliseconds embedded in a UUIDv7; ValueError if it is not one."""
    if _CANONICAL.fullmatch(value):  # the form uuid7() writes: read the 48 bits straight from the text
        return int(value[:8] + value[9:13], 16)
    u = uuid.UUID(value)
    if u.version != 7:
        raise ValueError("not a version 7 UUID")
    return u.int >> 80


@functools.lru_cache(maxsize=4096)
def _iso_seconds(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def iso_millis(ms: int) -> str:
    """UTC ISO 8601 with milliseconds and a Z, which sorts as text in time order."""
    # Cached per second: a batch stamps a thousand records within the same few milliseconds.
    return _iso_seconds(ms // 1000) + f"{ms % 1000:03d}Z"


def iso_utc(dt: datetime) -> str:
    """UTC ISO 8601 to the second with a Z: how windows and report times are written."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
