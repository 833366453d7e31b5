"""grid/report.py on MLflow stores in the grid's layout: one written by the grid's own tracking code with chosen
metric values (fast, hand-checkable), and one written by a real tiny grid run (so the two layouts cannot drift)."""

import math
import statistics
from pathlib import Path

import matplotlib.image
import pytest
from mlflow.tracking import MlflowClient
from optuna.distributions import FloatDistribution
from scipy import stats

from grid.importance import SLICE_ARTIFACT, SlicePoint, importance_metrics, importances_from_points
from grid.naming import identity_tags
from grid.report import (
    SIMULATED_HEADER,
    build_report,
    coder_table,
    flexclip_tables,
    importance_table,
    load_results,
    main,
    paired_comparisons,
)
from grid.space import parse_space
from grid.tracking import GridTracking, TrialRun

SPACE = {
    "name": "report-test",
    "studies": [
        {
            "method": "flexclip",
            "dataset": ["wikipedia", "pascal_sentence"],
            "shots": [0, 5],
            "seed": [0, 1],
            "params": {"flexclip.variant": ["raw_clip", "full"]},
        },
        {
            "method": "flexclip",
            "dataset": "wikipedia",
            "shots": 5,
            "params": {"flexclip.loss.contrastive": {"loguniform": [0.1, 10.0]}},
            "search": {"trials": 3},
        },
        {
            "method": "coder",
            "dataset": "wikipedia",
            "seed": [0, 1],
            "params": {"coder.text_set": ["name", "name+att"], "coder.max_texts_per_type": [1, 0]},
        },
        {"method": "coder", "dataset": "wikipedia", "seed": [0, 1], "params": {"coder.variant": "clip_prompt"}},
    ],
}
CONTRASTIVE = (0.2, 1.0, 5.0)  # the searched cell's three trials


def flexclip_metrics(cell) -> dict[str, float]:
    """Distinct, hand-computable values per cell."""
    c = cell.constants
    base = 0.40 + 0.05 * (c["dataset"] == "pascal_sentence") + 0.01 * c["shots"] + 0.02 * c["seed"]
    base += 0.10 * (c.get("flexclip.variant", "full") == "full")
    return {
        "test/map_i2t": base,
        "test/map_t2i": base - 0.03,
        "test/map_avg": base - 0.015,
        "val/map_avg": base,
        "cost/trial_s": 1.0 + c["shots"],
    }


def coder_metrics(cell) -> dict[str, float]:
    c = cell.constants
    top1 = 0.60 + 0.05 * (c.get("coder.text_set") == "name+att") + 0.01 * c.get("coder.max_texts_per_type", 0)
    top1 += 0.03 * c["seed"] + 0.20 * (c.get("coder.variant") != "clip_prompt")
    return {"test/top1": top1, "val/top1": top1, "textgen/texts": 10.0 * (1 + c.get("coder.max_texts_per_type", 0))}


def write_store(uri: str, name: str = "report-test", full_bonus: float = 0.0):
    """Parents and children exactly as the driver and the trials write them (GridTracking / TrialRun). `full_bonus`
    is added to every metric of FLEX-CLIP's full cells (a second "version" of the code, for --compare)."""
    space = parse_space({**SPACE, "name": name})
    tracking = GridTracking(uri, space)
    for cell in space.cells():
        parent = tracking.open_parent(cell)
        make = flexclip_metrics if cell.method == "flexclip" else coder_metrics
        trials = []
        for i, weight in enumerate(CONTRASTIVE if cell.study.search else (None,)):
            flat = dict(cell.constants)
            if weight is not None:
                flat["flexclip.loss.contrastive"] = weight
            metrics = make(cell)
            if cell.method == "flexclip" and cell.constants.get("flexclip.variant", "full") == "full":
                metrics = {k: v + full_bonus for k, v in metrics.items()}
            if weight is not None:
                metrics = {k: v + 0.01 * i for k, v in metrics.items()}
            run = TrialRun(
                tracking.spec, parent, f"t{i}", f"trial_{i}", flat, {**identity_tags(flat), "grid.cell": cell.id}
            )
            run.log_metrics(metrics, step=0)
            run.finish()
            trials.append((metrics, run.run_id))
        if cell.study.search:  # the first trial stopped early by ASHA
            tracking.mark_stopped_early(parent, "t0", "asha")
            trials = trials[1:]
            _log_importances(tracking, parent, cell, trials)
        best_id = max(trials, key=lambda t: t[0][cell.metric])[1]
        tracking.close_parent(parent, tracking.get_run(best_id), errors=0, trials=len(trials))
    return space


def _log_importances(tracking, parent, cell, trials):
    """As the searcher does when a searched cell closes: fANOVA over its complete trials (the stopped one left out)."""
    points = [
        SlicePoint({"flexclip.loss.contrastive": w}, m[cell.metric]) for w, (m, _) in zip(CONTRASTIVE[1:], trials)
    ]
    importances = importances_from_points(points, {"flexclip.loss.contrastive": FloatDistribution(0.1, 10.0, log=True)})
    tracking.log_importances(parent, importance_metrics(importances), None, SLICE_ARTIFACT)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{tmp}/mlflow.db"
    return uri, write_store(uri)


def _row(table, *first):
    rows = [r for r in table.rows if tuple(r[: len(first)]) == first]
    assert len(rows) == 1, (first, table.rows)
    return rows[0]


def _fmt(values, scale=1.0, digits=3):
    """mean ± sample std (95% t interval of the mean, n), written out by hand."""
    mean, std = statistics.fmean(values) * scale, statistics.stdev(values) * scale
    half = stats.t.ppf(0.975, len(values) - 1) * std / math.sqrt(len(values))
    return f"{mean:.{digits}f} ± {std:.{digits}f} (95% CI ±{half:.{digits}f}, n={len(values)})"


def test_flexclip_tables_have_one_table_per_setting_and_mean_std_over_seeds(store):
    uri, _ = store
    results = load_results(MlflowClient(uri), "report-test")
    tables = {t.title: t for t in flexclip_tables(results.cells)}
    assert set(tables) == {
        "FLEX-CLIP, variant=raw_clip: test mAP@all",
        "FLEX-CLIP, variant=full, loss.contrastive=1.0: test mAP@all",
        "FLEX-CLIP, variant=full, loss.contrastive=searched: test mAP@all",
    }
    full = tables["FLEX-CLIP, variant=full, loss.contrastive=1.0: test mAP@all"]
    assert full.columns == [
        "dataset",
        "shots",
        "image→text mAP",
        "text→image mAP",
        "average mAP",
        "paper (i2t / t2i / avg)",
    ]
    assert [r[:2] for r in full.rows] == [
        ["pascal_sentence", "0"],
        ["pascal_sentence", "5"],
        ["wikipedia", "0"],
        ["wikipedia", "5"],
    ]
    # wikipedia 5-shot full, seeds 0 and 1: i2t = 0.40 + 0.05 + 0.10 + 0.02 * seed
    i2t = [0.40 + 0.05 + 0.10 + 0.02 * s for s in (0, 1)]
    row = _row(full, "wikipedia", "5")
    assert row[2] == _fmt(i2t) == "0.560 ± 0.014 (95% CI ±0.127, n=2)"
    assert row[3] == _fmt([v - 0.03 for v in i2t]) and row[4] == _fmt([v - 0.015 for v in i2t])
    assert row[5] == "n/a (simulated data)"
    searched = tables["FLEX-CLIP, variant=full, loss.contrastive=searched: test mAP@all"]
    # the best non-stopped trial (index 2, +0.02) of the single-seed searched cell
    assert _row(searched, "wikipedia", "5")[2] == f"{0.40 + 0.05 + 0.10 + 0.02:.3f} (n=1)"


def test_coder_table_rows_are_dataset_variant_text_set_rerank_with_accuracy_in_percent(store):
    uri, _ = store
    table = coder_table(load_results(MlflowClient(uri), "report-test").cells)
    assert table.columns == [
        "dataset",
        "variant",
        "text set",
        "rerank",
        "max_texts_per_type",
        "0-shot top-1 %",
        "paper",
    ]
    assert len(table.rows) == 5  # clip_prompt + 2 text sets x 2 caps
    clip = _row(table, "wikipedia", "clip_prompt")
    assert clip[2:5] == ["—", "—", "—"] and clip[5] == _fmt([0.60, 0.63], 100.0, 2)
    row = _row(table, "wikipedia", "coder", "name+att", "False", "1")
    assert (
        row[5]
        == _fmt([0.60 + 0.05 + 0.01 + 0.20 + 0.03 * s for s in (0, 1)], 100.0, 2)
        == "87.50 ± 2.12 (95% CI ±19.06, n=2)"
    )


def test_report_files_label_simulated_data_and_hold_valid_pngs(store, tmp_path):
    uri, _ = store
    out = build_report(uri, "report-test", tmp_path / "rep", log_artifacts=False)
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert SIMULATED_HEADER in md and SIMULATED_HEADER in page
    assert "87.50 ± 2.12 (95% CI ±19.06, n=2)" in md and "87.50 ± 2.12 (95% CI ±19.06, n=2)" in page
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == [
        "coder_vs_texts_per_class.png",
        "coder_wikipedia_vs_shots.png",
        "flexclip_pascal_sentence_vs_shots.png",
        "flexclip_vs_cost.png",
        "flexclip_wikipedia_vs_shots.png",
        "search_sensitivity.png",
        "search_slice_flexclip_wikipedia.png",
    ]
    for name in pngs:
        image = matplotlib.image.imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
        assert f"]({name})" in md
    assert page.count("src='data:image/png;base64,") == len(pngs)  # self-contained


def test_plots_are_logged_on_the_parents_they_show_and_a_rerun_does_not_duplicate(store, tmp_path):
    uri, space = store
    tmp = tmp_path
    client = MlflowClient(uri)
    results = load_results(client, "report-test")
    assert len(results.cells) == len(space.cells()) and not results.failed_cells
    build_report(uri, "report-test", tmp / "rep")
    by_cell = {c.cell: c.run_id for c in results.cells}

    def logged(cell_id):
        return sorted(a.path for a in client.list_artifacts(by_cell[cell_id], "report"))

    assert logged("flexclip/pascal_sentence/simulated/shots=0/seed=1/flexclip.variant=raw_clip") == [
        "report/flexclip_pascal_sentence_vs_shots.png",
        "report/flexclip_vs_cost.png",
    ]
    assert logged("flexclip/wikipedia/simulated/shots=5/seed=0") == [
        "report/flexclip_vs_cost.png",
        "report/flexclip_wikipedia_vs_shots.png",
        "report/search_sensitivity.png",
        "report/search_slice_flexclip_wikipedia.png",
    ]
    assert logged("coder/wikipedia/simulated/shots=0/seed=0/coder.max_texts_per_type=1/coder.text_set=name") == [
        "report/coder_vs_texts_per_class.png",
        "report/coder_wikipedia_vs_shots.png",
    ]
    first = {c: logged(c) for c in by_cell}
    md = (tmp / "rep" / "report.md").read_bytes()
    assert main(["--experiment", "report-test", "--mlflow-uri", uri, "--out", str(tmp / "rep")]) == 0
    assert {c: logged(c) for c in by_cell} == first
    assert (tmp / "rep" / "report.md").read_bytes() == md


def test_search_plot_counts_every_trial_and_marks_stopped_ones(store):
    uri, _ = store
    results = load_results(MlflowClient(uri), "report-test")
    assert sorted(t.values["flexclip.loss.contrastive"] for t in results.trials) == list(CONTRASTIVE)
    assert [t.stopped_early for t in sorted(results.trials, key=lambda t: t.values["flexclip.loss.contrastive"])] == [
        True,
        False,
        False,
    ]


def test_importance_table_has_a_row_per_searched_cell_with_its_complete_trials(store, tmp_path):
    uri, _ = store
    table = importance_table(load_results(MlflowClient(uri), "report-test"))
    assert table.title == "Parameter importances (fANOVA)"
    assert table.columns == ["cell", "search metric", "complete trials", "flexclip.loss.contrastive"]
    # one searched parameter that varied over 2 complete trials: it explains all the variance
    assert table.rows == [["flexclip/wikipedia/simulated/shots=5/seed=0", "val/map_avg", "2", "1.00"]]
    out = build_report(uri, "report-test", tmp_path / "rep", log_artifacts=False)
    assert "### Parameter importances (fANOVA)" in (out / "report.md").read_text()
    assert "<h3>Parameter importances (fANOVA)</h3>" in (out / "report.html").read_text()


def test_unknown_experiment_is_an_error_naming_it(tmp_path, capsys):
    assert main(["--experiment", "nope", "--mlflow-uri", f"sqlite:///{tmp_path}/m.db", "--out", str(tmp_path)]) == 2
    assert "no MLflow experiment named 'nope'" in capsys.readouterr().err


TINY = """name: report-real
studies:
  - {method: flexclip, dataset: pascal_sentence, shots: [0, 1], seed: [0, 1], params: {flexclip.variant: [raw_clip]}}
  - method: flexclip
    dataset: pascal_sentence
    shots: 1
    params:
      flexclip.generator.epochs: 1
      flexclip.projector.epochs: 1
      flexclip.loss.contrastive: {loguniform: [0.1, 10.0]}
    search: {trials: 2, max_concurrent: 2, seed: 0}
  - {method: coder, dataset: pascal_sentence, seed: [0, 1], params: {coder.variant: clip_prompt}}
"""


@pytest.mark.integration
def test_report_of_a_real_grid_run_matches_its_parent_runs(ray_local, tmp_path, monkeypatch):
    """A real tiny grid through `grid/run.py --report`: the default folder holds tables whose entries are the mean
    and std of the parents' metrics as MLflow holds them, and the plots are logged on the parents."""
    from grid.run import main as run_main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(TINY)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    assert run_main(["--space", "s.yaml", "--mlflow-uri", uri, "--storage", str(tmp_path / "rr"), "--report"]) == 0
    out = Path("reports/report-real")
    md = (out / "report.md").read_text()
    assert SIMULATED_HEADER in md
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("report-real")
    parents = [r for r in client.search_runs([exp.experiment_id]) if r.data.tags.get("grid.role") == "cell"]
    assert len(parents) == 7
    for shots in ("0", "1"):
        values = [
            p.data.metrics["test/map_avg"]
            for p in parents
            if p.data.tags["method"] == "flexclip"
            and p.data.params.get("flexclip.variant") == "raw_clip"
            and p.data.tags["shots"] == shots
        ]
        assert len(values) == 2
        assert _fmt(values) in md
    clip = [p.data.metrics["test/top1"] for p in parents if p.data.tags["method"] == "coder"]
    assert _fmt(clip, 100.0, 2) in md
    assert (out / "search_sensitivity.png").is_file() and (out / "flexclip_pascal_sentence_vs_shots.png").is_file()
    for p in parents:
        names = {a.path for a in client.list_artifacts(p.info.run_id, "report")}
        assert f"report/{p.data.tags['method']}_pascal_sentence_vs_shots.png" in names
    # The searched cell closed with fANOVA over its 2 trials: its one searched weight explains all the variance.
    (searched,) = [p for p in parents if "search.flexclip.loss.contrastive" in p.data.params]
    importances = {k: v for k, v in searched.data.metrics.items() if k.startswith("importance/")}
    assert importances == {"importance/flexclip.loss.contrastive": pytest.approx(1.0)}
    assert [a.path for a in client.list_artifacts(searched.info.run_id, "search")] == ["search/slice.png"]
    assert "### Parameter importances (fANOVA)" in md
    assert f"| {searched.data.tags['grid.cell']} | val/map_avg | 2 | 1.00 |" in md
    assert (out / "search_slice_flexclip_pascal_sentence.png").is_file()


def test_coder_table_gives_the_llm_one_column_when_the_text_generator_varies():
    from grid.report import CellResult

    def cell(text_set, top1, **textgen):
        setting = {"coder.variant": "coder", "coder.text_set": text_set, "coder.rerank": "False"}
        setting.update({f"coder.textgen.{k}": v for k, v in textgen.items()})
        return CellResult("r", "c", "coder", "wikipedia", 0, 0, True, setting, {}, "val/top1", {"test/top1": top1})

    smol = {"backend": "vllm", "model": "/m/SmolLM2-135M-Instruct", "python": ".venv-llm/bin/python"}
    cells = [
        cell("name+att", 0.9, backend="template"),
        cell("name+att", 0.8, **smol),
        cell("name+att+ana", 0.7, **smol),
    ]
    table = coder_table(cells)
    assert table.columns == ["dataset", "variant", "text set", "rerank", "LLM", "0-shot top-1 %", "paper"]
    assert [r[2:6] for r in table.rows] == [
        ["name+att", "False", "template", "90.00 (n=1)"],
        ["name+att", "False", "SmolLM2-135M-Instruct", "80.00 (n=1)"],
        ["name+att+ana", "False", "SmolLM2-135M-Instruct", "70.00 (n=1)"],
    ]


def test_paired_comparisons_pair_each_setting_with_its_baseline_on_the_same_cells(store):
    """FLEX-CLIP full is raw CLIP + 0.10 on every (dataset, seed): 4 pairs per shot count, a certain difference by
    t, and Wilcoxon's exact 2/16 for four positive pairs. CODER's settings pair with the prompt ensemble on 2 seeds.
    The searched cell has one seed on one dataset: one pair, no test, no row."""
    uri, _ = store
    table = paired_comparisons(load_results(MlflowClient(uri), "report-test").cells)
    flex = [r for r in table.rows if r[0] == "flexclip"]
    assert [(r[1], r[2], r[3], r[4]) for r in flex] == [
        ("variant=full, loss.contrastive=1.0", "variant=raw_clip", "0", "4"),
        ("variant=full, loss.contrastive=1.0", "variant=raw_clip", "5", "4"),
    ]
    for row in flex:
        assert row[5:] == ["+0.100 ± 0.000", "<1e-4", "0.12", "<1e-4", "yes"]
    coder = {r[1]: r for r in table.rows if r[0] == "coder"}
    assert len(coder) == 4
    row = next(r for label, r in coder.items() if "text_set=name+att" in label and "max_texts_per_type=0" in label)
    assert row[2:7] == ["variant=clip_prompt", "0", "2", "+25.00 ± 0.00", "<1e-4"]
    assert row[7] == "0.5"  # two positive pairs: Wilcoxon can never be significant on 2 pairs
    md = build_report(uri, "report-test", out=Path(uri.removeprefix("sqlite:///")).parent / "r2") / "report.md"
    assert "Paired comparisons with each method's baseline" in md.read_text()


def test_compare_lists_each_cell_with_both_means_and_flags_only_the_cells_that_changed(store, tmp_path):
    """B = A with FLEX-CLIP's full cells 0.05 higher: those changed significantly, raw CLIP did not, the searched
    cell (one seed) cannot be tested, and CODER matches exactly."""
    from grid.compare import comparison_tables

    uri, _ = store
    write_store(uri, name="report-test-b", full_bonus=0.05)
    client = MlflowClient(uri)
    a, b = load_results(client, "report-test"), load_results(client, "report-test-b")
    flex, coder = comparison_tables(a, b)
    assert flex.title == "FLEX-CLIP: report-test-b (B) against report-test (A), test/map_avg"
    rows = {r[0]: r for r in flex.rows}
    full = rows["flexclip/wikipedia/simulated/shots=5/flexclip.variant=full"]
    values = [0.40 + 0.05 + 0.10 + 0.02 * s - 0.015 for s in (0, 1)]
    assert full[1] == _fmt(values)
    assert full[2] == _fmt([v + 0.05 for v in values])
    assert full[3] == "+0.050 ± 0.000" and full[6] == "yes"
    raw = rows["flexclip/pascal_sentence/simulated/shots=0/flexclip.variant=raw_clip"]
    assert raw[3] == "+0.000 ± 0.000" and raw[4] == "1" and raw[6] == "no"
    assert rows["flexclip/wikipedia/simulated/shots=5"][6] == "untested (1 shared seed)"  # the searched cell
    overall = flex.rows[-1]
    assert overall[0] == f"all {len(flex.rows) - 1} matched cells" and overall[6] == "yes"
    assert all(r[3].startswith("+0.00") and r[6] in ("no", "untested") for r in coder.rows)
    assert main(["--compare", "report-test", "report-test-b", "--mlflow-uri", uri, "--out", str(tmp_path)]) == 0
    text = (tmp_path / "compare.md").read_text()
    assert "# Comparison: report-test-b (B) against report-test (A)" in text and "+0.050 ± 0.000" in text
    assert main(["--compare", "report-test", "nope", "--mlflow-uri", uri, "--out", str(tmp_path)]) == 2


def test_a_single_seed_pair_is_tested_by_a_paired_bootstrap_over_its_test_queries():
    """One seed, one dataset: no t test, but the two cells' per-query hits (same 2,000 test images) give a paired
    bootstrap: CODER right on 100 more images than the prompt ensemble, none fewer, is +5.00 points, significant."""
    import numpy as np

    from grid.report import CellResult, summarize_cells

    base = np.random.default_rng(0).random(2000) < 0.6
    better = base.copy()
    better[np.flatnonzero(~base)[:100]] = True

    def cell(variant, hits):
        setting = {"coder.variant": variant, "coder.text_set": "name+att", "coder.rerank": "False"}
        metrics = {"test/top1": float(hits.mean())}
        return CellResult(
            "r", "c", "coder", "eurosat", 0, 0, True, setting, {}, "val/top1", metrics, "b", {"test/top1": hits}
        )

    table = paired_comparisons([cell("clip_prompt", base), cell("coder", better)])
    (row,) = table.rows
    assert row[3:5] == ["0", "1 (2000 queries, bootstrap)"]
    assert row[5].startswith("+5.00 [+") and row[6].endswith("(bootstrap)") and row[-1] == "yes"
    summary = summarize_cells([cell("coder", better)], "test/top1")
    assert summary.bootstrap[0] < better.mean() < summary.bootstrap[1]
    assert "by bootstrap, n=1)" in summary.format(scale=100.0, digits=2)
