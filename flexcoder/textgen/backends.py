"""The text-generation backends by name, and `create_generator`, the one way a config becomes a generator.

No backend is imported before it is asked for (vLLM and the HTTP client stay out of processes that never use them).
"""

from __future__ import annotations

from collections.abc import Callable

from flexcoder.textgen.base import TextGenerator
from flexcoder.textgen.cache import CachedGenerator
from flexcoder.textgen.config import TextgenConfig


def _template(cfg: TextgenConfig) -> TextGenerator:
    from flexcoder.textgen.template import TemplateGenerator

    return TemplateGenerator()


def _file(cfg: TextgenConfig) -> TextGenerator:
    from flexcoder.textgen.file import FileGenerator

    return FileGenerator(cfg.file)


def _vllm(cfg: TextgenConfig) -> TextGenerator:
    from flexcoder.textgen.vllm_backend import VllmGenerator

    return VllmGenerator(cfg)


def _openai(cfg: TextgenConfig) -> TextGenerator:
    from flexcoder.textgen.openai_backend import OpenAIChatGenerator

    return OpenAIChatGenerator(cfg)


_BACKENDS: dict[str, Callable[[TextgenConfig], TextGenerator]] = {
    "template": _template,
    "file": _file,
    "vllm": _vllm,
    "openai": _openai,
}


def register_backend(name: str, factory: Callable[[TextgenConfig], TextGenerator]) -> None:
    """Add a backend (tests, plugins). The config's Literal still limits what YAML can name."""
    _BACKENDS[name] = factory


def list_backends() -> list[str]:
    return sorted(_BACKENDS)


def create_generator(cfg: TextgenConfig | None = None, concurrent: bool = False) -> TextGenerator:
    """The generator `cfg` names, behind the disk cache when `cfg.cache_dir` is set. `concurrent=True` (the grid's
    shared actor) merges concurrent callers' requests into one call (`CoalescingGenerator`), which the cache then
    answers where it can, asking the backend once per distinct prompt."""
    cfg = cfg or TextgenConfig()
    cfg.validate()
    try:
        factory = _BACKENDS[cfg.backend]
    except KeyError:
        raise ValueError(f"unknown textgen backend {cfg.backend!r}; known: {', '.join(list_backends())}") from None
    generator = factory(cfg)
    if cfg.cache_dir:
        generator = CachedGenerator(generator, cfg.cache_dir)
    if concurrent:  # outside the cache: each merged batch reads the answers the previous one stored
        from flexcoder.textgen.coalescing import CoalescingGenerator

        generator = CoalescingGenerator(generator)
    return generator


def backend_of(generator: TextGenerator) -> TextGenerator:
    """The backend under the cache and coalescing wrappers."""
    while hasattr(generator, "inner"):
        generator = generator.inner
    return generator
