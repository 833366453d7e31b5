"""Typed trial configuration: frozen dataclasses built from plain dicts once, validated at the edge.

`TrialConfig` is what one trial runs. It composes the per-method sections (`FlexClipConfig`, `CoderConfig`),
which live next to the method they configure. Dicts from YAML or from Ray Tune's flat `config` enter through
`build()` / `TrialConfig.from_flat()`; every error names the dotted key path and lists the keys that are allowed.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flexcoder.coder.config import CoderConfig
from flexcoder.flexclip.config import FlexClipConfig


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the key path."""


@dataclass(frozen=True)
class NoiseConfig:
    """Noise in the few-shot target data (`flexcoder.data.noise`), shared by both methods' protocols.

    Attributes:
        label: fraction of the target shots relabelled to a wrong target class.
        text: fraction of the target shots whose paired texts are swapped among themselves (retrieval only).
    """

    label: float = 0.0
    text: float = 0.0

    def validate(self) -> None:
        for key in ("label", "text"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key}: a fraction in [0, 1], got {getattr(self, key)}")


# Sections of the config that belong to one method; the rest (the axes, `noise`, ...) describe every trial.
METHOD_SECTIONS = ("flexclip", "coder")


@dataclass(frozen=True)
class TrialConfig:
    """One trial: a method on a dataset with a backbone, a number of shots and a seed.

    Attributes:
        method: registered method name (`flexcoder.list_methods()`).
        dataset: registered dataset name (`flexcoder.data.registry.list_datasets()`).
        backbone: "simulated" (the embedded simulated CLIP world), an open_clip "MODEL/PRETRAINED" pair (a tag or a
            weights file), "hf-hub:ORG/REPO" or "local-dir:/path" (`flexcoder.features.backbone_names`).
        shots: real labelled target-class samples per class (0 = zero-shot).
        seed: seeds the shot sampling, model init and training order.
        data_root: root folder of real datasets (unused by the simulated backbone).
        device: "auto" (cuda when present), "cpu" or "cuda[:N]".
        precision: the CLIP encoders' precision for real backbones: "fp32", or "fp16"/"bf16" under autocast. Part of
            the feature cache key. Default fp32 (our choice: features are extracted once per grid, so full precision
            costs little, and the key stays the same on CPU and GPU machines).
        feature_cache: folder of the extracted-feature cache; None means $FLEXCODER_CACHE, else
            `<data_root>/.flexcoder_cache` (`flexcoder.features.cache_dir_for`).
        noise: label and text noise in the target shots (`NoiseConfig`); none by default.
    """

    method: str
    dataset: str
    backbone: str = "simulated"
    shots: int = 0
    seed: int = 0
    data_root: str | None = None
    device: str = "auto"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    feature_cache: str | None = None
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    flexclip: FlexClipConfig = field(default_factory=FlexClipConfig)
    coder: CoderConfig = field(default_factory=CoderConfig)

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any]) -> TrialConfig:
        """Build from a flat dict with dotted keys ("flexclip.loss.contrastive": 0.5)."""
        return build(cls, unflatten(flat))

    def to_flat(self) -> dict[str, Any]:
        """The inverse of `from_flat`: every leaf field under its dotted key."""
        return flatten(dataclasses.asdict(self))

    def own_flat(self) -> dict[str, Any]:
        """`to_flat` without the sections of other methods: what describes this trial."""
        return {
            k: v
            for k, v in self.to_flat().items()
            if k.split(".")[0] not in METHOD_SECTIONS or k.startswith(self.method + ".")
        }

    def validate(self) -> None:
        if self.method == "coder" and self.noise.text > 0:
            raise ValueError("noise.text: CODER's classification data has no paired texts to swap")

    @property
    def simulated(self) -> bool:
        return self.backbone == "simulated"


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"a.b": 1, "a.c": 2} -> {"a": {"b": 1, "c": 2}}; a key that is both a leaf and a prefix is an error."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = nested
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(parts[: i + 1])}: is a value, so {key} cannot be set below it")
            node = child
        if isinstance(node.get(parts[-1]), dict) and not isinstance(value, Mapping):
            raise ConfigError(f"{key}: is a section, not a value")
        node[parts[-1]] = value
    return nested


def flatten(nested: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in nested.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value
    return out


def leaf_paths(cls: type) -> dict[str, Any]:
    """Every settable dotted key of a config dataclass with its type annotation."""
    out: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out.update({f"{f.name}.{k}": v for k, v in leaf_paths(tp).items()})
        else:
            out[f.name] = tp
    return out


def build(cls: type, data: Mapping[str, Any], path: str = "") -> Any:
    """Build dataclass `cls` from `data`, checking keys and types; errors name the key path."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(f"unknown key {where}{unknown[0]}; allowed here: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, value in data.items():
        key = f"{path}.{name}" if path else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = build(tp, value, key)
        else:
            kwargs[name] = _coerce(value, tp, key)
    missing = [n for n, f in fields.items() if n not in kwargs and _required(f)]
    if missing:
        raise ConfigError(f"missing required key {path + '.' if path else ''}{missing[0]}")
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{path or cls.__name__}: {e}") from e
    validate = getattr(obj, "validate", None)
    if validate is not None:
        try:
            validate()
        except ValueError as e:
            raise ConfigError(f"{path + ': ' if path else ''}{e}") from e
    return obj


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against annotation `tp`; ints are accepted where floats are expected."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in typing.get_args(tp):
            try:
                return _coerce(value, arm, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key}: {value!r} matches none of {_type_name(tp)}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key}: expected null, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (arm, _ellipsis) = typing.get_args(tp)
        return tuple(_coerce(v, arm, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if tp is Any:
        return value
    raise ConfigError(f"{key}: unsupported annotation {tp!r}")  # a programming error in a config class


def _type_name(tp: Any) -> str:
    return " | ".join(getattr(a, "__name__", repr(a)) for a in typing.get_args(tp))
