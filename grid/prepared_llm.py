"""Where `infra/llm/prepare_cpu.sh` puts the CPU machine's real LLM: the environment holding vLLM's CPU build
(FLEXCODER_LLM_ENV, default .venv-llm in the repository) and the SmolLM2-135M-Instruct folder (under FLEXCODER_MODELS,
default ~/.cache/flexcoder/models). Read here alone, so the benchmarks and the tests look where the script wrote."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREPARE = "bash infra/llm/prepare_cpu.sh"


def llm_python() -> Path:
    return ROOT / os.environ.get("FLEXCODER_LLM_ENV", ".venv-llm") / "bin" / "python"


def smollm2_folder() -> Path:
    return (
        Path(os.environ.get("FLEXCODER_MODELS") or "~/.cache/flexcoder/models").expanduser() / "SmolLM2-135M-Instruct"
    )
