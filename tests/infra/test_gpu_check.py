"""infra/gpu/check.sh on a machine without a GPU: it refuses the default CUDA run with a clear reason, and with
`--device cpu` it runs its sections through `python -m grid.bench`, logs their figures, and counts a bad section
as a failure without stopping the others."""

import re
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "infra" / "gpu" / "check.sh"


def _check(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CHECK), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_without_a_gpu_the_default_run_stops_before_any_section_and_says_why(tmp_path):
    done = _check("--log", str(tmp_path / "log"))
    assert done.returncode == 2
    assert "torch sees no CUDA GPU" in done.stdout + done.stderr
    assert "[check] trial" not in done.stdout


def test_a_cpu_run_logs_the_trial_figures_and_counts_an_unknown_section_as_failed(tmp_path):
    log = tmp_path / "out" / "gpu_check.log"
    done = _check("--device", "cpu", "--quick", "--only", "trial,nosuch", "--log", str(log))
    assert done.returncode == 1, done.stdout + done.stderr  # one failed section
    text = log.read_text()
    assert "== 9. trial: one FLEX-CLIP trial on cpu\n" in text
    map_avg = float(re.search(r"cpu_test_map_avg\s+([0-9.]+)", text).group(1))
    assert 0.0 < map_avg <= 1.0
    assert re.search(r"\[check\] trial: ok in \d+ s", text)
    assert "unknown section nosuch" in text
    assert "2 sections, 1 failed" in text


def test_an_unknown_argument_is_refused_by_name():
    done = _check("--gpus", "2")
    assert done.returncode == 2 and "unknown argument --gpus" in done.stderr
