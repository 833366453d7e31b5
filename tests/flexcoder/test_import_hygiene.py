import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_flexcoder_pulls_in_no_runner_or_heavy_optional_dependency():
    code = (
        "import sys, flexcoder, flexcoder.data, flexcoder.metrics; "
        "bad = {'ray', 'mlflow', 'optuna', 'vllm', 'open_clip', 'yaml'} & set(m.split('.')[0] for m in sys.modules);"
        "print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_flexcoder_source_never_imports_ray_mlflow_or_grid():
    for path in (ROOT / "flexcoder").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"ray", "mlflow", "optuna", "grid"}, f"{path}: imports {name}"


def test_no_grid_module_shadows_a_stdlib_module():
    """`python grid/run.py` puts grid/ first on sys.path (so `grid/json.py` would shadow the stdlib's json)."""
    for path in (ROOT / "grid").glob("*.py"):
        assert path.stem not in sys.stdlib_module_names, path
