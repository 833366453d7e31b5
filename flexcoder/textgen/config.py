"""Text-generator settings (the `coder.textgen.*` dotted keys). Every default the paper leaves open says why."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TextgenConfig:
    """Which backend answers CODER's Auto Text Generator (ATG) requests, and how.

    Attributes:
        backend: "template" (offline, deterministic: answers from the embedded knowledge.json, the default),
            "file" (pre-generated texts in a JSON file, see `flexcoder.textgen.file`), or "vllm" (a real LLM).
        model: vllm model name or local path (HF format). Also part of the cache key. Required for "vllm".
        file: path of the JSON file for the "file" backend.
        cache_dir: absolute folder for the disk cache of raw answers; None = no disk cache. Absolute because Ray
            Tune trials run with a changed working directory (our choice).
        temperature, top_p, max_tokens, seed: vLLM SamplingParams. The official ATG uses OpenAI ChatCompletion with
            the client's default sampling (docs/methods.md §1.3); our choice: temperature 0.7 / top_p 0.95 (a common
            chat default), 256 new tokens (a 5-10 item list fits), seed 0 so a rerun reproduces the same texts.
        gpu_memory_utilization: vLLM pre-allocation share. Our choice 0.5 (vLLM's 0.92 default leaves nothing for
            CLIP trials sharing the GPU).
        max_model_len: vLLM context length; our choice 2048 (the one-shot prompts are < 300 tokens).
        num_gpus: GPUs the grid's shared Ray actor reserves when backend is "vllm" (0 for the other backends).
    """

    backend: Literal["template", "file", "vllm"] = "template"
    model: str = ""
    file: str | None = None
    cache_dir: str | None = None
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 256
    seed: int = 0
    gpu_memory_utilization: float = 0.5
    max_model_len: int = 2048
    num_gpus: float = 1.0

    def validate(self) -> None:
        if self.backend == "vllm" and not self.model:
            raise ValueError("textgen.model: the vllm backend needs a model name or path")
        if self.backend == "file" and not self.file:
            raise ValueError("textgen.file: the file backend needs the path of a JSON file")
        if self.cache_dir is not None and not os.path.isabs(os.path.expanduser(self.cache_dir)):
            raise ValueError(f"textgen.cache_dir: must be an absolute path, got {self.cache_dir!r}")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ValueError("textgen.gpu_memory_utilization: must be in (0, 1]")
        if self.temperature < 0 or not 0.0 < self.top_p <= 1.0:
            raise ValueError("textgen.temperature must be >= 0 and textgen.top_p in (0, 1]")
        if self.max_tokens < 1 or self.max_model_len < 1:
            raise ValueError("textgen.max_tokens and textgen.max_model_len must be >= 1")
        if self.num_gpus < 0:
            raise ValueError("textgen.num_gpus must be >= 0")

    def sampling(self) -> dict[str, float | int]:
        """The sampling parameters, as they enter the cache key and vLLM's SamplingParams."""
        return {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens, "seed": self.seed}
