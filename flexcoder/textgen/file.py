"""The `file` backend: answers ATG requests from a JSON file of pre-generated texts (e.g. the official release's
expert knowledge converted, or a previous LLM run).

Format (UTF-8 JSON object; every section optional; class names exactly as the dataset spells them):

    {
      "att":  {"dog": ["floppy ears", "wet black nose"], ...},
      "ana":  {"dog": ["wolf", "fox"], ...},
      "syno": {"dog": ["puppy", "hound"], ...},
      "ovo":  {"dog": {"cat": ["floppy ears", "long snout"]}, "cat": {"dog": ["pointed ears"]}, ...}
    }

ovo[c1][c2] lists phrases of c1 that differ from c2 (the official ovo.json layout, docs/methods.md §1.3). Answers are
rendered as "_"-prefixed lists (ovo as "For c1: ... For c2: ..."), so the same parser runs as for an LLM. A class
missing from a section gives an empty answer (counted by the caller, never an error).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from flexcoder.textgen.base import KINDS, TextRequest


class FileGenerator:
    def __init__(self, path: str):
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise FileNotFoundError(f"textgen file backend: no such file {self.path} (coder.textgen.file)")
        raw = self.path.read_bytes()
        data = json.loads(raw)
        if not isinstance(data, dict) or set(data) - set(KINDS):
            raise ValueError(f"textgen file {self.path}: expected an object with keys among {', '.join(KINDS)}")
        self.data = data
        self.digest = hashlib.sha256(raw).hexdigest()[:16]
        self.calls = 0

    def identity(self) -> dict:
        return {"backend": "file", "model": f"{self.path.resolve()}@{self.digest}"}

    @staticmethod
    def _bullets(items) -> str:
        return "\n".join(f"_{it}" for it in items if isinstance(it, str))

    def answer(self, request: TextRequest) -> str:
        section = self.data.get(request.kind) or {}
        if request.kind == "ovo":
            c1, c2 = request.classes
            a, b = (section.get(c1) or {}).get(c2), (section.get(c2) or {}).get(c1)
            if not a and not b:
                return ""
            return f"For {c1}:\n{self._bullets(a or [])}\nFor {c2}:\n{self._bullets(b or [])}"
        return self._bullets(section.get(request.classes[0]) or [])

    def generate(self, requests: Sequence[TextRequest]) -> list[str]:
        self.calls += 1
        return [self.answer(r) for r in requests]
