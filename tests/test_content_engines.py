"""The compiled content scanner against pydicom (the reference implementation), file by file.

Reference: pydicom's own parse of the same files (``content_tree_from_dataset`` walks
``pydicom.Dataset`` objects). Both must give the same tree and the same report exactly: the
compiled parser of decimal strings is exact (Clinger's fast path, or Python's ``float``).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pydicom
import pytest

from conftest import RDSR_DIR
from doseline.dicom.content import ContentTree, content_tree_from_bytes, content_tree_from_dataset
from doseline.dicom.rdsr import read_rdsr
from doseline.errors import NotADoseReportError

FILES = sorted(p.relative_to(RDSR_DIR).as_posix() for p in RDSR_DIR.glob("*/*.dcm"))


def _rows(tree: ContentTree) -> list[tuple[object, ...]]:
    def code(row: int) -> tuple[str, str, str] | None:
        return tuple(tree.codes[row]) if row >= 0 else None  # type: ignore[return-value]

    return [
        (
            int(tree.parent[i]),
            int(tree.value_type[i]),
            int(tree.relationship[i]),
            code(int(tree.concept[i])),
            code(int(tree.coded_value[i])),
            None if math.isnan(tree.numeric[i]) else float(tree.numeric[i]),
            int(tree.numeric_count[i]),
            code(int(tree.unit[i]))[:2] if tree.unit[i] >= 0 else None,  # type: ignore[index]
            tree.text(i),
        )
        for i in range(len(tree))
    ]


@pytest.mark.parametrize("name", FILES)
def test_compiled_tree_equals_pydicom_tree(name: str) -> None:
    data = (RDSR_DIR / name).read_bytes()
    stream = io.BytesIO(data)
    header = pydicom.filereader.read_partial(stream, stop_when=lambda t, v, n: t == 0x0040A730)
    dataset = pydicom.dcmread(io.BytesIO(data))
    reference = content_tree_from_dataset(dataset)
    root = reference.codes[int(reference.concept[0])]
    fast = content_tree_from_bytes(
        data,
        stream.tell(),
        implicit_vr=header.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2",
        encodings=pydicom.charset.convert_encodings(header.get("SpecificCharacterSet") or ""),
        root_concept=root,
    )
    assert len(fast) == len(reference)
    assert np.array_equal(fast.parent, reference.parent)
    assert _rows(fast) == _rows(reference)


@pytest.mark.parametrize("name", FILES)
def test_compiled_report_equals_pydicom_report(name: str) -> None:
    try:
        reference = read_rdsr(RDSR_DIR / name, engine="pydicom")
    except NotADoseReportError:
        with pytest.raises(NotADoseReportError):
            read_rdsr(RDSR_DIR / name)
        return
    assert read_rdsr(RDSR_DIR / name) == reference
