"""One text generator shared by every Tune trial of a grid: a named, detached Ray actor and a picklable client.

The driver calls `start_textgen_actor(cfg, namespace)` before `Tuner.fit()` and passes the returned `TextgenClient` to
trials as `TrialContext.textgen`; trials call `client.generate(requests)`, which forwards the whole batch to the actor
by name (a named detached actor, get_if_exists=True). The actor wraps `flexcoder.textgen.create_generator(cfg)`, so its
disk cache and backend (vLLM on `cfg.num_gpus` GPUs) live once per grid. Being detached, it outlives a failing trial and
the driver; `stop_textgen_actor(namespace)` stops its engine and kills it. If the actor died, the client re-creates it
(or gets the one another client already re-created: get_if_exists) and retries the batch once.

The actor runs calls from many trials at once (a threaded actor, `max_concurrency`), and its generator merges
concurrent requests into one backend batch (`flexcoder.textgen.coalescing`). With `cfg.python` it runs in another
Python environment (vLLM's CPU build pins its own torch): Ray starts the worker with that interpreter and this
repository on its PYTHONPATH, so the trials' environment never imports vLLM.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import ray

from flexcoder.textgen import CachedGenerator, TextgenConfig, TextRequest, backend_of, create_generator
from flexcoder.textgen.coalescing import CoalescingGenerator

ACTOR_NAME = "flexcoder-textgen"
# Requests from this many trials can wait on the actor at once (they are served in merged batches).
MAX_CONCURRENCY = 64
# The folder that holds the flexcoder and grid packages: the PYTHONPATH of an actor in another environment.
CODE_ROOT = Path(__file__).resolve().parent.parent


class TextgenActor:
    """The actor body: one generator, plus the pid and a call counter so callers can tell instances apart."""

    def __init__(self, cfg: TextgenConfig):
        self.cfg = cfg
        self.generator = create_generator(cfg, concurrent=True)
        self.calls = 0

    def generate(self, requests: Sequence[TextRequest]) -> list[str]:
        self.calls += 1
        return self.generator.generate(list(requests))

    def identity(self) -> dict:
        return self.generator.identity()

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "calls": self.calls, "backend": self.cfg.backend, "python": sys.executable}

    def stats(self) -> dict[str, Any]:
        """The backend's counters (prompts, generated tokens, engine seconds), the cache's, and the merged batches."""
        out: dict[str, Any] = dict(getattr(backend_of(self.generator), "stats", dict)())
        layer = self.generator
        while layer is not None:
            if isinstance(layer, CachedGenerator):
                out["cache_hits"] = layer.hits
            if isinstance(layer, CoalescingGenerator):
                out["batches"] = list(layer.batches)
            layer = getattr(layer, "inner", None)
        return out

    def shutdown(self) -> None:
        close = getattr(backend_of(self.generator), "close", None)
        if close is not None:
            close()


def runtime_env(cfg: TextgenConfig) -> dict[str, Any] | None:
    """The actor's environment when `cfg.python` names another interpreter; None runs it in the driver's."""
    if not cfg.python:
        return None
    python = CODE_ROOT / Path(cfg.python).expanduser()  # a relative path: from the repository root
    if not python.exists():
        raise FileNotFoundError(
            f"coder.textgen.python: {python} does not exist; `bash infra/llm/prepare_cpu.sh` makes .venv-llm"
        )
    env = {"PYTHONPATH": str(CODE_ROOT), "VLLM_CPU_KVCACHE_SPACE": str(cfg.cpu_kv_cache_gib)}
    if Path(cfg.model).expanduser().exists():
        env["HF_HUB_OFFLINE"] = "1"  # a local model folder: never ask the hub
    return {"py_executable": str(python), "env_vars": env}


def _actor_options(cfg: TextgenConfig, name: str, namespace: str, num_cpus: float) -> dict[str, Any]:
    options = {
        "name": name,
        "namespace": namespace,
        "lifetime": "detached",
        "get_if_exists": True,
        "num_cpus": num_cpus,
        "num_gpus": cfg.num_gpus if cfg.backend == "vllm" else 0,
        "max_concurrency": MAX_CONCURRENCY,
    }
    env = runtime_env(cfg)
    if env is not None:
        options["runtime_env"] = env
    return options


def _get_or_create(cfg: TextgenConfig, name: str, namespace: str, num_cpus: float):
    return ray.remote(TextgenActor).options(**_actor_options(cfg, name, namespace, num_cpus)).remote(cfg)


_DEAD = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError)


class TextgenClient:
    """Implements the `flexcoder.textgen.TextGenerator` interface by forwarding to the named actor.

    Picklable: it carries only the config, the actor's name and namespace (the handle is looked up lazily in each
    process and never pickled).
    """

    def __init__(self, cfg: TextgenConfig, namespace: str, name: str = ACTOR_NAME, num_cpus: float = 1.0):
        self.cfg, self.namespace, self.name, self.num_cpus = cfg, namespace, name, num_cpus
        self._handle = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handle"] = None
        return state

    def handle(self):
        if self._handle is None:
            try:
                self._handle = ray.get_actor(self.name, namespace=self.namespace)
            except ValueError:  # not there (never started, or died and was cleaned up): start it
                self._handle = _get_or_create(self.cfg, self.name, self.namespace, self.num_cpus)
        return self._handle

    def _call(self, method: str, *args):
        for attempt in range(2):
            try:
                return ray.get(getattr(self.handle(), method).remote(*args))
            except _DEAD:
                self._handle = None
                if attempt:
                    raise
                # The actor died: get the replacement another client made, or make it (get_if_exists).
                self._handle = _get_or_create(self.cfg, self.name, self.namespace, self.num_cpus)

    def generate(self, requests: Sequence[TextRequest]) -> list[str]:
        return self._call("generate", list(requests))

    def identity(self) -> dict:
        return self._call("identity")

    def info(self) -> dict[str, Any]:
        """{"pid", "calls", "backend", "python"} of the actor instance serving this client."""
        return self._call("info")

    def stats(self) -> dict[str, Any]:
        return self._call("stats")


def start_textgen_actor(
    cfg: TextgenConfig, namespace: str, name: str = ACTOR_NAME, num_cpus: float = 1.0
) -> TextgenClient:
    """Start (or get, if it exists) the grid's shared generator actor and return a client for trials.

    Ray must be initialised (the grid driver's `ray.init`). Blocks until the actor is up, so a backend that fails
    to build (missing vLLM, bad file) fails here, before any trial starts.
    """
    cfg.validate()
    client = TextgenClient(cfg, namespace, name, num_cpus)
    client._handle = _get_or_create(cfg, name, namespace, num_cpus)
    client.info()
    return client


def stop_textgen_actor(namespace: str, name: str = ACTOR_NAME, timeout_s: float = 60.0) -> bool:
    """Stop the named actor's engine, then kill it (detached actors outlive their job). False when there was none."""
    try:
        handle = ray.get_actor(name, namespace=namespace)
    except ValueError:
        return False
    try:
        ray.get(handle.shutdown.remote(), timeout=timeout_s)
    except Exception:  # noqa: BLE001 - a dead or hung actor is killed all the same
        pass
    ray.kill(handle, no_restart=True)
    return True


def actor_name(cfg: TextgenConfig) -> str:
    """One actor per distinct generator config, named by a digest of it (stable across driver restarts)."""
    digest = hashlib.sha1(repr(cfg).encode()).hexdigest()[:10]
    return f"{ACTOR_NAME}-{cfg.backend}-{digest}"


def start_grid_textgen(configs: Iterable[TextgenConfig], namespace: str) -> dict[str, TextgenClient]:
    """{actor name: client} for every distinct config. vLLM on GPUs gets a CPU for its engine loop; every other
    backend reserves none (ours: on a 2-core machine a reserved CPU would halve the trials in flight, and on vLLM's
    CPU build the engine computes on every core whatever is reserved, while the trials waiting for it are idle)."""
    clients = {}
    for cfg in dict.fromkeys(configs):
        name = actor_name(cfg)
        cpus = 1.0 if cfg.backend == "vllm" and cfg.num_gpus > 0 else 0.0
        clients[name] = start_textgen_actor(cfg, namespace, name, num_cpus=cpus)
    return clients
