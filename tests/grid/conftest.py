from pathlib import Path

import pytest

from grid.run import main

SMOKE = Path(__file__).resolve().parents[2] / "search_spaces" / "smoke.yaml"


@pytest.fixture(scope="session")
def smoke_run(ray_local, tmp_path_factory):
    """search_spaces/smoke.yaml run once on the local Ray into a SQLite store: (exit code, store URI, folder)."""
    tmp = tmp_path_factory.mktemp("smoke")
    uri = f"sqlite:///{tmp}/mlflow.db"
    code = main(["--space", str(SMOKE), "--mlflow-uri", uri, "--storage", str(tmp / "ray_results")])
    return code, uri, tmp
