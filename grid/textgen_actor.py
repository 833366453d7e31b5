"""One text generator shared by every Tune trial of a grid: a named, detached Ray actor and a picklable client.

The driver calls `start_textgen_actor(cfg, namespace)` before `Tuner.fit()` and passes the returned
`TextgenClient` to trials as `TrialContext.textgen`; trials call `client.generate(requests)`, which forwards the
whole batch to the actor by name (a named detached actor, get_if_exists=True, whole batches per call
because a plain actor runs one method at a time). The actor wraps `flexcoder.textgen.create_generator(cfg)`, so its
disk cache and backend (vLLM on `cfg.num_gpus` GPUs) live once per grid. Being detached, it outlives a failing
trial and the driver; `stop_textgen_actor(namespace)` kills it. If the actor died, the client re-creates it (or
gets the one another client already re-created: get_if_exists) and retries the batch once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from typing import Any

import ray

from flexcoder.textgen import TextgenConfig, TextRequest, create_generator

ACTOR_NAME = "flexcoder-textgen"


class TextgenActor:
    """The actor body: one generator, plus the pid and a call counter so callers can tell instances apart."""

    def __init__(self, cfg: TextgenConfig):
        self.cfg = cfg
        self.generator = create_generator(cfg)
        self.calls = 0

    def generate(self, requests: Sequence[TextRequest]) -> list[str]:
        self.calls += 1
        return self.generator.generate(list(requests))

    def identity(self) -> dict:
        return self.generator.identity()

    def info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "calls": self.calls, "backend": self.cfg.backend}


def _actor_options(cfg: TextgenConfig, name: str, namespace: str, num_cpus: float) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "lifetime": "detached",
        "get_if_exists": True,
        "num_cpus": num_cpus,
        "num_gpus": cfg.num_gpus if cfg.backend == "vllm" else 0,
    }


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
        """{"pid", "calls", "backend"} of the actor instance serving this client."""
        return self._call("info")


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


def stop_textgen_actor(namespace: str, name: str = ACTOR_NAME) -> bool:
    """Kill the named actor (detached actors outlive their job). False when there was none."""
    try:
        handle = ray.get_actor(name, namespace=namespace)
    except ValueError:
        return False
    ray.kill(handle, no_restart=True)
    return True


def actor_name(cfg: TextgenConfig) -> str:
    """One actor per distinct generator config, named by a digest of it (stable across driver restarts)."""
    digest = hashlib.sha1(repr(cfg).encode()).hexdigest()[:10]
    return f"{ACTOR_NAME}-{cfg.backend}-{digest}"


def start_grid_textgen(configs: Iterable[TextgenConfig], namespace: str) -> dict[str, TextgenClient]:
    """{actor name: client} for every distinct config. vLLM gets a CPU (and its GPUs); the offline backends need
    no CPU reservation (our choice: on a 2-core machine a reserved CPU would halve trial throughput)."""
    clients = {}
    for cfg in dict.fromkeys(configs):
        name = actor_name(cfg)
        clients[name] = start_textgen_actor(cfg, namespace, name, num_cpus=1.0 if cfg.backend == "vllm" else 0.0)
    return clients
