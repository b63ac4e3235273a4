"""Byte-level mutations of DICOM files for the fuzz tests (tests/test_fuzz_*.py).

Bit flips, truncation, insertion, deletion, corrupted sequence-item lengths and duplicated
chunks, drawn from a caller's seeded ``random.Random`` so that CI runs are reproducible.
"""

from __future__ import annotations

import random

ITEM_TAG = b"\xfe\xff\x00\xe0"  # (FFFE,E000) Item, little endian


def item_positions(buf: bytes, start: int) -> list[int]:
    positions: list[int] = []
    i = buf.find(ITEM_TAG, start)
    while i != -1 and i < len(buf) - 8:
        positions.append(i)
        i = buf.find(ITEM_TAG, i + 4)
    return positions


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random byte-level mutation of ``data``; the preamble and DICM marker are kept."""
    buf = bytearray(data)
    start = 132 if data[128:132] == b"DICM" else 0
    kind = rng.randrange(6)
    if kind == 0:  # bit flips
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(start, len(buf))
            buf[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        del buf[rng.randrange(start, len(buf)) :]
    elif kind == 2:  # insertion
        i = rng.randrange(start, len(buf))
        buf[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == 3:  # deletion
        i = rng.randrange(start, len(buf))
        del buf[i : i + rng.randint(1, 16)]
    elif kind == 4:  # corrupt the length of a sequence item
        positions = item_positions(data, start)
        if positions:
            i = rng.choice(positions)
            length = rng.choice([0, 1, 7, 0xFFFFFFFF, 0x7FFFFFFF, rng.randrange(1 << 16)])
            buf[i + 4 : i + 8] = length.to_bytes(4, "little")
    else:  # duplicate a chunk
        i = rng.randrange(start, len(buf))
        j = min(len(buf), i + rng.randint(8, 256))
        buf[j:j] = buf[i:j]
    return bytes(buf)
