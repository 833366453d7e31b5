#!/usr/bin/env bash
# The GPU check: what only a CUDA machine can measure, in under 10 minutes, printed as figures.
#   1. trial:   one FLEX-CLIP trial on the GPU against the same trial on the CPU (seconds, test mAP, their gap);
#   2. packing: K loss-weight settings of one cell, whole trials and stage 2 alone, on the GPU;
#   3. llm:     the grid's vLLM actor with SmolLM2-135M-Instruct on the GPU, against plain transformers `generate`.
# Each is `python -m grid.bench --only NAME --device cuda` under a time limit of its own; a section that fails or
# runs out of time is reported and the next one still runs. The exit status is the number of failed sections.
#
# Needs the project installed (the .venv, or any Python with its dependencies); for 3, vLLM's CUDA build
# (`pip install -e ".[llm]"`) and a model folder (--llm-model; default: where infra/llm/prepare_cpu.sh writes
# SmolLM2). Without vLLM, 3 measures the transformers baseline alone and says why.
#
# Usage: bash infra/gpu/check.sh [--log FILE] [--only trial,packing,llm] [--llm-model DIR] [--device cpu] [--quick]
#   --device cpu and --quick exist for trying the script on a machine without a GPU.
set -uo pipefail
cd "$(dirname "$0")/../.."

log=gpu_check.log
only=trial,packing,llm
device=cuda
quick=()
llm_model=()
while [ $# -gt 0 ]; do
  case "$1" in
    --log) log="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --llm-model) llm_model=(--llm-model "$2"); shift 2 ;;
    --device) device="$2"; shift 2 ;;
    --quick) quick=(--quick); shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
export PYTHONUNBUFFERED=1
mkdir -p "$(dirname "$log")"
: > "$log"

say() { echo "$@" | tee -a "$log"; }

say "[check] $(date -u +%FT%TZ) on $(uname -n), $(nproc) CPUs; python $python"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
  2>&1 | sed 's/^/[check] gpu: /' | tee -a "$log"
if ! "$python" - "$device" <<'PY' 2>&1 | tee -a "$log"; then
import sys
import torch
device = torch.device(sys.argv[1])
print(f"[check] torch {torch.__version__}, CUDA {torch.version.cuda}, device {device}")
if device.type == "cuda" and not torch.cuda.is_available():
    sys.exit(f"check.sh: torch sees no CUDA GPU; this script is for a GPU machine (--device cpu tries it anyway)")
if device.type == "cuda":
    print(f"[check] {torch.cuda.get_device_name(device)}, {torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB")
PY
  exit 2
fi

# Seconds each section may take; together they stay under 10 minutes.
declare -A limit=([trial]=80 [packing]=200 [llm]=270)
failed=0
IFS=, read -ra sections <<< "$only"
for section in "${sections[@]}"; do
  if [ -z "${limit[$section]:-}" ]; then
    say "check.sh: unknown section $section (known: trial, packing, llm)"
    failed=$((failed + 1))
    continue
  fi
  extra=()
  [ "$section" = llm ] && extra=("${llm_model[@]}")
  start=$(date +%s)
  say ""
  say "[check] $section: python -m grid.bench --only $section --device $device ${quick[*]} ${extra[*]} (limit ${limit[$section]} s)"
  timeout --kill-after=10 "${limit[$section]}" \
    "$python" -m grid.bench --only "$section" --device "$device" "${quick[@]}" "${extra[@]}" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then
    say "[check] $section: ok in $(( $(date +%s) - start )) s"
  else
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && why="out of time" || why="exit $rc"
    say "[check] $section: FAILED ($why) after $(( $(date +%s) - start )) s"
    failed=$((failed + 1))
  fi
done
say ""
say "[check] done: ${#sections[@]} sections, $failed failed; log in $log"
exit "$failed"
