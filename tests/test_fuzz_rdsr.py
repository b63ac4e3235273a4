"""Bounded fuzzing of the RDSR reader.

Mutations of real dose reports (bit flips, truncation, insertion and deletion of bytes,
corrupted lengths of sequence items) must give either a report or one of doseline's input
errors (``InvalidInputError`` and its subclasses, which name the file and what is wrong):
never another exception, never a crash of the compiled scanner. The mutations are drawn from a
fixed seed so that CI runs are reproducible; hypothesis adds shrinking of any failure it finds.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import shared_rdsr
from doseline.dicom.rdsr import read_rdsr_bytes
from doseline.dicom.report import DoseReport
from doseline.errors import InvalidInputError

SEEDS = [
    "openrem/RF-RDSR-Siemens-Zee.dcm",  # explicit VR, defined lengths
    "openrem/RF-RDSR-Canon-Alphenix-rotational.dcm",  # explicit VR, undefined lengths
    "pyskindose/philips_allura_clarity_u104.dcm",  # implicit VR, biplane
    "openrem/CT-RDSR-Siemens_Flash-QA-DS.dcm",  # CT, dual source
]
ITEM_TAG = b"\xfe\xff\x00\xe0"


def _read(data: bytes, strict: bool) -> DoseReport | InvalidInputError:
    try:
        return read_rdsr_bytes(data, source="fuzzed.dcm", strict=strict)
    except InvalidInputError as error:
        assert "fuzzed.dcm" in str(error)  # the error names the file
        return error


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    start = 132  # keep the preamble and DICM marker most of the time
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
        positions = [i for i in range(start, len(buf) - 8) if buf[i : i + 4] == ITEM_TAG]
        if positions:
            i = rng.choice(positions)
            length = rng.choice([0, 1, 7, 0xFFFFFFFF, 0x7FFFFFFF, rng.randrange(1 << 16)])
            buf[i + 4 : i + 8] = length.to_bytes(4, "little")
    else:  # duplicate a chunk
        i = rng.randrange(start, len(buf))
        j = min(len(buf), i + rng.randint(8, 256))
        buf[j:j] = buf[i:j]
    return bytes(buf)


@pytest.mark.parametrize("name", SEEDS)
def test_seeded_mutations_give_a_report_or_a_named_error(name: str) -> None:
    data = Path(shared_rdsr(name)).read_bytes()
    rng = random.Random(20261125)
    outcomes = {"report": 0, "error": 0}
    for _ in range(150):
        mutated = _mutate(data, rng)
        for strict in (True, False):
            result = _read(mutated, strict)
            outcomes["report" if isinstance(result, DoseReport) else "error"] += 1
    # Both paths are exercised: some mutations are harmless, many are caught.
    assert outcomes["report"] > 0
    assert outcomes["error"] > 0


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    position=st.integers(min_value=0, max_value=62_000),
    replacement=st.binary(min_size=1, max_size=12),
)
def test_arbitrary_overwrites(position: int, replacement: bytes) -> None:
    data = bytearray(Path(shared_rdsr("openrem/RF-RDSR-Siemens-Zee.dcm")).read_bytes())
    position = min(position, len(data) - 1)
    data[position : position + len(replacement)] = replacement
    _read(bytes(data), strict=True)


def test_non_dicom_and_empty_input() -> None:
    for data in (b"", b"DICM", b"\x00" * 131 + b"D", b"not dicom at all" * 20):
        result = _read(data, strict=True)
        assert isinstance(result, InvalidInputError)
