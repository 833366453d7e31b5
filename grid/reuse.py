"""Incremental grids: a trial that matches a finished trial in the tracking store is not run again.

Ours; neither Ray Tune nor MLflow offers it. A trial's reuse key is sha256 over its resolved config (the params it
logs, less where files live), the git commit of a clean working tree, and for real data the feature-cache keys of
its splits (the image lists' fingerprint, the backbone's identity and the precision). The embedded world's data
ships with the code, so the commit covers it. A dirty tree or an unknown commit gives no key: such a trial is
neither reused nor offered for reuse. A match in any experiment of the store counts, so editing one axis of a big
space reruns only its new cells. The reusing run carries the earlier run's final metrics and the tag
`grid.reused_from`; `--no-reuse` runs everything.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from mlflow.tracking import MlflowClient

from flexcoder import TrialConfig
from grid.mlflow_pages import all_pages

REUSE_KEY_TAG = "grid.reuse_key"
REUSED_FROM_TAG = "grid.reused_from"
LOCATION_KEYS = ("data_root", "feature_cache")  # where files live, not what they hold


def code_version(commit: str) -> str | None:
    """The commit to key on, or None when the tree is dirty or git is unavailable ("unknown")."""
    if not commit or commit == "unknown" or commit.endswith("-dirty"):
        return None
    return commit


def data_fingerprint(cfg: TrialConfig) -> str:
    """What the trial's data is: "embedded" for the simulated world (shipped with the code), else the feature-cache
    keys of its train and test splits."""
    if cfg.simulated:
        return "embedded"
    return _real_fingerprint(cfg.dataset, cfg.data_root, cfg.backbone, cfg.precision)


@functools.lru_cache(maxsize=16)
def _real_fingerprint(dataset: str, data_root: str | None, backbone: str, precision: str) -> str:
    """Once per process and dataset: reading a large dataset's file lists and hashing a weights file take seconds,
    and a reused trial process runs many trials of the same data."""
    from flexcoder.data.reading import read_items
    from flexcoder.features.cache import feature_key

    items = read_items(dataset, data_root)
    return ",".join(feature_key(items, split, backbone, precision)[0] for split in items.splits)


def reuse_key(own_flat: Mapping[str, Any], version: str, fingerprint: str) -> str:
    config = {k: v for k, v in own_flat.items() if k not in LOCATION_KEYS}
    blob = json.dumps({"config": config, "code": version, "data": fingerprint}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def find_finished(client: MlflowClient, key: str) -> Any | None:
    """The newest finished trial run with reuse key `key` in any experiment of the store, or None."""
    ids = [e.experiment_id for e in all_pages(client.search_experiments)]
    if not ids:
        return None
    runs = client.search_runs(
        ids,
        filter_string=f"tags.`{REUSE_KEY_TAG}` = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None
