"""A disk cache of raw answers in front of any generator: a rerun asks the backend nothing.

Key = sha256 of JSON {backend, model, sampling params, prompt} (the generator's `identity()` plus the prompt). One
JSON file per key, `<cache_dir>/<key[:2]>/<key>.json` = {"identity", "prompt", "answer"}, written atomically (temp
file in the same folder + os.replace) so concurrent trials never read a torn file; an unreadable file is a miss.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from flexcoder.atomic_file import write_atomic
from flexcoder.textgen.base import TextGenerator, TextRequest


def cache_key(identity: dict, prompt: str) -> str:
    blob = json.dumps({"identity": identity, "prompt": prompt}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class CachedGenerator:
    """Wraps `inner`; `backend_calls` / `backend_prompts` count what actually reached it, `hits` what did not."""

    def __init__(self, inner: TextGenerator, cache_dir: str):
        self.inner = inner
        self.root = Path(cache_dir).expanduser()
        if not self.root.is_absolute():
            raise ValueError(f"cache_dir must be absolute, got {cache_dir!r}")
        self.backend_calls = 0
        self.backend_prompts = 0
        self.hits = 0

    def identity(self) -> dict:
        return self.inner.identity()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def _load(self, key: str) -> str | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            return data["answer"] if isinstance(data.get("answer"), str) else None
        except (OSError, ValueError, KeyError, AttributeError):
            return None

    def _store(self, key: str, identity: dict, prompt: str, answer: str) -> None:
        record = {"identity": identity, "prompt": prompt, "answer": answer}
        write_atomic(self._path(key), lambda f: json.dump(record, f, ensure_ascii=False))

    def generate(self, requests: Sequence[TextRequest]) -> list[str]:
        identity = self.inner.identity()
        keys = [cache_key(identity, r.prompt) for r in requests]
        out: list[str | None] = [self._load(k) for k in keys]
        missing = [i for i, a in enumerate(out) if a is None]
        self.hits += len(requests) - len(missing)
        if missing:
            # Identical prompts in one batch are asked once.
            uniq: dict[str, int] = {}
            for i in missing:
                uniq.setdefault(keys[i], i)
            todo = list(uniq.values())
            self.backend_calls += 1
            self.backend_prompts += len(todo)
            answers = self.inner.generate([requests[i] for i in todo])
            by_key = {}
            for i, ans in zip(todo, answers):
                ans = ans if isinstance(ans, str) else ""
                self._store(keys[i], identity, requests[i].prompt, ans)
                by_key[keys[i]] = ans
            for i in missing:
                out[i] = by_key[keys[i]]
        return [a if a is not None else "" for a in out]
