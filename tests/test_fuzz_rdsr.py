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
from dicom_mutate import mutate
from doseline.dicom.rdsr import read_rdsr_bytes
from doseline.dicom.report import DoseReport
from doseline.errors import InvalidInputError

SEEDS = [
    "openrem/RF-RDSR-Siemens-Zee.dcm",  # explicit VR, defined lengths
    "openrem/RF-RDSR-Canon-Alphenix-rotational.dcm",  # explicit VR, undefined lengths
    "pyskindose/philips_allura_clarity_u104.dcm",  # implicit VR, biplane
    "openrem/CT-RDSR-Siemens_Flash-QA-DS.dcm",  # CT, dual source
]


def _read(data: bytes, strict: bool) -> DoseReport | InvalidInputError:
    try:
        return read_rdsr_bytes(data, source="fuzzed.dcm", strict=strict)
    except InvalidInputError as error:
        assert "fuzzed.dcm" in str(error)  # the error names the file
        return error


@pytest.mark.parametrize("name", SEEDS)
def test_seeded_mutations_give_a_report_or_a_named_error(name: str) -> None:
    data = Path(shared_rdsr(name)).read_bytes()
    rng = random.Random(20261125)
    outcomes = {"report": 0, "error": 0}
    for _ in range(150):
        mutated = mutate(data, rng)
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
