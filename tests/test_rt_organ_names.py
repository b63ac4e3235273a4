"""TG-263 name mapping (Mayo et al. 2018, Int J Radiat Oncol Biol Phys 100:1057): the shipped
table, a site's own CSV read before it, unknown names warned about, bad tables refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from doseline.dosimetry.rt.nomenclature import (
    UnknownStructureNameWarning,
    load_name_mapping,
)
from doseline.errors import InvalidInputError
from doseline.organs import ORGANS


@pytest.mark.parametrize(
    ("local", "tg263", "organ"),
    [
        ("Heart", "Heart", "heart"),
        ("Lt Lung", "Lung_L", "lung"),
        ("LUNG_R", "Lung_R", "lung"),
        ("Thyroid", "Glnd_Thyroid", "thyroid"),
        ("Glnd_Thyroid", "Glnd_Thyroid", "thyroid"),
        ("pituitary", "Pituitary", "hypothalamic_pituitary"),
        ("Parotid-L", "Parotid_L", "salivary_glands"),
        ("Bowel_Small", "Bowel_Small", "small_intestine"),
        ("Ovary_R", "Ovary_R", "ovaries"),
        ("BODY", "External", None),
    ],
)
def test_shipped_table_maps_common_names(local: str, tg263: str, organ: str | None) -> None:
    mapped = load_name_mapping().lookup(local, "ORGAN")
    assert (mapped.tg263_name, mapped.organ) == (tg263, organ)


def test_substructures_file_under_their_organ_and_targets_are_not_looked_up() -> None:
    mapping = load_name_mapping()
    assert mapping.lookup("Ventricle_L").dose_organ == "heart:Ventricle_L"
    target = mapping.lookup("Heart PTV", "PTV")
    assert target.is_target and target.dose_organ is None


def test_every_shipped_organ_is_a_doseline_organ() -> None:
    table = load_name_mapping()
    assert all(row.organ in ORGANS for row in table.rows if row.organ)
    assert all(row.parent_organ in ORGANS for row in table.rows if row.parent_organ)


def test_unknown_names_warn_and_stay_unmapped() -> None:
    with pytest.warns(UnknownStructureNameWarning, match="'Scar'"):
        mapped = load_name_mapping().lookup("Scar", "AVOIDANCE")
    assert mapped.tg263_name is None and mapped.organ is None


def test_site_table_comes_first_and_bad_tables_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site.csv"
    site.write_text(
        "pattern,tg263_name,organ,parent_organ,tg263_checked\n"
        "coeur gauche|scar,Heart,heart,,site\n",
        encoding="utf-8",
    )
    assert load_name_mapping(site).lookup("Scar").organ == "heart"
    monkeypatch.setenv("DOSELINE_RT_NAME_MAP", str(site))
    assert load_name_mapping().lookup("coeur_gauche").tg263_name == "Heart"
    bad = tmp_path / "bad.csv"
    bad.write_text("pattern,tg263_name,organ\nspleen,Spleen,milt\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"bad\.csv: line 2: organ: 'milt'"):
        load_name_mapping(bad)
    bad.write_text("pattern,tg263_name,organ\n(unclosed,X,heart\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="line 2: pattern"):
        load_name_mapping(bad)
