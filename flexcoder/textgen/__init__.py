"""Text generation for CODER's Auto Text Generator (ATG): requests, backends, disk cache, parsing.

`create_generator(cfg)` (`flexcoder.textgen.backends`) builds the backend a `TextgenConfig` names ("template" |
"file" | "vllm" | "openai"), behind the disk cache when `cfg.cache_dir` is set. Every generator implements
`TextGenerator`: `generate(requests) -> list[str]` (one raw answer per request, in order) and `identity() -> dict`.
"""

from flexcoder.textgen.backends import backend_of, create_generator, list_backends, register_backend
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
    "backend_of",
    "build_request",
    "cache_key",
    "create_generator",
    "list_backends",
    "parse_list",
    "parse_ovo",
    "register_backend",
]
