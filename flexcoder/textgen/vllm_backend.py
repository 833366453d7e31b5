"""The `vllm` backend: a real LLM through vLLM's offline engine (`vllm.LLM`), imported lazily.

One engine call per batch with every request (vLLM batches continuously). With `chat` the requests go through
`LLM.chat` (the model's chat template) and the answer is the assistant's text; without it they are plain completion
prompts and the answer is primer + completion (the prompt ends with the primer "_" / "For c1:\\n_"), stopped at the
next "\\nQ:" (our choice: stops a base model from inventing the next few-shot question). With `structured` each
answer is constrained to its JSON schema (`flexcoder.textgen.prompts.answer_schema`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from flexcoder.textgen.base import GenerationCounts, TextRequest
from flexcoder.textgen.config import TextgenConfig
from flexcoder.textgen.prompts import answer_schema, chat_messages, primer

INSTALL_HINT = (
    "pip install 'flexcoder[llm]' on a CUDA machine, or `bash infra/llm/prepare_cpu.sh` for vLLM's CPU build in "
    ".venv-llm (then set coder.textgen.python: .venv-llm/bin/python)"
)


def model_path(model: str) -> str:
    """A local folder as an absolute path ("~" expanded); a hub name unchanged."""
    local = Path(model).expanduser()
    return str(local.resolve()) if local.exists() else model


class VllmGenerator:
    """The engine starts at the first request that reaches it (ours: a rerun answered from the disk cache never
    pays vLLM's start, ~40 s on CPU, minutes on a GPU). vLLM's import and a local model folder are checked at once,
    so a missing install or folder fails before any trial starts."""

    def __init__(self, cfg: TextgenConfig):
        # vLLM's CPU build reads its KV-cache size from the environment when the engine starts; its INFO lines
        # would fill the grid's console (ours: warnings and errors still show).
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cfg.cpu_kv_cache_gib))
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        try:
            import vllm
        except ImportError as e:
            raise ImportError(f"the vllm text backend needs vLLM: {INSTALL_HINT}") from e
        local = Path(cfg.model).expanduser()
        if cfg.model.startswith(("/", "~", ".")) and not (local / "config.json").is_file():
            raise FileNotFoundError(f"coder.textgen.model: no model folder (config.json) at {local}")
        self.cfg = cfg
        self._vllm = vllm
        self.llm = None
        self.engine_start_s = 0.0
        self.counts = GenerationCounts()

    def _engine(self):
        if self.llm is None:
            from vllm.platforms import current_platform

            options = {}
            if current_platform.is_cpu():
                # vLLM's CPU build fails on a prompt split across engine steps (chunked prefill) when the request
                # carries its own seed ("CPU Generator does not use offset"); whole prompts only, then.
                options = {"enable_chunked_prefill": False, "max_num_batched_tokens": max(self.cfg.max_model_len, 8192)}
            start = time.perf_counter()
            self.llm = self._vllm.LLM(
                model=model_path(self.cfg.model),
                seed=self.cfg.seed,
                gpu_memory_utilization=self.cfg.gpu_memory_utilization,
                max_model_len=self.cfg.max_model_len,
                enforce_eager=self.cfg.enforce_eager,
                **options,
            )
            self.engine_start_s = time.perf_counter() - start
        return self.llm

    def identity(self) -> dict:
        return self.cfg.llm_identity()

    def _params(self, request: TextRequest):
        kwargs = dict(self.cfg.sampling())
        if not self.cfg.chat:
            kwargs["stop"] = ["\nQ:"]
        if self.cfg.structured:
            from vllm.sampling_params import StructuredOutputsParams

            kwargs["structured_outputs"] = StructuredOutputsParams(json=answer_schema(request))
        return self._vllm.SamplingParams(**kwargs)

    def generate(self, requests: Sequence[TextRequest]) -> list[str]:
        if not requests:
            return []
        start = time.perf_counter()
        params = [self._params(r) for r in requests]
        if self.cfg.chat:
            convs = [chat_messages(r, self.cfg.structured) for r in requests]
            outs = self._engine().chat(convs, params, use_tqdm=False)
            texts = [o.outputs[0].text if o.outputs else "" for o in outs]
        else:
            outs = self._engine().generate([r.prompt for r in requests], params, use_tqdm=False)
            texts = [primer(r) + (o.outputs[0].text if o.outputs else "") for r, o in zip(requests, outs)]
        tokens = sum(len(o.outputs[0].token_ids) for o in outs if o.outputs)
        self.counts.add(len(requests), tokens, time.perf_counter() - start)
        return texts

    def stats(self) -> dict[str, float]:
        return {**self.counts.as_dict(), "engine_start_s": self.engine_start_s}

    def close(self) -> None:
        """Stop the engine's processes (a killed actor otherwise leaves its shared memory behind)."""
        engine = getattr(getattr(self, "llm", None), "llm_engine", None)
        core = getattr(engine, "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
