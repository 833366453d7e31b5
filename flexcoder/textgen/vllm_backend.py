"""The `vllm` backend: a real LLM through vLLM's offline API (`vllm.LLM`), imported lazily.

One `LLM.generate` call per batch with every prompt (vLLM batches continuously). Each raw answer is returned as
primer + completion (the prompt ends with the answer primer "_" / "For c1:\\n_"), so the parser sees the whole list.
Generation stops at the next "\\nQ:" (our choice: stops a base model from inventing the next few-shot question).
"""

from __future__ import annotations

from collections.abc import Sequence

from flexcoder.textgen.base import TextRequest
from flexcoder.textgen.config import TextgenConfig
from flexcoder.textgen.prompts import primer

INSTALL_HINT = "pip install 'flexcoder[llm]'"


class VllmGenerator:
    def __init__(self, cfg: TextgenConfig):
        try:
            import vllm
        except ImportError as e:
            raise ImportError(
                f"the vllm text backend needs vLLM (a CUDA GPU build): {INSTALL_HINT}; or set "
                "coder.textgen.backend to 'template' or 'file'"
            ) from e
        self.cfg = cfg
        self._vllm = vllm
        self.llm = vllm.LLM(
            model=cfg.model,
            seed=cfg.seed,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            max_model_len=cfg.max_model_len,
        )
        self.calls = 0

    def identity(self) -> dict:
        return {"backend": "vllm", "model": self.cfg.model, "sampling": self.cfg.sampling()}

    def generate(self, requests: Sequence[TextRequest]) -> list[str]:
        self.calls += 1
        if not requests:
            return []
        params = self._vllm.SamplingParams(**self.cfg.sampling(), stop=["\nQ:"])
        outs = self.llm.generate([r.prompt for r in requests], params, use_tqdm=False)
        return [primer(r) + (o.outputs[0].text if o.outputs else "") for r, o in zip(requests, outs)]
