"""The grid's shared text generator: one named detached actor, reached by picklable clients from any task."""

import pickle
import time

import pytest

ray = pytest.importorskip("ray")

from flexcoder.textgen import TextgenConfig, build_request  # noqa: E402
from grid.textgen_actor import TextgenClient, start_textgen_actor, stop_textgen_actor  # noqa: E402

NS = "flexcoder-test-textgen"


@pytest.fixture(scope="module")
def local_ray(ray_local):
    """The session's local Ray cluster (tests/conftest.py); actors are looked up in namespace NS explicitly."""
    yield
    stop_textgen_actor(NS)


@pytest.fixture
def client(local_ray):
    c = start_textgen_actor(TextgenConfig(), NS, num_cpus=0)
    yield c
    stop_textgen_actor(NS)


def test_client_is_picklable_without_a_handle(client):
    copy = pickle.loads(pickle.dumps(client))
    assert isinstance(copy, TextgenClient) and copy._handle is None


def test_two_tasks_hit_one_actor_instance(client):
    @ray.remote(num_cpus=1)
    def trial(c, cls):
        out = c.generate([build_request("att", (cls,))])
        return out[0], c.info()["pid"]

    (a, pid_a), (b, pid_b) = ray.get([trial.remote(client, "dog"), trial.remote(client, "cat")])
    assert "floppy ears" in a and "pointed triangular ears" in b
    assert pid_a == pid_b == client.info()["pid"]
    assert client.info()["calls"] == 2
    again = start_textgen_actor(TextgenConfig(), NS, num_cpus=0)  # get_if_exists: same instance
    assert again.info()["pid"] == pid_a


def test_actor_survives_a_failing_trial(client):
    @ray.remote(num_cpus=1, max_retries=0)
    def failing_trial(c):
        c.generate([build_request("syno", ("dog",))])
        raise RuntimeError("trial crashed")

    pid = client.info()["pid"]
    with pytest.raises(ray.exceptions.RayTaskError):
        ray.get(failing_trial.remote(client))
    assert client.info()["pid"] == pid and client.info()["calls"] == 1


def test_client_recreates_a_dead_actor(client):
    old_pid = client.info()["pid"]
    handle = ray.get_actor("flexcoder-textgen", namespace=NS)
    ray.kill(handle, no_restart=True)
    _wait_until_dead(handle)  # ray.kill is asynchronous: a call made right after it may still reach the old actor
    out = client.generate([build_request("ana", ("dog",))])
    info = client.info()
    assert "wolf" in out[0] and info["pid"] != old_pid and info["calls"] == 1  # a fresh instance answered


def _wait_until_dead(handle, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ray.get(handle.info.remote(), timeout=10)
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
            return
        time.sleep(0.1)
    raise AssertionError(f"the killed actor still answers after {timeout}s")


def test_stop_reports_whether_an_actor_was_there(local_ray):
    start_textgen_actor(TextgenConfig(), NS, num_cpus=0)
    assert stop_textgen_actor(NS) is True
    assert stop_textgen_actor(NS) is False


def test_concurrent_trials_share_merged_batches(client):
    """Three trials' calls in flight at once (sent without waiting, so they reach the actor within its merge window,
    whatever the time Ray takes to start a task) are served in fewer engine calls, each caller its own answers."""
    handle = client.handle()
    asks = [["dog", "cat"], ["cat", "horse"], ["dog"]]
    pending = [handle.generate.remote([build_request("att", (x,)) for x in a]) for a in asks]
    answers = ray.get(pending)
    assert [len(a) for a in answers] == [2, 2, 1] and answers[0][1] == answers[1][0]  # each got its own, in order
    batches = client.stats()["batches"]
    assert sum(n for _, n in batches) == 5 and len(batches) < 3  # fewer engine calls than trials


def test_an_actor_in_another_environment_needs_that_python(tmp_path):
    from grid.textgen_actor import CODE_ROOT, runtime_env

    assert runtime_env(TextgenConfig()) is None  # the driver's own Python
    with pytest.raises(FileNotFoundError, match=r"coder.textgen.python: .*nowhere/bin/python.*prepare_cpu.sh"):
        runtime_env(TextgenConfig(python=str(tmp_path / "nowhere" / "bin" / "python")))
    python = tmp_path / "env" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.touch()
    env = runtime_env(TextgenConfig(backend="vllm", model=str(tmp_path), python=str(python)))
    assert env["py_executable"] == str(python)
    assert env["env_vars"]["PYTHONPATH"] == str(CODE_ROOT) and env["env_vars"]["HF_HUB_OFFLINE"] == "1"
