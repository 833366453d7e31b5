"""The `openai` backend: any OpenAI-compatible chat server (`vllm serve`, llama.cpp's server, a hosted API).

Plain HTTP from the standard library (ours: no client package to install for one endpoint), `concurrency` requests
in flight so the server batches them. The API key is read from the environment variable `api_key_env` names, when
a batch is sent; it is never stored on the generator, so it cannot reach a pickle, the cache key, MLflow or a log.
A request that fails with 429 or 5xx is retried twice (1 s, then 4 s later); any other failure names the server
and status, and fails the batch.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from flexcoder.textgen.base import GenerationCounts, TextRequest
from flexcoder.textgen.config import TextgenConfig
from flexcoder.textgen.prompts import answer_schema, chat_messages

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUS = (429, 500, 502, 503, 504)


def base_url(cfg: TextgenConfig) -> str:
    return (cfg.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


class OpenAIChatGenerator:
    def __init__(self, cfg: TextgenConfig, timeout_s: float = 600.0):
        self.cfg = cfg
        self.url = base_url(cfg) + "/chat/completions"
        self.timeout_s = timeout_s
        self.counts = GenerationCounts()

    def identity(self) -> dict:
        return self.cfg.llm_identity()

    def _body(self, request: TextRequest) -> dict:
        body = {"model": self.cfg.model, "messages": chat_messages(request, self.cfg.structured)}
        body.update(self.cfg.sampling())  # repetition_penalty, when set, is an extension vLLM's server reads
        if self.cfg.structured:
            schema = {"name": f"atg_{request.kind}", "schema": answer_schema(request), "strict": True}
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        return body

    def _post(self, body: dict, key: str | None) -> dict:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode()
        for attempt, wait in enumerate((1.0, 4.0, None)):
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    return json.loads(resp.read().decode())
            except urllib.error.HTTPError as e:
                detail = e.read().decode(errors="replace")[:300]
                if e.code in RETRY_STATUS and wait is not None:
                    time.sleep(wait)
                    continue
                raise RuntimeError(f"textgen openai: {self.url} answered {e.code}: {detail}") from None
            except urllib.error.URLError as e:
                if wait is not None and attempt < 1:
                    time.sleep(wait)
                    continue
                raise RuntimeError(f"textgen openai: cannot reach {self.url}: {e.reason}") from None
        raise AssertionError("unreachable")

    def generate(self, requests: Sequence[TextRequest]) -> list[str]:
        if not requests:
            return []
        key = os.environ.get(self.cfg.api_key_env)
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(self.cfg.concurrency, len(requests))) as pool:
            replies = list(pool.map(lambda r: self._post(self._body(r), key), requests))
        texts, tokens = [], 0
        for reply in replies:
            choices = reply.get("choices") or [{}]
            texts.append((choices[0].get("message") or {}).get("content") or "")
            tokens += int((reply.get("usage") or {}).get("completion_tokens") or 0)
        self.counts.add(len(requests), tokens, time.perf_counter() - start)
        return texts

    def stats(self) -> dict[str, float]:
        return self.counts.as_dict()
