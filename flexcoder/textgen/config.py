"""Text-generator settings (the `coder.textgen.*` dotted keys). Every default the paper leaves open says why."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TextgenConfig:
    """Which backend answers CODER's Auto Text Generator (ATG) requests, and how.

    Attributes:
        backend: "template" (offline, deterministic: answers from the embedded worlds' class knowledge, the default),
            "file" (pre-generated texts in a JSON file, see `flexcoder.textgen.file`), "vllm" (a real LLM in
            process, vLLM's offline engine) or "openai" (any OpenAI-compatible chat server: `vllm serve`, llama.cpp's
            server, a hosted API).
        model: the LLM: a HF model name or local folder for "vllm", the served model name for "openai". Part of the
            cache key. Required for both.
        file: path of the JSON file for the "file" backend.
        cache_dir: absolute folder for the disk cache of raw answers; None = no disk cache. Absolute because Ray
            Tune trials run with a changed working directory (our choice).
        temperature, top_p, max_tokens, seed, repetition_penalty: sampling. The official ATG uses OpenAI
            ChatCompletion with the client's default sampling (docs/methods.md §1.3); our choice: temperature 0.7 /
            top_p 0.95 (a common chat default), 256 new tokens (a 5-10 item list fits), seed 0 so a rerun
            reproduces the same texts, no repetition penalty.
        chat: send the ATG question as chat turns through the model's chat template (instruction models, and every
            "openai" server); False sends the plain completion prompt (base models).
        structured: constrain each answer to a JSON schema of the list (vLLM's structured outputs, the OpenAI
            `response_format`); the parser validates the answer either way.
        python: the Python executable of the environment the grid's shared generator actor runs in (vLLM's CPU
            build pins its own torch, so it lives in an environment of its own); None = the driver's Python.
            A relative path is taken from the repository root (the folder holding `flexcoder/`).
        enforce_eager: vLLM without torch.compile / CUDA graphs (on CPU: an engine start of ~30 s instead of
            minutes, recompiled at every start).
        cpu_kv_cache_gib: vLLM's KV cache on a CPU engine (VLLM_CPU_KVCACHE_SPACE); our choice 1 GiB, plenty for
            ATG prompts (vLLM otherwise takes most of the machine's memory).
        gpu_memory_utilization: vLLM pre-allocation share. Our choice 0.5 (vLLM's 0.92 default leaves nothing for
            CLIP trials sharing the GPU).
        max_model_len: vLLM context length; our choice 2048 (the one-shot prompts are < 300 tokens).
        num_gpus: GPUs the grid's shared Ray actor reserves when backend is "vllm" (0 for the other backends, and
            for vLLM's CPU build).
        base_url: the "openai" server, e.g. http://127.0.0.1:8000/v1 (empty: OPENAI_BASE_URL or OpenAI's API).
        api_key_env: the environment variable holding the "openai" API key. Only its name is configured: the key
            never enters a config, a cache key, MLflow or a log.
        concurrency: requests the "openai" backend keeps in flight (the server batches them).
    """

    backend: Literal["template", "file", "vllm", "openai"] = "template"
    model: str = ""
    file: str | None = None
    cache_dir: str | None = None
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 256
    seed: int = 0
    repetition_penalty: float = 1.0
    chat: bool = True
    structured: bool = True
    python: str | None = None
    enforce_eager: bool = False
    cpu_kv_cache_gib: int = 1
    gpu_memory_utilization: float = 0.5
    max_model_len: int = 2048
    num_gpus: float = 1.0
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16

    def validate(self) -> None:
        if self.backend in ("vllm", "openai") and not self.model:
            raise ValueError(f"textgen.model: the {self.backend} backend needs a model name or path")
        if self.backend == "file" and not self.file:
            raise ValueError("textgen.file: the file backend needs the path of a JSON file")
        if self.cache_dir is not None and not os.path.isabs(os.path.expanduser(self.cache_dir)):
            raise ValueError(f"textgen.cache_dir: must be an absolute path, got {self.cache_dir!r}")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ValueError("textgen.gpu_memory_utilization: must be in (0, 1]")
        if self.temperature < 0 or not 0.0 < self.top_p <= 1.0:
            raise ValueError("textgen.temperature must be >= 0 and textgen.top_p in (0, 1]")
        if self.repetition_penalty <= 0:
            raise ValueError("textgen.repetition_penalty must be > 0")
        if self.max_tokens < 1 or self.max_model_len < 1:
            raise ValueError("textgen.max_tokens and textgen.max_model_len must be >= 1")
        if self.num_gpus < 0 or self.cpu_kv_cache_gib < 1 or self.concurrency < 1:
            raise ValueError("textgen.num_gpus must be >= 0, textgen.cpu_kv_cache_gib and concurrency >= 1")
        if self.backend == "openai" and not self.api_key_env.replace("_", "").isalnum():
            raise ValueError(f"textgen.api_key_env: the name of an environment variable, got {self.api_key_env!r}")

    def sampling(self) -> dict[str, float | int]:
        """The sampling parameters, as they enter the cache key and the backend's request."""
        out = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens, "seed": self.seed}
        if self.repetition_penalty != 1.0:
            out["repetition_penalty"] = self.repetition_penalty
        return out

    def llm_identity(self) -> dict:
        """What distinguishes this LLM's answers to the same prompt (the disk-cache key without the prompt)."""
        return {
            "backend": self.backend,
            "model": self.model,
            "sampling": self.sampling(),
            "chat": self.chat,
            "structured": self.structured,
        }
