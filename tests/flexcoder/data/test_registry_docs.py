"""The README's dataset table and docs/data.md are checked against the registrations: every dataset with a reader is
in both, with every file its layout names."""

import re
from pathlib import Path

import pytest

from flexcoder.data.reading import readable_datasets
from flexcoder.data.registry import get_dataset

ROOT = Path(__file__).resolve().parents[3]


def _named_part(layout_file: str) -> str:
    """What a document must show of a layout entry: its folders up to the first `<placeholder>`
    (`Groundtruth/AllLabels/Labels_<concept>.txt` -> `Groundtruth/AllLabels/`), or all of it."""
    if "<" not in layout_file:
        return layout_file
    folders, _, _ = layout_file.split("<")[0].rpartition("/")
    return folders + "/"


def _readme_rows() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| dataset | files under") :].split("\n\n")[0]
    rows = {}
    for line in table.splitlines()[2:]:
        names, files = line.strip("|").split("|", 1)
        for name in names.split(","):
            assert name.strip() not in rows, f"README lists {name.strip()!r} twice"
            rows[name.strip()] = files
    return rows


def _data_md_sections() -> dict[str, str]:
    sections = re.split(r"^## ", (ROOT / "docs" / "data.md").read_text(), flags=re.M)[1:]
    out = {}
    for section in sections:
        heading = section.splitlines()[0]
        for name in re.findall(r"[a-z0-9_]+", heading):
            out.setdefault(name, section)
    return out


def test_the_readme_table_lists_exactly_the_readable_datasets():
    assert sorted(_readme_rows()) == sorted(readable_datasets())


@pytest.mark.parametrize("name", readable_datasets())
def test_the_readme_row_names_every_file_of_the_layout(name):
    row = _readme_rows()[name]
    for file in get_dataset(name).layout_files:
        assert _named_part(file) in row, f"README's {name} row lacks {_named_part(file)!r}"


@pytest.mark.parametrize("name", readable_datasets())
def test_docs_data_md_has_a_section_naming_every_file_of_the_layout(name):
    section = _data_md_sections().get(name)
    assert section is not None, f"docs/data.md has no section for {name}"
    for file in get_dataset(name).layout_files:
        assert _named_part(file) in section, f"docs/data.md's {name} section lacks {_named_part(file)!r}"
