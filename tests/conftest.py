import pytest


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray cluster shared by the integration tests of one session."""
    ray = pytest.importorskip("ray")
    import os

    os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        namespace="flexcoder",
        runtime_env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}},
    )
    yield ray
    ray.shutdown()
