"""The direct SR encoder (doseline.dicom.sr_encode) against pydicom's writer.

Reference: pydicom's ``dcmwrite`` of the same content as pydicom data sets
(``write_rdsr(..., engine="pydicom")``, :func:`sr_encode.to_sequence`), which wrote every report
before the direct encoder existed. Tolerance: none, the files must be equal byte for byte, and
``pydicom.dcmread`` of the direct file must give a data set equal to the one pydicom wrote.
Inputs: the reports of test_rdsr_write.py (every field the writer carries) for every preset,
single-plane and biplane; synthetic cohort reports of every centre written with every preset;
and single content items with edge-case values (odd lengths, empty values, backslashes,
non-ASCII text in several character sets, empty sequences).
"""

from __future__ import annotations

import io
import warnings
from datetime import datetime
from pathlib import Path

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import dcmwrite
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from conftest import RDSR_DIR
from doseline.cohort import SyntheticCohort, generate_cohort
from doseline.dicom import sr_encode as sr
from doseline.dicom.rdsr import read_rdsr
from doseline.dicom.rdsr_write import GE, PRESETS, VendorConventions, rdsr_dataset, write_rdsr
from doseline.dicom.report import DoseReport, ReportKindValues
from test_rdsr_write import REAL_FILE_PARAMS, REAL_FILES, make_report

PRESET_IDS = sorted(PRESETS)
SYNTAXES = [sr.EXPLICIT_VR_LITTLE_ENDIAN, sr.IMPLICIT_VR_LITTLE_ENDIAN]


def both_engines(report: DoseReport, conventions: VendorConventions) -> tuple[bytes, bytes]:
    """The file written by the direct encoder and by pydicom."""
    out = []
    for engine in ("direct", "pydicom"):
        buffer = io.BytesIO()
        write_rdsr(
            report,
            buffer,
            patient_name="SYNTH^CHILD0000001",
            conventions=conventions,
            engine=engine,
        )
        out.append(buffer.getvalue())
    return out[0], out[1]


def assert_same_file(direct: bytes, reference: bytes) -> None:
    if direct != reference:
        at = next(
            (i for i, (a, b) in enumerate(zip(direct, reference, strict=False)) if a != b),
            min(len(direct), len(reference)),
        )
        pytest.fail(
            f"files differ from byte {at} (lengths {len(direct)}, {len(reference)}): "
            f"{direct[at : at + 24]!r} != {reference[at : at + 24]!r}"
        )


@pytest.mark.parametrize("biplane", [False, True], ids=["single", "biplane"])
@pytest.mark.parametrize("name", PRESET_IDS)
def test_every_preset_writes_the_bytes_pydicom_writes(name: str, biplane: bool) -> None:
    conventions = PRESETS[name]
    report = make_report(conventions, biplane=biplane)
    direct, reference = both_engines(report, conventions)
    assert_same_file(direct, reference)
    read = pydicom.dcmread(io.BytesIO(direct))
    built = rdsr_dataset(report, patient_name="SYNTH^CHILD0000001", conventions=conventions)
    assert read == built
    assert read.file_meta.TransferSyntaxUID == conventions.transfer_syntax
    assert read["ContentSequence"].is_undefined_length is conventions.undefined_length


@pytest.fixture(scope="module")
def cohort() -> SyntheticCohort:
    return generate_cohort(120, seed=3)


def procedures_of_every_centre(cohort: SyntheticCohort, per_centre: int) -> list[tuple[str, str]]:
    rdsr = cohort.procedures[cohort.procedures["record_kind"] == "rdsr"]
    chosen = rdsr.groupby("centre_id").head(per_centre)
    assert set(chosen["centre_id"]) == {c.centre_id for c in cohort.config.centres}
    return list(zip(chosen["procedure_id"], chosen["centre_id"], strict=True))


@pytest.mark.slow
def test_cohort_reports_of_every_centre_with_every_preset(cohort: SyntheticCohort) -> None:
    """Each report with its centre's preset (without any warning) and with one other preset,
    taking turns so that every preset meets reports of several centres."""
    for i, (procedure_id, centre_id) in enumerate(procedures_of_every_centre(cohort, 3)):
        report = cohort.dose_report(procedure_id)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the centre's own preset loses nothing
            assert_same_file(*both_engines(report, cohort.centre(centre_id).conventions))
        with warnings.catch_warnings():  # another preset: ii_field_size_mm may be left out
            warnings.simplefilter("ignore")
            assert_same_file(*both_engines(report, PRESETS[PRESET_IDS[i % len(PRESET_IDS)]]))


def test_generated_events_carry_only_what_their_preset_can_write(
    cohort: SyntheticCohort,
) -> None:
    """The image-intensifier size (a Siemens comment) only in reports of Siemens centres, so
    that writing a cohort gives no 'not written' warning."""
    for procedure_id, centre_id in procedures_of_every_centre(cohort, 5):
        siemens = cohort.centre(centre_id).conventions.siemens_comments
        for event in cohort.dose_report(procedure_id).events:
            assert (event.ii_field_size_mm is not None) is siemens


@pytest.mark.parametrize("number", REAL_FILE_PARAMS)
def test_real_projection_reports(number: int) -> None:
    """The example reports of ../shared/data/rdsr (vendors' texts, codes and numbers), read and
    written again with a preset (taking turns)."""
    path = RDSR_DIR / REAL_FILES[number]
    original = read_rdsr(path, strict=False)
    assert original.kind is ReportKindValues.PROJECTION
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same_file(*both_engines(original, PRESETS[PRESET_IDS[(number + 1) % 5]]))


def test_a_file_path_gets_the_same_bytes(tmp_path: Path) -> None:
    report = make_report(GE, biplane=False)
    write_rdsr(report, tmp_path / "direct.dcm")
    write_rdsr(report, tmp_path / "pydicom.dcm", engine="pydicom")
    assert (tmp_path / "direct.dcm").read_bytes() == (tmp_path / "pydicom.dcm").read_bytes()
    with pytest.raises(ValueError, match="engine"):
        write_rdsr(report, tmp_path / "x.dcm", engine="fast")


# -- single elements ------------------------------------------------------------------------------


def header(transfer_syntax: str, character_set: str, extra: dict[str, object]) -> Dataset:
    ds = sr.dataset(
        SpecificCharacterSet=character_set, SOPClassUID="1.2.3", SOPInstanceUID="1.2.3.4", **extra
    )
    ds.file_meta = sr.file_meta(ds, transfer_syntax, "TEST")
    return ds


def both_files(
    items: tuple[sr.Item, ...],
    transfer_syntax: str,
    undefined: bool,
    character_set: str = "ISO_IR 192",
    extra: dict[str, object] | None = None,
) -> tuple[bytes, bytes]:
    """``items`` as Content Sequence of a small file: by file_bytes, and by pydicom."""
    content = (sr.CONTENT_SEQUENCE, "SQ", items)
    direct = sr.file_bytes(
        sr.mark_undefined_lengths(header(transfer_syntax, character_set, extra or {}), undefined),
        content,
        undefined_length=undefined,
    )
    ds = header(transfer_syntax, character_set, extra or {})
    ds.ContentSequence = sr.to_sequence(items)
    buffer = io.BytesIO()
    dcmwrite(buffer, sr.mark_undefined_lengths(ds, undefined), enforce_file_format=True)
    return direct, buffer.getvalue()


def items_of(text: str, meaning: str = "Meaning", code_value: str = "1234") -> tuple[sr.Item, ...]:
    b = sr.ContentBuilder()
    concept = Code(code_value, "99TEST", meaning)
    return tuple(
        item
        for item in (
            b.text(concept, text),
            b.text(concept, text, value_type="PNAME"),
            b.text(concept, "1.2.3", value_type="UIDREF"),
            b.text(concept, "1.2.34", value_type="UIDREF"),
            b.when(concept, datetime(2020, 1, 2, 3, 4, 5, 6)),
            b.when(concept, datetime(2020, 1, 2)),
            b.num(concept, 1.5, "mm"),
            b.num(concept, -0.0, "1"),
            b.num(concept, 10.0, "%"),
            b.coded(
                concept,
                Code("X", "99TEST", text or "empty"),
                "HAS CONCEPT MOD",
                [b.container(concept, [])],
            ),
            b.container(concept, [b.container(concept, [b.num(concept, 1e-300, "mm")])]),
        )
        if item is not None
    )


TEXTS = [
    "",
    "a",
    "ab",
    "Paed card 1",
    "Müller",
    "back\\slash",
    "Ωmega",
    "日本語",
    "山田^太郎=ヤマダ",
    "日本\\語",
    "Yamada^Tarou=山田^太郎=やまだ^たろう",
    " pad ",
]


@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
@pytest.mark.parametrize("syntax", SYNTAXES, ids=["explicit", "implicit"])
@pytest.mark.parametrize("character_set", ["ISO_IR 192", "ISO_IR 100", "", "\\ISO 2022 IR 87"])
def test_edge_case_values(syntax: str, undefined: bool, character_set: str) -> None:
    for text in TEXTS:
        with warnings.catch_warnings():  # characters outside the set: pydicom warns, both replace
            warnings.simplefilter("ignore")
            direct, reference = both_files(
                items_of(text, meaning=f"M {text}"), syntax, undefined, character_set
            )
        assert_same_file(direct, reference)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=40),
    meaning=st.text(min_size=1, max_size=30),
    syntax=st.sampled_from(SYNTAXES),
    undefined=st.booleans(),
    character_set=st.sampled_from(["ISO_IR 192", "ISO_IR 100", "\\ISO 2022 IR 87"]),
)
def test_any_text_is_encoded_as_pydicom_encodes_it(
    text: str, meaning: str, syntax: str, undefined: bool, character_set: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same_file(*both_files(items_of(text, meaning), syntax, undefined, character_set))


@pytest.mark.parametrize("undefined", [False, True], ids=["defined", "undefined"])
@pytest.mark.parametrize("syntax", SYNTAXES, ids=["explicit", "implicit"])
def test_elements_after_the_content_sequence_and_empty_content(
    syntax: str, undefined: bool
) -> None:
    """Top-level elements that sort after (0040,A730) are written after it, by pydicom."""
    later: dict[str, object] = {"PresentationLUTShape": "IDENTITY", "IconImageSequence": []}
    for items in (items_of("x"), ()):
        direct, reference = both_files(items, syntax, undefined, extra=later)
        assert_same_file(direct, reference)
        read = pydicom.dcmread(io.BytesIO(direct))
        assert read.PresentationLUTShape == "IDENTITY"
        assert len(read.ContentSequence) == len(items)


def test_tags_and_vrs_are_those_of_the_data_dictionary() -> None:
    b = sr.ContentBuilder()
    concept = Code("1", "99TEST", "m")
    items = (*items_of("t"), b.coded(concept, concept))
    seen: set[tuple[int, str]] = set()

    def walk(item: sr.Item) -> None:
        for tag, vr, value in item:
            seen.add((tag, vr))
            for child in () if isinstance(value, str) else value:
                walk(child)

    for item in items:
        assert item is not None
        walk(item)
    assert len(seen) >= 15
    assert all(dictionary_VR(tag) == vr for tag, vr in seen)


def test_encoder_refusals_and_shared_codes() -> None:
    with pytest.raises(ValueError, match="little endian"):
        sr.Encoder("1.2.840.10008.1.2.2")
    encoder = sr.Encoder(sr.EXPLICIT_VR_LITTLE_ENDIAN)
    with pytest.raises(ValueError, match="2-byte length"):
        encoder.element((sr.CODE_MEANING, "LO", "x" * 70_000))
    assert len(encoder.element((sr.TEXT_VALUE, "UT", "x" * 70_000))) == 70_000 + 12
    code = sr.code_item("1", "DCM", "m")
    first = encoder.element((sr.CONCEPT_NAME_CODE_SEQUENCE, "SQ", (code,)))
    again = encoder.element((sr.CONCEPT_NAME_CODE_SEQUENCE, "SQ", (sr.code_item("1", "DCM", "m"),)))
    assert first is again  # encoded once
    assert sr.encoder(sr.IMPLICIT_VR_LITTLE_ENDIAN, True, "") is sr.encoder(
        sr.IMPLICIT_VR_LITTLE_ENDIAN, True, ""
    )
