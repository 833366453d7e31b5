"""A CODER grid whose texts a real LLM writes: SmolLM2-135M-Instruct on vLLM's CPU build, in the grid's shared
actor, which runs in the LLM environment (`infra/llm/prepare_cpu.sh`) while the trials stay in the project's. Then
the same grid again on the same text cache: every answer comes from the disk, and the engine never starts."""

import re

import pytest
from mlflow.tracking import MlflowClient

from flexcoder_testing.llm import require_llm
from grid.run import main

pytestmark = pytest.mark.integration


def _space(path, model, python, cache):
    path.write_text(
        f"""name: llm_grid
studies:
  - method: coder
    dataset: wikipedia
    params:
      coder.text_set: [name, name+att]
  - method: coder
    dataset: wikipedia
    params:
      coder.text_set: [name+att, name+att+syno]
      coder.textgen.backend: vllm
      coder.textgen.model: {model}
      coder.textgen.python: {python}
      coder.textgen.num_gpus: 0
      coder.textgen.enforce_eager: true
      coder.textgen.max_tokens: 48
      coder.textgen.temperature: 0.0
      coder.textgen.cache_dir: {cache}
"""
    )
    return path


@pytest.fixture(scope="module")
def llm_grid(ray_local, tmp_path_factory):
    python, model = require_llm()
    tmp = tmp_path_factory.mktemp("llm-grid")
    space = _space(tmp / "llm_grid.yaml", model, python, tmp / "textgen")
    return tmp, space


def _run(capsys, tmp, space, store):
    code = main(["--space", str(space), "--mlflow-uri", f"sqlite:///{tmp}/{store}.db", "--storage", str(tmp / store)])
    return code, capsys.readouterr().out


def _generator_line(out):
    (line,) = [ln for ln in out.splitlines() if ln.startswith("[grid] text generator ")]
    cached, generated = re.search(r"(\d+) answers from the cache, (\d+) generated", line).groups()
    return int(cached), int(generated), line


def test_real_llm_writes_coder_texts_through_the_actor_then_a_rerun_generates_nothing(llm_grid, capsys):
    tmp, space = llm_grid
    code, out = _run(capsys, tmp, space, "first")
    assert code == 0, out
    _, generated, line = _generator_line(out)
    # wikipedia's 10 classes: att for name+att, att and syno for name+att+syno. The two trials ask at about the same
    # time; their identical att prompts are generated once (one merged batch, or the second batch reads the cache).
    assert generated == 20 and "tokens/s" in line, line
    client = MlflowClient(f"sqlite:///{tmp}/first.db")
    exp = client.get_experiment_by_name("llm_grid")
    runs = client.search_runs([exp.experiment_id], "tags.`grid.role` = 'cell'")
    by_llm = {}
    for r in runs:
        assert r.info.status == "FINISHED" and 0.0 <= r.data.metrics["test/top1"] <= 1.0
        by_llm.setdefault(r.data.tags["llm"], []).append(r)
    assert sorted(by_llm) == ["SmolLM2-135M-Instruct", "template"]
    for r in by_llm["SmolLM2-135M-Instruct"]:
        # Its answers parsed into texts beyond the 10 class names, and few failed to parse (structured output).
        assert r.data.metrics["textgen/texts"] > 10
        assert r.data.metrics["textgen/parse_failures"] <= 0.2 * r.data.metrics["textgen/requests"]
    files = {p: p.stat().st_mtime_ns for p in (tmp / "textgen").rglob("*.json")}
    assert len(files) == 20

    code, out = _run(capsys, tmp, space, "rerun")
    assert code == 0, out
    cached, generated, line = _generator_line(out)
    assert generated == 0 and cached >= 20, line
    assert {p: p.stat().st_mtime_ns for p in (tmp / "textgen").rglob("*.json")} == files
