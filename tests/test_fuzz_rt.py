"""Bounded fuzzing of the DICOM-RT readers and of the RT ingest into the registry.

Contract (DESIGN.md, "Bad input"): a mutated RT Dose, RT Structure Set or RT Plan gives either
the typed object or one of doseline's input errors (``InvalidInputError`` and subclasses) whose
message names the file; never another exception. Ingest never raises on a bad file: it lists
the file as rejected, with a reason naming it, and leaves every registry table's row count
unchanged (one transaction per file).

References: the public example files of ../shared/data/rt (see its PROVENANCE.md), located as
``tests/test_rt_readers.py`` does; the mutations are synthetic. Byte mutations follow
``tests/test_fuzz_rdsr.py`` (fixed seeds for reproducible CI, hypothesis with
``derandomize=True`` and a bounded number of examples for shrinking); the attribute mutations
remove or garble the attributes the readers rely on (DICOM PS3.3 C.8.8.3 Dose Grid Scaling and
Grid Frame Offset Vector, C.8.8.6 Contour Data, C.8.8.5/C.8.8.8 ROI numbers, PS3.4 B.5 SOP
Class UIDs).
"""

from __future__ import annotations

import copy
import random
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from sqlalchemy import func, select

from conftest import SHARED_DATA
from dicom_mutate import mutate
from doseline.dicom.rt_dose import RTDose, read_rt_dose
from doseline.dicom.rt_plan import RTPlan, read_rt_plan
from doseline.dicom.rt_struct import RTStructureSet, read_rt_structure_set
from doseline.errors import InvalidInputError
from doseline.ingest import ingest
from doseline.registry.base import Base
from doseline.registry.database import Registry

RT_DIR = SHARED_DATA / "rt"
EXAMPLE = RT_DIR / "dicompyler_core_example"
PYDICOM = RT_DIR / "pydicom_testfiles"

Reader = Callable[[Path], Any]
READERS: dict[str, tuple[Reader, type]] = {
    "dose": (read_rt_dose, RTDose),
    "struct": (read_rt_structure_set, RTStructureSet),
    "plan": (read_rt_plan, RTPlan),
}
SEEDS = [
    ("dose", PYDICOM / "rtdose.dcm"),  # small grid, RELATIVE units, BEAM summation
    ("struct", PYDICOM / "rtstruct.dcm"),  # no preamble
    ("plan", PYDICOM / "rtplan.dcm"),
    ("plan", EXAMPLE / "rtplan.dcm"),  # 4 dynamic beams
    ("struct", EXAMPLE / "rtss.dcm"),  # 10 ROIs, large contours
    ("dose", EXAMPLE / "rtdose.dcm"),  # 10 MB grid with 9 stored DVHs
]


def _seed(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"DICOM-RT reference file {path.name} not found under {path.parent}")
    return path


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """A scratch folder shared by the hypothesis examples of this module."""
    with tempfile.TemporaryDirectory(prefix="doseline-fuzz-rt-") as folder:
        yield Path(folder)


def _read(kind: str, data: bytes, folder: Path) -> object:
    """Read ``data`` as an RT object of ``kind``; return the object or the input error."""
    reader, expected = READERS[kind]
    path = folder / f"fuzzed-{kind}.dcm"
    path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = reader(path)
    except InvalidInputError as error:
        assert path.name in str(error), f"error does not name the file: {error}"
        return error
    assert isinstance(result, expected)
    return result


@pytest.mark.parametrize(("kind", "path"), SEEDS, ids=lambda v: str(getattr(v, "name", v)))
def test_seeded_byte_mutations_give_an_object_or_a_named_error(
    kind: str, path: Path, workdir: Path
) -> None:
    data = _seed(path).read_bytes()
    rng = random.Random(20261126)
    rounds = 25 if len(data) > 1_000_000 else 120
    outcomes = {"object": 0, "error": 0}
    for _ in range(rounds):
        result = _read(kind, mutate(data, rng), workdir)
        outcomes["error" if isinstance(result, InvalidInputError) else "object"] += 1
    # Both paths are exercised: some mutations are harmless, many are caught.
    assert outcomes["object"] > 0
    assert outcomes["error"] > 0


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    choice=st.integers(min_value=0, max_value=2),
    position=st.integers(min_value=0, max_value=8_000),
    replacement=st.binary(min_size=1, max_size=12),
)
def test_arbitrary_overwrites_of_small_files(
    choice: int, position: int, replacement: bytes, workdir: Path
) -> None:
    kind, path = SEEDS[choice]
    data = bytearray(_seed(path).read_bytes())
    position = min(position, len(data) - 1)
    data[position : position + len(replacement)] = replacement
    _read(kind, bytes(data), workdir)


def test_empty_and_non_dicom_files(workdir: Path) -> None:
    for kind in READERS:
        for data in (b"", b"DICM", b"\x00" * 131 + b"D", b"not dicom at all" * 20):
            assert isinstance(_read(kind, data, workdir), InvalidInputError)


# --- attribute-level mutations --------------------------------------------------------------

_GARBAGE = st.one_of(
    st.none(),  # delete the attribute
    st.just(""),
    st.text(alphabet="0123456789.-+eE\\ naNinf", max_size=24),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
)


def _set(dataset: Dataset, keyword: str, value: Any) -> None:
    """Set (or delete, for ``None``) an attribute, keeping its VR; skip values pydicom refuses."""
    if value is None:
        if keyword in dataset:
            delattr(dataset, keyword)
        return
    if isinstance(value, list):
        value = [v if isinstance(v, str) else repr(v)[:16] for v in value]  # DS: "nan", "inf"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        setattr(dataset, keyword, value)


def _write(dataset: Dataset, folder: Path, name: str) -> bytes:
    path = folder / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset.save_as(path, enforce_file_format=False)
    return path.read_bytes()


@pytest.fixture(scope="module")
def small_datasets() -> dict[str, Dataset]:
    return {kind: pydicom.dcmread(_seed(path), force=True) for kind, path in SEEDS[:3]}


_DOSE_KEYS = [
    "DoseGridScaling",
    "GridFrameOffsetVector",
    "NumberOfFrames",
    "Rows",
    "Columns",
    "PixelSpacing",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "DoseUnits",
    "DoseSummationType",
    "FrameOfReferenceUID",
    "BitsAllocated",
    "PixelRepresentation",
]


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(keyword=st.sampled_from(_DOSE_KEYS), value=_GARBAGE)
def test_garbled_dose_attributes(
    keyword: str, value: Any, small_datasets: dict[str, Dataset], workdir: Path
) -> None:
    dataset = copy.deepcopy(small_datasets["dose"])
    try:
        _set(dataset, keyword, value)
        data = _write(dataset, workdir, "garbled.dcm")
    except (ValueError, TypeError, OverflowError, OSError):
        return  # pydicom refuses to encode the value: nothing to read
    _read("dose", data, workdir)


def test_dose_without_scaling_or_offsets_is_refused(
    small_datasets: dict[str, Dataset], workdir: Path
) -> None:
    # Reference: DICOM C.8.8.3 -- without Dose Grid Scaling the stored integers are not dose;
    # a multi-frame grid needs one Grid Frame Offset per frame.
    for keyword, value in [
        ("DoseGridScaling", None),
        ("GridFrameOffsetVector", None),
        ("GridFrameOffsetVector", ["0", "1"]),
        ("GridFrameOffsetVector", ["0"] * 15),  # not strictly monotonic
    ]:
        dataset = copy.deepcopy(small_datasets["dose"])
        _set(dataset, keyword, value)
        error = _read("dose", _write(dataset, workdir, "x.dcm"), workdir)
        assert isinstance(error, InvalidInputError)
        assert error.field == keyword


_STRUCT_MUTATIONS = ["contour_count", "contour_values", "roi_reference", "roi_number", "points"]


@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    mutation=st.sampled_from(_STRUCT_MUTATIONS),
    which=st.integers(min_value=0, max_value=50),
    value=st.one_of(st.integers(min_value=-5, max_value=10**6), _GARBAGE),
)
def test_garbled_structure_sets(
    mutation: str,
    which: int,
    value: Any,
    small_datasets: dict[str, Dataset],
    workdir: Path,
) -> None:
    dataset = copy.deepcopy(small_datasets["struct"])
    contours = [c for roi in dataset.ROIContourSequence for c in roi.get("ContourSequence", [])]
    try:
        if mutation == "contour_count":  # ContourData with a count not divisible by 3
            contour = contours[which % len(contours)]
            contour.ContourData = list(contour.ContourData)[: max(1, which % 7)]
        elif mutation == "contour_values":
            _set(contours[which % len(contours)], "ContourData", value)
        elif mutation == "points":
            _set(contours[which % len(contours)], "NumberOfContourPoints", value)
        elif mutation == "roi_reference":  # an ROI Contour referencing no Structure Set ROI
            rois = dataset.ROIContourSequence
            _set(rois[which % len(rois)], "ReferencedROINumber", value)
        else:
            rois = dataset.StructureSetROISequence
            _set(rois[which % len(rois)], "ROINumber", value)
        data = _write(dataset, workdir, "garbled.dcm")
    except (ValueError, TypeError, OverflowError, OSError):
        return
    _read("struct", data, workdir)


_PLAN_KEYS = [
    ("", "RTPlanLabel"),
    ("FractionGroupSequence", "NumberOfFractionsPlanned"),
    ("FractionGroupSequence", "NumberOfBeams"),
    ("BeamSequence", "BeamNumber"),
    ("BeamSequence", "NumberOfControlPoints"),
    ("BeamSequence", "RadiationType"),
    ("BeamSequence", "ControlPointSequence"),
    ("DoseReferenceSequence", "TargetPrescriptionDose"),
]


@settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(target=st.sampled_from(_PLAN_KEYS), value=_GARBAGE)
def test_garbled_plans(
    target: tuple[str, str], value: Any, small_datasets: dict[str, Dataset], workdir: Path
) -> None:
    dataset = copy.deepcopy(small_datasets["plan"])
    sequence, keyword = target
    items = dataset.get(sequence, []) if sequence else [dataset]
    try:
        for item in items:
            _set(item, keyword, None if keyword.endswith("Sequence") else value)
        data = _write(dataset, workdir, "garbled.dcm")
    except (ValueError, TypeError, OverflowError, OSError):
        return
    _read("plan", data, workdir)


def test_wrong_sop_class_is_refused_naming_the_file(workdir: Path) -> None:
    # Reference: PS3.4 B.5 -- each reader accepts only its own storage class.
    for kind, path in SEEDS[:3]:
        for other in READERS:
            if other == kind:
                continue
            error = _read(other, _seed(path).read_bytes(), workdir)
            assert isinstance(error, InvalidInputError) and error.field == "SOPClassUID"


# --- registry ingest -------------------------------------------------------------------------


def _row_counts(registry: Registry) -> dict[str, int]:
    with registry.engine.connect() as connection:
        return {
            name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in Base.metadata.tables.items()
        }


def test_ingest_of_mutated_rt_files_is_all_or_nothing(
    sqlite_registry: Registry, tmp_path: Path
) -> None:
    registry = sqlite_registry
    rng = random.Random(20261126)
    folder = tmp_path / "in"
    folder.mkdir()
    rejected = imported = 0
    for round_ in range(60):
        _, seed = SEEDS[round_ % len(SEEDS)]
        data = _seed(seed).read_bytes()
        target = folder / f"mutated-{round_}-{seed.name}"
        target.write_bytes(mutate(data, rng))
        before = _row_counts(registry)
        summary = ingest(registry, [target], centre="fuzz")
        if summary.rejections:
            rejected += 1
            assert [r.source for r in summary.rejections] == [str(target)]
            assert target.name in summary.rejections[0].reason
            assert _row_counts(registry) == before, summary.rejections
        else:
            imported += summary.imported
        target.unlink()
    assert rejected > 0 and imported > 0


def test_ingest_of_garbled_dose_leaves_the_registry_unchanged(
    registry: Registry, tmp_path: Path
) -> None:
    # A coherent course, then doses with key attributes removed or garbled: each is refused
    # whole (DoseGridScaling: DICOM C.8.8.3) and nothing is written.
    folder = tmp_path / "course"
    folder.mkdir()
    for name in ("rtplan.dcm", "rtss.dcm"):
        shutil.copy(_seed(EXAMPLE / name), folder / name)
    first = ingest(registry, [folder], centre="c")
    assert first.rejections == [] and first.imported == 2
    dose = pydicom.dcmread(_seed(EXAMPLE / "rtdose.dcm"))
    for index, (keyword, value) in enumerate(
        [
            ("DoseGridScaling", None),
            ("DoseGridScaling", "-1"),
            ("GridFrameOffsetVector", ["0", "3"]),
            ("ReferencedRTPlanSequence", None),
            ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.481.99"),
            ("FrameOfReferenceUID", None),
        ]
    ):
        before = _row_counts(registry)
        edited = copy.deepcopy(dose)
        _set(edited, keyword, value)
        edited.SOPInstanceUID = f"1.2.826.0.1.3680043.10.1.{index}"
        target = tmp_path / f"garbled-{index}.dcm"
        _write(edited, tmp_path, target.name)
        summary = ingest(registry, [target], centre="c")
        if keyword == "ReferencedRTPlanSequence":
            continue  # a dose without its plan reference may be stored on its own
        assert len(summary.rejections) == 1, (keyword, summary.outcomes)
        assert target.name in summary.rejections[0].reason
        assert _row_counts(registry) == before


def test_contour_count_and_dangling_roi_reference_are_named(
    small_datasets: dict[str, Dataset], workdir: Path
) -> None:
    # Reference: DICOM C.8.8.6 (Contour Data holds x\y\z triplets) and C.8.8.6/C.8.8.5 (an ROI
    # Contour's Referenced ROI Number must be defined in the Structure Set ROI Sequence).
    truncated = copy.deepcopy(small_datasets["struct"])
    contour = truncated.ROIContourSequence[0].ContourSequence[0]
    contour.ContourData = list(contour.ContourData)[:-1]
    error = _read("struct", _write(truncated, workdir, "x.dcm"), workdir)
    assert isinstance(error, InvalidInputError) and error.field == "ContourData"
    assert error.record is not None and "contour 0" in error.record
    dangling = copy.deepcopy(small_datasets["struct"])
    dangling.ROIContourSequence[0].ReferencedROINumber = 999
    error = _read("struct", _write(dangling, workdir, "x.dcm"), workdir)
    assert isinstance(error, InvalidInputError) and error.field == "ReferencedROINumber"
    assert "999" in str(error)
