"""ICRP Publication 89 reference values of the phantoms, checked against independent reproductions.

``data/physics/phantoms/icrp89_reference_values.csv`` is a transcription of ICRP 89 Tables 2.8
and 2.9 (ICRP itself could not be read). Every row marked ``checked_against_source = yes`` must
agree with the reproduction named in its ``check_source_id``, and every such claim must be backed
by a table in this file; the rows still unverified are marked ``no`` (PROVENANCE.md).

References and tolerances
-------------------------
- ``turner2007_table16_1``: J. E. Turner, *Atoms, Radiation, and Radiation Protection*, 3rd ed.
  (Wiley-VCH 2007), Table 16.1 "Reference values for organ and tissue masses (grams) from ICRP
  Publication 89" (newborn, 1, 5, 10 years, 15 years M/F, adult M/F). Same printed numbers:
  exact equality.
- ``pksim_european_icrp_2002``: the population ``European_ICRP_2002`` of the PK-Sim database
  (Open Systems Pharmacology, ``PK-Sim/src/Db/Dump/PKSimDB_dump.txt``, table
  ``tab_container_parameter_curves``, ages 0, 1, 5, 10, 15 and 30 years), which encodes ICRP 89.
  Mean heights are stored in dm: exact. Organ volumes (L) are ICRP masses times an organ
  constant (density, blood) times, except for the brain, one age- and sex-dependent factor
  common to the organs; that factor is taken from the kidneys, whose masses are checked against
  Turner above, so ``m(a) = m(adult) * V(a) / V(adult) * f(adult) / f(a)`` with
  ``f = V_kidneys / m_kidneys``. The brain is stored proportional to its mass. The volumes carry
  8 or more significant digits and the ICRP masses at most 4, so the back-computed masses land
  on the tabulated ones within 0.01 %; tolerance 0.1 %, which still rejects a change of one in
  the third significant figure (0.7 % at 1400 g).
- ``olinda_icrp89_adult``: adult male/female masses "OLINDA ICRP89" in
  ``RayzeBio/Dosimetry-calculator``, ``tissue-masses-human-ICRP89-male-female.xlsb.csv`` (the
  ICRP 89 adult phantoms of OLINDA/EXM); confirmed for the adrenals, bladder wall, breast,
  oesophagus and salivary glands by J Nucl Med's Table 2 "Reference masses for organs of
  adults ... Data are from ICRP Publication 89". Exact equality.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from doseline.errors import InvalidInputError
from doseline.physics.phantoms import reference
from doseline.physics.phantoms.reference import DATA_DIR, icrp89_checked, icrp89_value

_CSV = DATA_DIR / "icrp89_reference_values.csv"
_PROVENANCE = DATA_DIR / "PROVENANCE.md"

#: Turner (2007) Table 16.1 columns: newborn, 1y, 5y, 10y (M/F where split), 15y M, 15y F,
#: adult M, adult F.
_COLUMNS = (
    ("newborn", "both"),
    ("1y", "both"),
    ("5y", "both"),
    ("10y", "both"),
    ("15y", "male"),
    ("15y", "female"),
    ("adult", "male"),
    ("adult", "female"),
)
_TURNER: dict[str, tuple[float | None, ...]] = {
    "stomach": (7, 20, 50, 85, 120, 120, 150, 140),
    "small_intestine": (30, 85, 220, 370, 520, 520, 650, 600),
    "liver": (130, 330, 570, 830, 1300, 1300, 1800, 1400),
    "skin": (175, 350, 570, 820, 2000, 1700, 3300, 2300),
    "lung": (60, 150, 300, 500, 900, 750, 1200, 950),
    "spleen": (9.5, 29, 50, 80, 130, 130, 150, 130),
    "thymus": (13, 30, 30, None, 35, 30, 25, 20),  # 10 y: 40 (M) / 30 (F), below
    "thyroid": (1.3, 1.8, 3.4, 7.9, 12, 12, 20, 17),
    "kidneys": (25, 70, 110, 180, 250, 240, 310, 275),
    "testes": (0.85, 1.5, 1.7, 2, 16, None, 35, None),
    "ovaries": (0.3, 0.8, 2.0, 3.5, None, 6, None, 11),
    "uterus": (4.0, 1.5, 3, 4, None, 30, None, 80),
    "body_mass_g": (3500, 10000, 19000, 32000, 56000, 53000, 73000, 60000),
}

#: PK-Sim European_ICRP_2002 at 0, 1, 5, 10, 15, 30 years: volume (L) by organ and sex; the
#: female brain has no 30-year entry (adult female brain: OLINDA table).
_PKSIM_AGES = ("newborn", "1y", "5y", "10y", "15y", "adult")
_PKSIM_L: dict[str, dict[str, tuple[float, ...]]] = {
    "kidneys": {
        "male": (
            0.03832903572,
            0.10333289395,
            0.1601520232,
            0.2601400349,
            0.35438678177,
            0.43771998528,
        ),
        "female": (
            0.03847658639,
            0.1037377523,
            0.1622744367,
            0.262891354,
            0.343492415,
            0.403441765,
        ),
    },
    "heart": {
        "male": (
            0.02745419403,
            0.06608579835,
            0.1107992064,
            0.18115889073,
            0.2919175847,
            0.4171997376,
        ),
        "female": (
            0.02755954432,
            0.0663413023,
            0.11227499656,
            0.1830680632,
            0.28191625,
            0.328396174,
        ),
    },
    "pancreas": {
        "male": (
            0.008853972079,
            0.0284164122,
            0.04904420488,
            0.08346378966,
            0.15008035112,
            0.19026527664,
        ),
        "female": (
            0.008887865162,
            0.028527614765,
            0.04969773468,
            0.0843418081,
            0.137755415,
            0.1694518285,
        ),
    },
    "skeleton": {  # PK-Sim "Bone"
        "male": (0.4521621563, 1.3767206475, 2.819910056, 5.184018024, 8.98311449, 11.817828072),
        "female": (0.453906398, 1.382065945, 2.857581714, 5.23866321, 8.191302, 9.12154835),
    },
    "brain": {
        "male": (0.39542, 0.98855, 1.3632, 1.4568, 1.4776, 1.5088),
        "female": (0.39666, 0.99165, 1.2317, 1.2735, 1.357),
    },
}
_PKSIM_HEIGHT_DM = {
    "male": (5.1, 7.6, 10.9, 13.8, 16.7, 17.6),
    "female": (5.1, 7.6, 10.9, 13.8, 16.1, 16.3),
}

#: OLINDA ICRP 89 adult male, female (g).
_OLINDA_ADULT: dict[str, tuple[float | None, float | None]] = {
    "adrenals": (14, 13),
    "bladder": (50, 40),
    "red_bone_marrow": (1170, 900),
    "brain": (1450, 1300),
    "breast": (25, 500),
    "oesophagus": (40, 35),
    "gallbladder": (10, 8),
    "heart": (330, 250),
    "pancreas": (140, 120),
    "prostate": (17, None),
    "salivary_glands": (85, 70),
    "skeleton": (10500, 7800),
}


def _ref(quantity: str, age: str, sex: str) -> float:
    value = icrp89_value(quantity, age, sex)  # type: ignore[arg-type]
    assert value is not None, (quantity, age, sex)
    return value


def _rows() -> list[dict[str, str]]:
    with _CSV.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _expected_checks() -> dict[tuple[str, str, str], set[str]]:
    """(quantity, age, sex) -> the reproductions this file compares the row with."""
    out: dict[tuple[str, str, str], set[str]] = {}

    def add(quantity: str, age: str, sex: str, source: str) -> None:
        key = (quantity, age, "both" if (quantity, age, "both") in table else sex)
        out.setdefault(key, set()).add(source)

    table = {(r["quantity"], r["age"], r["sex"]) for r in _rows()}
    for quantity, values in _TURNER.items():
        for (age, sex), value in zip(_COLUMNS, values, strict=True):
            if value is not None:
                add(quantity, age, sex, "turner2007_table16_1")
    for sex in ("male", "female"):
        add("thymus", "10y", sex, "turner2007_table16_1")
    for quantity, by_sex in _PKSIM_L.items():
        for sex, volumes in by_sex.items():
            for age in _PKSIM_AGES[: len(volumes)]:
                add(quantity, age, sex, "pksim_european_icrp_2002")
    for sex in ("male", "female"):
        for age in _PKSIM_AGES:
            add("height_cm", age, sex, "pksim_european_icrp_2002")
    for quantity, pair in _OLINDA_ADULT.items():
        for sex, value in zip(("male", "female"), pair, strict=True):
            if value is not None:
                add(quantity, "adult", sex, "olinda_icrp89_adult")
    return out


def test_turner_table_16_1() -> None:
    for quantity, values in _TURNER.items():
        for (age, sex), value in zip(_COLUMNS, values, strict=True):
            if value is not None:
                assert _ref(quantity, age, sex) == value, (quantity, age, sex)
    assert icrp89_value("thymus", "10y", "male") == 40
    assert icrp89_value("thymus", "10y", "female") == 30


def test_heights_follow_pksim_icrp_population() -> None:
    for sex, heights_dm in _PKSIM_HEIGHT_DM.items():
        for age, height_dm in zip(_PKSIM_AGES, heights_dm, strict=True):
            assert _ref("height_cm", age, sex) == pytest.approx(10 * height_dm, rel=1e-9)


@pytest.mark.parametrize("sex", ["male", "female"])
def test_brain_is_proportional_to_pksim_volume(sex: str) -> None:
    volumes = _PKSIM_L["brain"][sex]
    ratios = [v / _ref("brain", age, sex) for age, v in zip(_PKSIM_AGES, volumes, strict=False)]
    assert max(ratios) / min(ratios) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("organ", ["heart", "pancreas", "skeleton"])
@pytest.mark.parametrize("sex", ["male", "female"])
def test_masses_back_computed_from_pksim_volumes(organ: str, sex: str) -> None:
    kidneys = _PKSIM_L["kidneys"][sex]
    volumes = _PKSIM_L[organ][sex]
    f = [v / _ref("kidneys", age, sex) for age, v in zip(_PKSIM_AGES, kidneys, strict=True)]
    adult = _ref(organ, "adult", sex)
    for i, age in enumerate(_PKSIM_AGES):
        implied = adult * volumes[i] / volumes[-1] * f[-1] / f[i]
        assert _ref(organ, age, sex) == pytest.approx(implied, rel=1e-3), (age, implied)


def test_adult_values_follow_olinda_icrp89() -> None:
    for quantity, pair in _OLINDA_ADULT.items():
        for sex, value in zip(("male", "female"), pair, strict=True):
            if value is not None:
                assert _ref(quantity, "adult", sex) == value, (quantity, sex)


def test_checked_flags_are_backed_by_these_comparisons() -> None:
    expected = _expected_checks()
    documented = _PROVENANCE.read_text()
    for row in _rows():
        key = (row["quantity"], row["age"], row["sex"])
        if row["checked_against_source"] == "yes":
            assert row["check_source_id"] in expected.get(key, set()), key
            assert f"`{row['check_source_id']}`" in documented
        else:
            assert row["checked_against_source"] == "no" and not row["check_source_id"], key
            assert key not in expected, f"{key} is compared here but not marked checked"
    assert icrp89_checked("brain", "5y")
    assert not icrp89_checked("red_bone_marrow", "5y")
    assert icrp89_checked("red_bone_marrow", "adult", "male")
    assert not icrp89_checked("breast", "5y")  # no value at all


def test_children_brain_is_the_mean_of_the_sexes() -> None:
    # the hermaphrodite 5- and 10-year phantoms take the sex mean, as the ICRP paediatric
    # reference phantoms do (5 y: (1310 + 1180) / 2 = 1245 g)
    assert icrp89_value("brain", "5y") == pytest.approx(1245.0)
    assert icrp89_value("brain", "10y") == pytest.approx(1310.0)


def test_malformed_check_flag_names_file_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "icrp89_reference_values.csv"
    text = _CSV.read_text().splitlines()
    text[1] = text[1].rsplit(",", 2)[0] + ",maybe,"
    bad.write_text("\n".join(text) + "\n")
    monkeypatch.setattr(reference, "DATA_DIR", tmp_path)
    reference._icrp89_rows.cache_clear()
    try:
        with pytest.raises(InvalidInputError) as info:
            reference._icrp89_rows()
        assert info.value.field == "checked_against_source" and info.value.record == "line 2"
    finally:
        monkeypatch.undo()
        reference._icrp89_rows.cache_clear()
