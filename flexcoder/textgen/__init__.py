"""Text generation for CODER's Auto Text Generator (ATG): requests, backends, disk cache, parsing.

`create_generator(cfg)` builds the backend a `TextgenConfig` names ("template" | "file" | "vllm"), wrapped in the
disk cache when `cfg.cache_dir` is set. Every generator implements `TextGenerator`: `generate(requests) -> list[str]`
(one raw answer per request, in order) and `identity() -> dict`. No backend is imported before it is asked for.
"""

from __future__ import annotations

from collections.abc import Callable

from flexcoder.textgen.base import KINDS, TextGenerator, TextRequest
from flexcoder.textgen.cache import CachedGenerator, cache_key
from flexcoder.textgen.config import TextgenConfig
from flexcoder.textgen.parse import Parsed, parse_list, parse_ovo
from flexcoder.textgen.prompts import build_request

__all__ = [
    "KINDS",
    "CachedGenerator",
    "Parsed",
    "TextGenerator",
    "TextRequest",
    "TextgenConfig",
    "build_request",
    "cache_key",
    "create_generator",
    "list_backends",
    "parse_list",
    "parse_ovo",
    "register_backend",
]


def _template(cfg: TextgenConfig) -> TextGenerator:
    from flexcoder.textgen.template import TemplateGenerator

    return TemplateGenerator()


def _file(cfg: TextgenConfig) -> TextGenerator:
    from flexcoder.textgen.file import FileGenerator

    return FileGenerator(cfg.file)


def _vllm(cfg: TextgenConfig) -> TextGenerator:
    from flexcoder.textgen.vllm_backend import VllmGenerator

    return VllmGenerator(cfg)


_BACKENDS: dict[str, Callable[[TextgenConfig], TextGenerator]] = {"template": _template, "file": _file, "vllm": _vllm}


def register_backend(name: str, factory: Callable[[TextgenConfig], TextGenerator]) -> None:
    """Add a backend (tests, plugins). The config's Literal still limits what YAML can name."""
    _BACKENDS[name] = factory


def list_backends() -> list[str]:
    return sorted(_BACKENDS)


def create_generator(cfg: TextgenConfig | None = None) -> TextGenerator:
    """The generator `cfg` names, behind the disk cache when `cfg.cache_dir` is set."""
    cfg = cfg or TextgenConfig()
    cfg.validate()
    try:
        factory = _BACKENDS[cfg.backend]
    except KeyError:
        raise ValueError(f"unknown textgen backend {cfg.backend!r}; known: {', '.join(list_backends())}") from None
    generator = factory(cfg)
    return CachedGenerator(generator, cfg.cache_dir) if cfg.cache_dir else generator
