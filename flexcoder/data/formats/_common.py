"""What every adapter shares: errors that name the file and the expected layout, line reading, image checks."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from flexcoder.data.items import ItemSplit

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_SHOW_MISSING = 5  # our choice: name a few missing images, count the rest (a wrong images/ folder misses them all)


@dataclass(frozen=True)
class DatasetFolder:
    """One dataset's folder and the layout text its errors quote.

    Attributes:
        name: the registry name.
        root: `<data_root>/<name>`.
        layout: the expected files, one per line, relative to `root` (each format module's `LAYOUT`).
    """

    name: str
    root: Path
    layout: str

    def _expected(self) -> str:
        lines = "\n".join(f"  {self.root}/{line}" for line in self.layout.strip("\n").splitlines())
        return f"Expected layout of {self.name!r} (docs/data.md):\n{lines}"

    def missing(self, path: Path | str, what: str = "") -> FileNotFoundError:
        detail = f" ({what})" if what else ""
        return FileNotFoundError(f"dataset {self.name!r}: missing {path}{detail}. {self._expected()}")

    def malformed(self, path: Path, problem: str, line: int | None = None) -> ValueError:
        where = f"{path}, line {line}" if line is not None else str(path)
        return ValueError(f"dataset {self.name!r}: {where}: {problem}. {self._expected()}")

    def require(self, relative: str, what: str = "") -> Path:
        """`root / relative` if it exists, else the error naming it."""
        path = self.root / relative
        if not path.exists():
            raise self.missing(path, what)
        return path

    def lines(self, path: Path) -> Iterator[tuple[int, str]]:
        """(1-based line number, stripped line) for each non-blank line; BOM, CRLF and stray bytes tolerated."""
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                line = line.strip()
                if line:
                    yield number, line

    def check_images(self, paths: Sequence[str], listed_in: Path) -> None:
        """Raise naming the first missing images when any of `paths` does not exist.

        One directory listing per folder instead of one stat per image (NUS-WIDE lists ~270k images in ~700
        folders)."""
        by_folder: dict[str, list[str]] = defaultdict(list)
        for p in paths:
            folder, _, file = p.rpartition(os.sep)
            by_folder[folder].append(file)
        missing = []
        for folder, files in by_folder.items():
            try:
                present = set(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                present = set()
            missing.extend(os.path.join(folder, f) for f in files if f not in present)
        if missing:
            shown = ", ".join(missing[:_SHOW_MISSING]) + (
                f" and {len(missing) - _SHOW_MISSING} more" if len(missing) > _SHOW_MISSING else ""
            )
            raise self.missing(shown, f"{len(missing)} of the {len(paths)} images listed in {listed_in}")

    def split(
        self, image_paths: Sequence[str], texts: Sequence[str] | None, labels: np.ndarray, source: Path, split: str
    ) -> ItemSplit:
        """An `ItemSplit`; an empty split is an error naming the file it should have come from."""
        if len(image_paths) == 0:
            raise self.malformed(source, f"the {split} split is empty")
        return ItemSplit(tuple(image_paths), None if texts is None else tuple(texts), labels)


def one_hot(label_index: Sequence[int], num_classes: int) -> np.ndarray:
    labels = np.zeros((len(label_index), num_classes), dtype=bool)
    labels[np.arange(len(label_index)), np.asarray(label_index, dtype=np.int64)] = True
    return labels


def squash(name: str) -> str:
    """A class name compared loosely: lower case, no spaces, '_' or '-' ('diningtable' matches 'dining table')."""
    return "".join(ch for ch in name.lower() if ch.isalnum())
