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


def _flexcoder_imports() -> dict[str, set[str]]:
    """Module -> the flexcoder modules it imports, at the top or inside a function (`from pkg import name` counts
    as importing `pkg.name` when that is a module, else `pkg`)."""
    modules = {}
    for path in (ROOT / "flexcoder").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                edges.update(
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                    for a in node.names
                )
        graph[name] = {e for e in edges if e in modules and e != name}
    return graph


def test_the_flexcoder_import_graph_has_no_cycle():
    graph = _flexcoder_imports()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycle = path[path.index(dep) :] + [dep] if dep in path else [module, dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*path, dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
