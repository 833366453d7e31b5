"""grid/bench.py at tiny sizes: every benchmark returns numeric figures under the expected names. Times are never
asserted (the machine is shared); counts and agreement with the baselines are."""

import importlib.util
import math
import random
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from grid.bench import (
    SMALL_TRIAL,
    bench_caches,
    bench_cell_trials,
    bench_coder_similarity,
    bench_flexclip_epoch,
    bench_llm,
    bench_map,
    bench_memory,
    bench_overhead,
    bench_packing,
    bench_scale,
    bench_trial,
    llm_setup,
    main,
    schedule_figures,
)
from grid.prepared_llm import llm_python


def _numeric(figures, keys):
    assert set(keys) <= set(figures), set(keys) - set(figures)
    for key in keys:
        assert isinstance(figures[key], float) and math.isfinite(figures[key]), (key, figures[key])


def test_map_benchmark_agrees_with_sklearn_on_the_timed_queries():
    figures = bench_map(n=300, reference_queries=20)
    _numeric(
        figures,
        ["map_vectorised_s", "map_sklearn_s_extrapolated", "map_speedup", "map_value", "map_abs_diff_vs_sklearn"],
    )
    assert figures["map_sklearn_queries_timed"] == 20.0 and 0.0 < figures["map_value"] < 1.0
    assert figures["map_abs_diff_vs_sklearn"] < 1e-6


def test_coder_similarity_benchmark_matches_the_per_image_loop():
    figures = bench_coder_similarity(images=200, texts=400, dim=32, loop_images=10)
    _numeric(figures, ["coder_features_s", "coder_loop_s_extrapolated", "coder_speedup", "coder_max_abs_diff"])
    assert figures["coder_max_abs_diff"] < 1e-5


def test_flexclip_epoch_benchmark_reports_both_epochs_on_wikipedia_sized_data():
    figures = bench_flexclip_epoch(repeat=1)
    _numeric(figures, ["flexclip_epoch_s", "linear_epoch_s", "flexclip_over_linear", "val_map_s"])
    assert figures["epoch_train_pairs"] > 1000 and figures["epoch_steps"] >= 1


def test_memory_benchmark_measures_a_trial_and_a_dry_run_driver(tmp_path):
    figures = bench_memory(trials=20, trial=dict(SMALL_TRIAL), workdir=tmp_path)
    _numeric(figures, ["trial_rss_mib", "import_only_rss_mib", "driver_dry_run_rss_mib", "driver_help_rss_mib"])
    assert figures["dry_run_trials"] == 20.0
    assert figures["trial_rss_mib"] > 50 and figures["driver_dry_run_rss_mib"] > 50


def test_unknown_benchmark_name_is_an_error(capsys):
    assert main(["--only", "kernels,speed"]) == 2
    assert "unknown benchmark(s) speed" in capsys.readouterr().err


@pytest.mark.integration
def test_overhead_benchmark_splits_the_grid_wall_into_pieces(ray_local, tmp_path):
    figures = bench_overhead(trials=2, workdir=tmp_path)
    _numeric(
        figures,
        [
            "loop_s",
            "grid_s",
            "overhead_per_trial_s",
            "ratio_grid_over_loop",
            "mlflow_setup_s",
            "ray_init_s",
            "tuner_fit_s",
            "summary_s",
            "steady_overhead_per_trial_s",
            "mlflow_child_run_s",
        ],
    )
    assert figures["trials"] == 2.0


@pytest.mark.integration
def test_cache_rerun_reaches_no_backend_and_extracts_nothing(ray_local, tmp_path):
    """The rerun of the CODER grid adds no text-cache entry; in process the rerun makes no backend call and spends
    no time generating; the feature cache's rerun extracts no split and encodes no augmented support image."""
    from flexcoder_testing.tiny_clip import save_tiny_local_dir
    from flexcoder_testing.tiny_datasets import write_tiny_dataset

    write_tiny_dataset("wikipedia", tmp_path / "data")
    backbone = save_tiny_local_dir(tmp_path / "clip")
    figures = bench_caches(("pascal_sentence",), tmp_path / "work", ("wikipedia", backbone, str(tmp_path / "data")))
    assert figures["grid_first_new_cache_entries"] > 0 and figures["grid_rerun_new_cache_entries"] == 0.0
    assert figures["trials_first_backend_calls"] > 0 and figures["trials_first_generation_s"] > 0
    assert figures["trials_rerun_backend_calls"] == 0.0 and figures["trials_rerun_generation_s"] == 0.0
    assert figures["features_first_extracted_splits"] == 2.0 and figures["features_rerun_extracted_splits"] == 0.0
    assert figures["features_rerun_extraction_s"] == 0.0
    # The augmented support of one image per class (10 classes), 10 passes each: 100 images, then none on the rerun.
    assert figures["support_x10_first_images_encoded"] == 100.0 and figures["support_x10_first_images_per_s"] > 0
    assert figures["support_x10_rerun_images_encoded"] == 0.0


def test_packing_reports_both_ways_of_training_k_settings():
    figures = bench_packing(k=2, epochs=1)
    _numeric(
        figures, ["separate_s", "packed_s", "separate_trainings_per_s", "packed_trainings_per_s", "packed_speedup"]
    )
    assert figures["packing_k"] == 2.0


def test_trial_benchmark_on_the_cpu_alone_runs_the_trial_once():
    figures = bench_trial("cpu", epochs=1)
    _numeric(figures, ["cpu_trial_s", "cpu_train_s", "cpu_stage1_s", "cpu_test_map_avg"])
    assert 0.0 < figures["cpu_test_map_avg"] <= 1.0
    assert "max_test_metric_gap" not in figures  # one device: one run, nothing to compare


def test_llm_benchmark_on_a_gpu_runs_vllm_in_this_python_on_one_gpu_with_cuda_graphs(tmp_path):
    actor, python, missing = llm_setup("cuda", tmp_path)
    assert actor == {"model": str(tmp_path), "python": None, "num_gpus": 1, "enforce_eager": False}
    assert python == Path(sys.executable)
    if importlib.util.find_spec("vllm") is None:  # the project's CPU environment: no vLLM, said with the fix
        assert missing == "no vllm in this Python: pip install -e '.[llm]'"


def test_llm_benchmark_on_cpu_runs_vllms_cpu_build_in_its_own_environment(tmp_path):
    actor, python, _ = llm_setup("cpu", tmp_path)
    assert python == llm_python()  # where infra/llm/prepare_cpu.sh makes the environment
    assert actor == {"model": str(tmp_path), "python": str(python), "num_gpus": 0, "enforce_eager": True}


def test_llm_benchmark_without_a_model_folder_says_where_it_looked(tmp_path):
    figures = bench_llm(device="cpu", model=tmp_path / "nowhere")
    assert figures == {"skipped": f"no model folder at {tmp_path / 'nowhere'}: run `bash infra/llm/prepare_cpu.sh`"}


def test_cell_trials_in_one_process_reuse_stage1_and_measure_the_same():
    figures = bench_cell_trials(k=2, epochs=1, dataset="pascal_sentence")
    _numeric(figures, ["process_per_trial_s", "one_process_s", "one_process_speedup", "stage1_s_per_miss"])
    assert figures["stage1_memo_hits"] == 1.0  # the second trial of the cell took the first one's pseudo pairs
    assert figures["same_metrics"] == "yes"


def _run(start_s: float, end_s: float) -> SimpleNamespace:
    return SimpleNamespace(info=SimpleNamespace(start_time=int(start_s * 1000), end_time=int(end_s * 1000)))


def test_schedule_figures_agree_with_a_naive_count_at_every_millisecond():
    rng = random.Random(0)
    runs = [_run(s, s + rng.uniform(0.5, 3.0)) for s in (rng.uniform(0, 10) for _ in range(40))]
    figures = schedule_figures(runs, slots=16)
    first = min(r.info.start_time for r in runs)
    last = max(r.info.end_time for r in runs)
    live = [sum(r.info.start_time <= t < r.info.end_time for r in runs) for t in range(first, last)]
    assert figures["peak_in_flight"] == max(live)
    assert figures["mean_in_flight"] == pytest.approx(sum(live) / len(live), rel=1e-3)
    assert figures["slot_utilisation"] == pytest.approx(sum(live) / len(live) / 16, rel=1e-3)


@pytest.mark.integration
def test_scale_benchmark_times_the_first_trial_and_the_drivers_memory(tmp_path):
    figures = bench_scale(cells=6, workdir=tmp_path)
    _numeric(figures, ["first_trial_s", "driver_peak_rss_mib", "wall_s"])
    assert figures["scale_cells"] == 6.0 and figures["trials_finished"] == 6.0 and figures["exit_code"] == 0.0
    assert 0 < figures["first_trial_s"] < figures["wall_s"] and figures["driver_peak_rss_mib"] > 50
