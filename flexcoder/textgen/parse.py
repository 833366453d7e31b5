"""Robust parsing of LLM answers into item lists (never raises; every answer gets a status).

Official behaviour (ATG/ATG.py, docs/methods.md §1.3): newlines removed, split on "_", set-deduplicated, empty items
dropped, stripped. Real LLM output is messier, so we accept (our choice) "_"-prefixed items (one per line or all on
one line), "-", "*", "•" bullets, numbered lists ("1.", "2)"), JSON arrays (or JSON objects of arrays), and a bare
comma-separated line ("Tiger, Lion, Leopard"); we drop chatter lines ("Sure! Here are ...:"), a continued few-shot
pattern (anything from a new "Q:" on), over-long items, items without letters; we de-duplicate case-insensitively
keeping first-seen order (deterministic, unlike the official `set`). Underscores inside words ("golden_retriever")
are kept as spaces rather than split (the official split would cut such names).

Status: "ok" (>= 1 item), "empty" (blank answer: e.g. the template backend's answer for an unknown class), or
"garbage" (non-blank but nothing usable: a parse failure).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MAX_ITEM_WORDS = 16  # our choice: a visual feature / class name is a short phrase; longer lines are prose
_BULLET = re.compile(r"^\s*(?:[-*•·‣▪]+|_+|\(?\d{1,3}[.):]|\(?[a-zA-Z][.)])\s*(?=\S)")
_INLINE_UNDERSCORE = re.compile(r"(?:^|\s)_+(?=\S)")
_QA = re.compile(r"^\s*(?:Q|Question)\s*:", re.IGNORECASE)
_A_PREFIX = re.compile(r"^\s*(?:A|Answer)\s*:\s*", re.IGNORECASE)
_HEADER = re.compile(
    r"^\s*(?:[-*#]+\s*)?(?:\*\*)?\s*For\s+(?:the\s+|a\s+|an\s+)?(.+?)\s*(?:\*\*)?\s*:\s*(.*)$", re.IGNORECASE
)


@dataclass(frozen=True)
class Parsed:
    items: tuple[str, ...]
    status: str  # "ok" | "empty" | "garbage"


def clean_item(item: str) -> str:
    s = item.replace("_", " ")
    s = re.sub(r"\*\*|__|`", "", s)
    s = re.sub(r"\s+", " ", s).strip()
    s = s.strip(" \t\"'“”‘’")
    s = re.sub(r"[\s.,;:!]+$", "", s).strip()
    return s


def _usable(item: str) -> bool:
    return bool(re.search(r"[A-Za-z]", item)) and len(item.split()) <= MAX_ITEM_WORDS


def dedup(items) -> list[str]:
    seen, out = set(), []
    for it in items:
        key = it.lower()
        if key not in seen:
            seen.add(key)
            out.append(it)
    return out


def _from_json(text: str):
    """Items from a JSON array (or an object whose values are arrays / strings) inside the text, or None."""
    for open_, close in (("[", "]"), ("{", "}")):
        start, end = text.find(open_), text.rfind(close)
        if start < 0 or end <= start:
            continue
        try:
            data = json.loads(text[start : end + 1])
        except (ValueError, RecursionError):
            continue
        items = list(_flatten_json(data))
        if items:
            return items
    return None


def _flatten_json(data):
    if isinstance(data, str):
        yield data
    elif isinstance(data, list):
        for x in data:
            yield from _flatten_json(x)
    elif isinstance(data, dict):
        for v in data.values():
            yield from _flatten_json(v)


def _from_lines(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if _QA.match(line):
            break  # the model went on to invent the next few-shot question
        line = _A_PREFIX.sub("", line)
        if line.strip():
            lines.append(line)
    bulleted = [ln for ln in lines if _BULLET.match(ln) or _INLINE_UNDERSCORE.search(ln)]
    items: list[str] = []
    if bulleted:
        for ln in bulleted:
            if _INLINE_UNDERSCORE.search(ln) and len(_INLINE_UNDERSCORE.findall(ln)) > 1:
                items.extend(p for p in _INLINE_UNDERSCORE.split(ln) if p.strip())  # "_a _b _c" on one line
            else:
                items.append(_BULLET.sub("", ln, count=1))
    else:
        body = [ln for ln in lines if not ln.rstrip().endswith(":")]  # chatter such as "Here they are:"
        if len(body) == 1 and "," in body[0]:
            items = body[0].split(",")
        else:
            items = body
    return items


def parse_list(raw: str | None, cap: int = 0) -> Parsed:
    """Items of one list answer (att / ana / syno). `cap` > 0 keeps at most that many (first-seen order)."""
    if raw is None or not str(raw).strip():
        return Parsed((), "empty")
    text = str(raw)
    try:
        items = _from_json(text) if ("[" in text or "{" in text) else None
        if items is None:
            items = _from_lines(text)
        out = dedup(c for c in (clean_item(i) for i in items) if _usable(c))
    except Exception:  # noqa: BLE001 - a parser must never crash a trial; counted as garbage
        out = []
    if cap > 0:
        out = out[:cap]
    return Parsed(tuple(out), "ok" if out else "garbage")


def _matches(name: str, header: str) -> bool:
    a, b = re.sub(r"\W+", " ", name.lower()).strip(), re.sub(r"\W+", " ", header.lower()).strip()
    return bool(a) and bool(b) and (a == b or a in b or b in a)


def parse_ovo(raw: str | None, c1: str, c2: str, cap: int = 0) -> tuple[Parsed, Parsed]:
    """Split a pairwise answer "For c1: ... For c2: ..." into (c1's differences vs c2, c2's vs c1).

    Official: split at the first "For". We locate "For <name>:" header lines and match them to the class names
    (falling back to order); a JSON object {c1: [...], c2: [...]} is also accepted. No headers at all -> garbage
    for both (the items cannot be attributed to a class).
    """
    if raw is None or not str(raw).strip():
        return Parsed((), "empty"), Parsed((), "empty")
    text = str(raw)
    c1n, c2n = c1.replace("_", " "), c2.replace("_", " ")
    try:
        start, end = text.find("{"), text.rfind("}")
        if start >= 0 and end > start:
            try:
                data = json.loads(text[start : end + 1])
            except ValueError:
                data = None
            if isinstance(data, dict):
                got = {}
                for k, v in data.items():
                    for tag, name in (("a", c1n), ("b", c2n)):
                        if _matches(name, str(k)) and tag not in got:
                            got[tag] = parse_list(json.dumps(v), cap)
                            break
                if got:
                    return got.get("a", Parsed((), "garbage")), got.get("b", Parsed((), "garbage"))
        sections: list[tuple[str, list[str]]] = []
        for line in text.splitlines():
            if _QA.match(line):
                break
            m = _HEADER.match(line)
            if m:
                sections.append((m.group(1), [m.group(2)] if m.group(2).strip() else []))
            elif sections:
                sections[-1][1].append(line)
        if not sections:
            return Parsed((), "garbage"), Parsed((), "garbage")
        parts: dict[str, str] = {}
        for i, (header, body) in enumerate(sections):
            tag = "a" if _matches(c1n, header) else "b" if _matches(c2n, header) else ("a", "b")[min(i, 1)]
            parts.setdefault(tag, "\n".join(body))
        a = parse_list(parts["a"], cap) if "a" in parts else Parsed((), "garbage")
        b = parse_list(parts["b"], cap) if "b" in parts else Parsed((), "garbage")
        return a, b
    except Exception:  # noqa: BLE001
        return Parsed((), "garbage"), Parsed((), "garbage")
