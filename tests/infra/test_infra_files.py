"""infra/ checked without a cloud, a Kubernetes cluster or a Docker daemon: every YAML parses; the Ray cluster config
passes Ray's own schema and config preparation; the RayJob uses only KubeRay v1 fields and its entrypoint parses with
grid/run.py's own parser; the image copies files that exist and installs extras that exist; the MLflow server is
bound to loopback by default and uses flags the installed MLflow has. `docker compose config` runs where installed."""

import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import ray
import yaml

from grid.run import parse_args
from grid.space import load_space

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# Field names (json tags) of KubeRay's ray.io/v1 types: RayJobSpec, RayClusterSpec, HeadGroupSpec, WorkerGroupSpec
# (ray-project/kuberay ray-operator/apis/ray/v1/rayjob_types.go and raycluster_types.go).
RAYJOB_SPEC = {
    "activeDeadlineSeconds",
    "backoffLimit",
    "rayClusterSpec",
    "submitterPodTemplate",
    "metadata",
    "clusterSelector",
    "submitterConfig",
    "managedBy",
    "deletionPolicy",
    "entrypoint",
    "runtimeEnvYAML",
    "jobId",
    "submissionMode",
    "entrypointResources",
    "entrypointNumCpus",
    "entrypointNumGpus",
    "ttlSecondsAfterFinished",
    "shutdownAfterJobFinishes",
    "suspend",
}
RAYCLUSTER_SPEC = {
    "suspend",
    "managedBy",
    "autoscalerOptions",
    "headServiceAnnotations",
    "enableInTreeAutoscaling",
    "gcsFaultToleranceOptions",
    "headGroupSpec",
    "rayVersion",
    "workerGroupSpecs",
}
HEAD_GROUP = {"template", "headService", "enableIngress", "rayStartParams", "serviceType"}
WORKER_GROUP = {
    "suspend",
    "groupName",
    "replicas",
    "minReplicas",
    "maxReplicas",
    "idleTimeoutSeconds",
    "rayStartParams",
    "template",
    "scaleStrategy",
    "numOfHosts",
}


def _yaml(path: str) -> list:
    return [d for d in yaml.safe_load_all((INFRA / path).read_text()) if d is not None]


def _by_kind(path: str) -> dict:
    return {d["kind"]: d for d in _yaml(path)}


def test_every_infra_yaml_parses_with_safe_load():
    files = sorted(p.relative_to(INFRA).as_posix() for p in INFRA.rglob("*.yaml"))
    assert files == ["kuberay/mlflow.yaml", "kuberay/rayjob.yaml", "mlflow/docker-compose.yaml", "ray/cluster.yaml"]
    for f in files:
        assert all(isinstance(doc, dict) for doc in _yaml(f)), f
    assert sorted(p.parent.name for p in INFRA.rglob("README.md")) == ["docker", "infra", "kuberay", "mlflow", "ray"]


# --- Ray cluster launcher -------------------------------------------------------------------------------------------


def test_cluster_yaml_passes_rays_own_schema_and_config_preparation():
    jsonschema = pytest.importorskip("jsonschema")
    schema_file = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
    if not schema_file.exists():
        pytest.skip(f"this ray ({ray.__version__}) ships no {schema_file.name}")
    schema = json.loads(schema_file.read_text())
    (cfg,) = _yaml("ray/cluster.yaml")
    jsonschema.validate(cfg, schema)
    with pytest.raises(jsonschema.ValidationError):  # the schema is strict: a misspelt key fails
        jsonschema.validate({**cfg, "max_worker": 4}, schema)
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(cfg))  # Ray's own defaults filled in, then `ray up`'s checks


def test_cluster_yaml_start_commands_use_only_flags_ray_start_has():
    from ray.scripts.scripts import start

    known = {opt for param in start.params for opt in param.opts}
    (cfg,) = _yaml("ray/cluster.yaml")
    commands = cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"]
    starts = [c[c.index("ray start") :] for c in commands if "ray start" in c]
    assert len(starts) == 2
    used = {arg.split("=")[0] for c in starts for arg in shlex.split(c) if arg.startswith("--")}
    assert used and used <= known, used - known
    assert "--dashboard-host=127.0.0.1" in starts[0]  # the job server is not exposed on the network


def test_cluster_yaml_gpu_workers_install_the_project_with_its_llm_extra():
    (cfg,) = _yaml("ray/cluster.yaml")
    gpu = cfg["available_node_types"]["gpu_worker"]
    assert gpu["resources"]["GPU"] >= 1 and gpu["min_workers"] == 0  # the autoscaler adds GPU workers on demand
    ((remote, local),) = cfg["file_mounts"].items()
    assert (ROOT / local / "pyproject.toml").exists()
    assert f"pip install --no-cache-dir -e {remote}" in cfg["setup_commands"]
    extras = {m for c in cfg["worker_setup_commands"] for m in re.findall(rf"{re.escape(remote)}\[(\w+)\]", c)}
    assert extras == {"llm"} and extras <= set(PYPROJECT["project"]["optional-dependencies"])


# --- KubeRay --------------------------------------------------------------------------------------------------------


def test_rayjob_uses_only_kuberay_v1_fields():
    job = _by_kind("kuberay/rayjob.yaml")["RayJob"]
    assert job["apiVersion"] == "ray.io/v1" and job["metadata"]["name"]
    spec = job["spec"]
    assert set(spec) <= RAYJOB_SPEC, set(spec) - RAYJOB_SPEC
    cluster = spec["rayClusterSpec"]
    assert set(cluster) <= RAYCLUSTER_SPEC, set(cluster) - RAYCLUSTER_SPEC
    head = cluster["headGroupSpec"]
    assert set(head) <= HEAD_GROUP and {"template", "rayStartParams"} <= set(head)
    assert head["template"]["spec"]["containers"]
    for group in cluster["workerGroupSpecs"]:
        assert set(group) <= WORKER_GROUP, set(group) - WORKER_GROUP
        assert {"groupName", "minReplicas", "maxReplicas", "rayStartParams", "template"} <= set(group)
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    assert spec["submissionMode"] in {"K8sJobMode", "HTTPMode", "InteractiveMode"}


def test_rayjob_entrypoint_parses_with_grid_run_and_names_a_valid_space():
    job = _by_kind("kuberay/rayjob.yaml")["RayJob"]
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:2] == ["python", "grid/run.py"] and (ROOT / argv[1]).is_file()
    args = parse_args(argv[2:])
    space = load_space(ROOT / args.space, data_root=args.data_root)  # validates the whole space file
    assert space.name == "full" and not space.simulated
    assert urlparse(args.mlflow_uri).scheme == "http"  # a tracking server, never a SQLite file on shared storage
    assert args.resume
    runtime_env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])
    assert runtime_env["working_dir"] == _dockerfile_workdir()


def test_rayjob_storage_and_data_live_on_a_volume_every_pod_mounts():
    docs = _by_kind("kuberay/rayjob.yaml")
    job = docs["RayJob"]
    args = parse_args(shlex.split(job["spec"]["entrypoint"])[2:])
    cluster = job["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]["spec"]] + [g["template"]["spec"] for g in cluster["workerGroupSpecs"]]
    claim = docs["PersistentVolumeClaim"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    for pod in pods:
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        for path in (args.storage, args.data_root):
            mount = next(m for m in mounts if path.startswith(m.rstrip("/") + "/"))
            assert volumes[mounts[mount]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_rayjob_gpu_group_requests_gpus_and_ray_versions_agree():
    cluster = _by_kind("kuberay/rayjob.yaml")["RayJob"]["spec"]["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__
    (gpu,) = [g for g in cluster["workerGroupSpecs"] if g["groupName"] == "gpu"]
    (container,) = gpu["template"]["spec"]["containers"]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    images = {
        c["image"]
        for pod in [cluster["headGroupSpec"]] + cluster["workerGroupSpecs"]
        for c in pod["template"]["spec"]["containers"]
    }
    assert len(images) == 1 and images.pop().endswith(":llm")  # the image built from infra/docker, target llm


def test_rayjob_reaches_the_mlflow_service_and_its_host_check_accepts_the_name():
    from mlflow.server.security_utils import is_allowed_host_header

    args = parse_args(shlex.split(_by_kind("kuberay/rayjob.yaml")["RayJob"]["spec"]["entrypoint"])[2:])
    docs = _by_kind("kuberay/mlflow.yaml")
    service, deployment = docs["Service"], docs["Deployment"]
    target = urlparse(args.mlflow_uri)
    assert target.hostname == service["metadata"]["name"] and target.port == service["spec"]["ports"][0]["port"]
    assert service["spec"]["type"] == "ClusterIP"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    allowed = env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert is_allowed_host_header(allowed, target.netloc) and not is_allowed_host_header(allowed, "evil.example:80")
    _assert_mlflow_server_flags(container["command"] + container["args"])


# --- container image ------------------------------------------------------------------------------------------------


def _dockerfile() -> list[str]:
    return [
        ln.strip()
        for ln in (INFRA / "docker" / "Dockerfile").read_text().splitlines()
        if ln.strip() and not ln.strip().startswith("#")
    ]


def _dockerfile_workdir() -> str:
    (workdir,) = [ln.split()[1] for ln in _dockerfile() if ln.startswith("WORKDIR")]
    return workdir


def test_dockerfile_copies_files_that_exist_and_the_ignore_file_lets_through():
    copies = [shlex.split(ln)[1:] for ln in _dockerfile() if ln.startswith("COPY")]
    sources = [src for args in copies for src in [a for a in args if not a.startswith("--")][:-1]]
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), src
    ignore = (INFRA / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    let_through = {ln[1:].rstrip("/") for ln in ignore if ln.startswith("!")}
    assert set(sources) == let_through
    assert "**" in ignore  # everything else (.venv, mlflow.db, ray_results, ...) stays out of the build context


def test_dockerfile_has_base_and_llm_targets_installing_extras_of_the_project():
    lines = _dockerfile()
    (default_image,) = [ln.split("=", 1)[1] for ln in lines if ln.startswith("ARG RAY_IMAGE=")]
    assert default_image.startswith(f"rayproject/ray:{ray.__version__}-py311-")
    assert "py311" in default_image and PYPROJECT["project"]["requires-python"] == ">=3.11"
    stages = [ln.split()[-1] for ln in lines if ln.startswith("FROM")]
    assert stages == ["base", "llm"]
    installs = [ln for ln in lines if ln.startswith("RUN pip install")]
    extras = {m for ln in installs for m in re.findall(r'"?\.\[(\w+)\]"?', ln)}
    assert extras == {"llm"} and extras <= set(PYPROJECT["project"]["optional-dependencies"])
    assert any(ln.endswith("-e .") for ln in installs)  # the base target: the project without extras


# --- MLflow server --------------------------------------------------------------------------------------------------


def _interpolate(value: str, env: dict) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} with the variables in `env`."""

    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op == ":?":
            raise KeyError(f"{name}: {arg}")
        return arg or ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def _assert_mlflow_server_flags(command: list[str]) -> dict[str, str]:
    from mlflow.cli import server

    assert command[:2] == ["mlflow", "server"]
    flags = dict(arg.split("=", 1) for arg in command[2:])
    known = {opt for param in server.params for opt in param.opts}
    assert set(flags) <= known, set(flags) - known
    return flags


def test_compose_publishes_mlflow_on_loopback_only_by_default():
    (compose,) = _yaml("mlflow/docker-compose.yaml")
    env = {"MLFLOW_DB_PASSWORD": "secret"}
    assert "ports" not in compose["services"]["postgres"]
    (port,) = compose["services"]["mlflow"]["ports"]
    assert _interpolate(port, env) == "127.0.0.1:5000:5000"
    assert _interpolate(port, {**env, "MLFLOW_BIND": "10.0.0.5"}) == "10.0.0.5:5000:5000"  # configurable
    with pytest.raises(KeyError):  # no default password
        _interpolate(compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"], {})


def test_compose_runs_mlflow_server_with_postgres_and_an_artifact_store_using_flags_mlflow_has():
    from packaging.specifiers import SpecifierSet

    (compose,) = _yaml("mlflow/docker-compose.yaml")
    service = compose["services"]["mlflow"]
    command = [_interpolate(c, {"MLFLOW_DB_PASSWORD": "secret"}) for c in service["command"]]
    flags = _assert_mlflow_server_flags(command)
    assert flags["--backend-store-uri"] == "postgresql://mlflow:secret@postgres:5432/mlflow"
    assert flags["--artifacts-destination"] == "/mlartifacts"
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (
        service["environment"]["MLFLOW_SERVER_ALLOWED_HOSTS"] == "${MLFLOW_ALLOWED_HOSTS:-}"
    )  # empty: MLflow's default
    (pin,) = re.findall(r'"mlflow==([\d.]+)"', (INFRA / "mlflow" / "Dockerfile").read_text())
    (wanted,) = [d for d in PYPROJECT["project"]["dependencies"] if d.startswith("mlflow")]
    assert pin in SpecifierSet(wanted[len("mlflow") :])  # the server runs a version the project supports


def test_docker_compose_config_accepts_the_compose_file(tmp_path):
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("docker compose is not installed here")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")} | {"MLFLOW_DB_PASSWORD": "secret"}
    result = subprocess.run(
        [docker, "compose", "-f", str(INFRA / "mlflow" / "docker-compose.yaml"), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "127.0.0.1" in result.stdout
