"""Benchmarks of the grid and the methods' kernels: `python -m grid.bench [--quick] [--only overhead,caches,...]`.

Prints measured figures; nothing asserts a time. Each benchmark compares against a simple baseline in the same run:
1. overhead: N small trials (CODER's CLIP prompt ensemble on simulated Wikipedia, ~0.03 s of work each) as a plain
   loop calling `flexcoder.run_trial` vs the same cells through `grid.run.main` into a temporary SQLite MLflow store,
   with the grid's wall time split into the driver's phases as it reports them (Ray start, MLflow set-up, text
   generator, Tuner, summary, shutdown; parent runs open inside the Tuner, as their cells start).
2. caches: a CODER grid run twice against one text cache (new cache entries and backend calls on the rerun), the
   same trials in process with a counting generator, and the feature cache (`ensure_features` twice) when a
   dataset on disk is given.
3. kernels: mAP@all on 10k x 10k (vectorised vs sklearn per query), CODER similarities 10k images x 20k texts (the
   project's code vs a per-image loop), one FLEX-CLIP stage-2 epoch vs a plain nn.Linear projector epoch. A
   baseline too slow to run in full is timed on a subsample and extrapolated; its figure name says so.
4. memory: peak RSS of one trial in a fresh process and of the driver doing a 500-trial `--dry-run`.
5. packing: K loss-weight settings of one FLEX-CLIP cell, (a) whole trials, one fresh process per trial vs one
   process running all K (the stage-1 memo, `flexcoder.flexclip.stage1_memo`, trains CoFeG once), and (b) stage 2
   alone, K separate trainings vs one packed (vmapped) training; on `--device` (cpu, or cuda on a GPU).
6. cluster: a local Ray cluster with many logical CPUs (`grid.local_cluster`) runs a probe space of searched cells
   and one-trial grid cells twice: as one schedule (the driver) and as the old one-cell-at-a-time schedule (the
   grid study in one run, then each searched cell alone, one after another). Trials in flight (peak, mean) and slot
   utilisation = busy trial-seconds / (slots x span), from the child runs' start and end times in MLflow.
7. scale: `grid/run.py` on a space of N cells of small CODER trials, as a separate process: seconds from launch
   to the first trial's run in MLflow, and the driver's peak resident memory, sampled from /proc while it runs.
8. llm: one dataset's ATG request set (attributes, analogous objects and synonyms of every class) sent by several
   concurrent Ray tasks, as trials send it, to the grid's vLLM actor running SmolLM2-135M-Instruct on CPU in
   .venv-llm, with and without structured output; against plain `transformers` `generate` on the same chat prompts
   (`infra/llm/hf_generate.py`, padded batches) in the same run. Prompts/s, generated tokens/s, engine start, merged
   batches, and the share of answers that parse. Needs `bash infra/llm/prepare_cpu.sh`. With `--device cuda`: vLLM's
   CUDA build in this Python (`pip install -e ".[llm]"`) on one GPU, and transformers on the GPU.
9. trial: one full FLEX-CLIP trial on the CPU and on `--device` in one process: seconds, test mAP, and the gap.
`infra/gpu/check.sh` runs 9, 5 and 8 on a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ("overhead", "caches", "kernels", "memory", "packing", "cluster", "scale", "llm", "trial")


def _seconds(fn: Callable[[], Any], repeat: int = 1) -> float:
    """Best wall time of `repeat` calls."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so a wall time counts it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _write_space(path: Path, name: str, studies: str) -> Path:
    path.write_text(f"name: {name}\nstudies:\n{studies}")
    return path


def _child_runs(uri: str, experiment: str) -> list:
    from mlflow.tracking import MlflowClient

    from grid.tracking import search_all_runs

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = search_all_runs(client, exp.experiment_id, "tags.`grid.role` = 'trial'")
    return sorted(runs, key=lambda r: r.info.end_time or math.inf)


# ------------------------------------------------------------------------------------------------------- 1 overhead

SMALL_TRIAL = {"method": "coder", "dataset": "wikipedia", "coder.variant": "clip_prompt"}


def bench_overhead(trials: int = 16, workdir: Path | None = None) -> dict[str, float]:
    """The same `trials` small cells (seeds 0..N-1) as a plain loop and through grid/run.py. Per-trial overhead =
    (grid wall - loop wall) / N; "steady" figures leave out the fixed start-up: the spacing of the child runs' end
    times from the first to the last trial, against the loop's mean trial."""
    from flexcoder import TrialConfig, run_trial
    from grid.driver import RunOptions, run_grid
    from grid.tracking import GridTracking, TrialRun

    with _workdir(workdir) as tmp:
        configs = [TrialConfig.from_flat({**SMALL_TRIAL, "seed": s}) for s in range(trials)]
        start = time.perf_counter()
        per_trial = [_seconds(lambda c=c: run_trial(c)) for c in configs]
        loop_s = time.perf_counter() - start

        space = _write_space(
            tmp / "overhead.yaml",
            "bench-overhead",
            f"  - {{method: coder, dataset: wikipedia, seed: {list(range(trials))}, "
            "params: {coder.variant: clip_prompt}}\n",
        )
        uri = f"sqlite:///{tmp}/mlflow.db"
        pieces: dict[str, float] = {}

        def record(phase: str, seconds: float) -> None:  # the driver's own phase timings (RunOptions.on_phase)
            pieces[f"{phase}_s"] = pieces.get(f"{phase}_s", 0.0) + seconds

        options = RunOptions(mlflow_uri=uri, storage=str(tmp / "ray_results"), reuse=False, on_phase=record)
        start = time.perf_counter()
        with contextlib.redirect_stdout(open(os.devnull, "w")):
            code = run_grid(_space_of(space), options)
        grid_s = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"the overhead grid failed (exit {code})")
        ends = [r.info.end_time / 1000 for r in _child_runs(uri, "bench-overhead")]
        steady = (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) > 1 else math.nan
        loop_steady = sum(per_trial[1:]) / max(len(per_trial) - 1, 1)

        # A trial's own MLflow traffic (open the child run, params, config, metrics, close), timed alone.
        tracking = GridTracking(uri, _space_of(space))
        parent = tracking.open_parent(_space_of(space).cells()[0])
        flat = configs[0].own_flat()

        def one_child() -> None:
            run = TrialRun(tracking.spec, parent, f"bench{time.perf_counter_ns()}", "bench", flat, {"grid.cell": "x"})
            run.log_metrics({"val/top1": 0.5, "test/top1": 0.5}, step=0)
            run.finish()

        mlflow_per_trial = _seconds(one_child, repeat=3)
    fixed = sum(v for k, v in pieces.items() if k != "tuner_fit_s")
    return {
        "trials": float(trials),
        "loop_s": loop_s,
        "loop_per_trial_s": loop_s / trials,
        "grid_s": grid_s,
        "ratio_grid_over_loop": grid_s / loop_s,
        "overhead_per_trial_s": (grid_s - loop_s) / trials,
        **pieces,
        "fixed_outside_fit_s": fixed,
        "fit_minus_loop_per_trial_s": (pieces.get("tuner_fit_s", 0.0) - loop_s) / trials,
        "steady_grid_per_trial_s": steady,
        "steady_loop_per_trial_s": loop_steady,
        "steady_overhead_per_trial_s": steady - loop_steady,
        "mlflow_child_run_s": mlflow_per_trial,
    }


def _space_of(path: Path):
    from grid.space import load_space

    return load_space(path)


@contextlib.contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield Path(path).resolve()
        return
    with tempfile.TemporaryDirectory(prefix="flexcoder-bench-") as tmp:
        yield Path(tmp)


# --------------------------------------------------------------------------------------------------------- 2 caches


class CountingGenerator:
    """A text generator that counts and times what reaches it (put it under the disk cache)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.calls = 0
        self.prompts = 0
        self.seconds = 0.0

    def identity(self) -> dict:
        return self.inner.identity()

    def generate(self, requests: Sequence[Any]) -> list[str]:
        start = time.perf_counter()
        self.calls += 1
        self.prompts += len(requests)
        try:
            return self.inner.generate(requests)
        finally:
            self.seconds += time.perf_counter() - start


def bench_caches(
    datasets: Sequence[str] = ("wikipedia", "pascal_sentence"),
    workdir: Path | None = None,
    feature_data: tuple[str, str, str] | None = None,
) -> dict[str, float | str]:
    """Text cache: a CODER grid (all text types, with and without the one-to-one rerank) run twice on one cache
    folder, counting the entries each run adds (one per prompt that reached the backend); the same trials in
    process twice, counting backend calls and the seconds spent in the backend. Feature cache: `ensure_features`
    twice on `feature_data` = (dataset, backbone, data_root) into a fresh cache folder."""
    from flexcoder import TrialConfig, TrialContext, run_trial
    from flexcoder.textgen import CachedGenerator, TextgenConfig, create_generator
    from grid.run import main

    out: dict[str, float | str] = {}
    with _workdir(workdir) as tmp:
        cache = tmp / "textgen-cache"
        space = _write_space(
            tmp / "caches.yaml",
            "bench-caches",
            f"  - {{method: coder, dataset: {list(datasets)}, params: {{coder.text_set: "
            f"name+att+ana+syno, coder.rerank: [false, true], coder.textgen.cache_dir: {cache}}}}}\n",
        )
        uri = f"sqlite:///{tmp}/mlflow.db"
        for run in ("first", "rerun"):
            before = _count_files(cache)
            start = time.perf_counter()
            with contextlib.redirect_stdout(open(os.devnull, "w")):
                code = main(
                    ["--space", str(space), "--mlflow-uri", uri, "--storage", str(tmp / f"rr-{run}"), "--no-reuse"]
                )
            if code != 0:
                raise RuntimeError(f"the cache grid failed (exit {code})")
            out[f"grid_{run}_s"] = time.perf_counter() - start
            out[f"grid_{run}_new_cache_entries"] = float(_count_files(cache) - before)

        in_process = tmp / "textgen-cache-in-process"
        cells = [
            TrialConfig.from_flat({"method": "coder", "dataset": d, "coder.rerank": r})
            for d in datasets
            for r in (False, True)
        ]
        for run in ("first", "rerun"):
            backend = CountingGenerator(create_generator(TextgenConfig()))
            cached = CachedGenerator(backend, str(in_process))
            start = time.perf_counter()
            for cfg in cells:
                run_trial(cfg, TrialContext(textgen=cached))
            out[f"trials_{run}_s"] = time.perf_counter() - start
            out[f"trials_{run}_backend_calls"] = float(backend.calls)
            out[f"trials_{run}_backend_prompts"] = float(backend.prompts)
            out[f"trials_{run}_generation_s"] = backend.seconds
            out[f"trials_{run}_cache_hits"] = float(cached.hits)
        out.update(
            bench_feature_cache(*feature_data, cache_dir=tmp / "features")
            if feature_data
            else {"feature_cache": _feature_cache_missing()}
        )
    return out


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*.json")) if folder.exists() else 0


def _feature_cache_missing() -> str:
    if importlib.util.find_spec("flexcoder.features.cache") is None:
        return "n/a (flexcoder/features/cache.py not present)"
    return "n/a (give --data-root DIR --feature-dataset NAME --feature-backbone MODEL/PRETRAINED)"


def bench_feature_cache(
    dataset: str, backbone: str, data_root: str, cache_dir: Path, passes: int = 10
) -> dict[str, float]:
    """`ensure_features` twice into a fresh cache: splits extracted and seconds extracting, first run vs rerun. Then
    the augmented support features of one train image per class, `passes` random-crop passes each, twice: images
    encoded and images/s on the first run, and what the rerun encodes (nothing)."""
    import torch as _torch

    from flexcoder.data.reading import read_items
    from flexcoder.features.augmentation import augmented_features
    from flexcoder.features.cache import FeatureReport, ensure_features
    from flexcoder.protocols import sample_shots

    out = {}
    for run in ("first", "rerun"):
        start = time.perf_counter()
        report = ensure_features(dataset, backbone, data_root, cache_dir=cache_dir, device="cpu")
        out[f"features_{run}_s"] = time.perf_counter() - start
        out[f"features_{run}_extracted_splits"] = float(len(report.extracted))
        out[f"features_{run}_images_encoded"] = float(report.images)
        out[f"features_{run}_extraction_s"] = report.seconds
    items = read_items(dataset, data_root)
    support = sample_shots(_torch.from_numpy(items.train.labels), range(len(items.classes)), 1, 0).tolist()
    for run in ("first", "rerun"):
        report = FeatureReport(dataset, backbone)
        start = time.perf_counter()
        augmented_features(
            items, "train", support, backbone, passes, 0, cache_dir=cache_dir, device="cpu", report=report
        )
        out[f"support_x{passes}_{run}_s"] = time.perf_counter() - start
        out[f"support_x{passes}_{run}_images_encoded"] = float(report.images)
        if report.images:
            out[f"support_x{passes}_{run}_images_per_s"] = report.images_per_second
    return out


# -------------------------------------------------------------------------------------------------------- 3 kernels


def _clustered(n: int, labels: torch.Tensor, dim: int, rng: torch.Generator, num_classes: int) -> torch.Tensor:
    """Unit features around one random centre per class, so rankings are neither perfect nor random."""
    centres = torch.randn(num_classes, dim, generator=rng)
    return torch.nn.functional.normalize(centres[labels] + 0.6 * torch.randn(n, dim, generator=rng), dim=-1)


def bench_map(n: int = 10_000, reference_queries: int = 200, num_classes: int = 10) -> dict[str, float]:
    """mAP@all of n queries x n gallery items, single-label: `flexcoder.metrics.mean_average_precision` vs sklearn's
    average_precision_score per query, timed on `reference_queries` queries and extrapolated to n."""
    from sklearn.metrics import average_precision_score

    from flexcoder.metrics import mean_average_precision

    rng = torch.Generator().manual_seed(0)
    labels = torch.randint(0, num_classes, (n,), generator=rng)
    onehot = torch.nn.functional.one_hot(labels, num_classes).bool()
    scores = _clustered(n, labels, 64, rng, num_classes) @ _clustered(n, labels, 64, rng, num_classes).T
    vectorised = {}
    vectorised_s = _seconds(lambda: vectorised.setdefault("map", mean_average_precision(scores, onehot, onehot)))
    q = min(reference_queries, n)
    relevant = (labels[:q, None] == labels[None, :]).numpy()
    rows = scores[:q].numpy()
    start = time.perf_counter()
    reference = [average_precision_score(relevant[i], rows[i]) for i in range(q)]
    reference_s = time.perf_counter() - start
    subsample_map = mean_average_precision(scores[:q], onehot[:q], onehot)
    return {
        "map_n": float(n),
        "map_vectorised_s": vectorised_s,
        "map_sklearn_s_extrapolated": reference_s * n / q,
        "map_sklearn_queries_timed": float(q),
        "map_speedup": reference_s * n / q / vectorised_s,
        "map_value": vectorised["map"],
        "map_abs_diff_vs_sklearn": abs(subsample_map - sum(reference) / q),
    }


def bench_coder_similarity(
    images: int = 10_000, texts: int = 20_000, dim: int = 512, loop_images: int = 200
) -> dict[str, float]:
    """CODER vectors (cosine of every image to every text): `coder_features` vs a per-image loop of
    F.cosine_similarity, the loop timed on `loop_images` images and extrapolated."""
    from flexcoder.coder.representation import coder_features

    rng = torch.Generator().manual_seed(0)
    image = torch.randn(images, dim, generator=rng)
    text = torch.randn(texts, dim, generator=rng)
    result = {}
    project_s = _seconds(lambda: result.setdefault("x", coder_features(image, text)), repeat=1)
    k = min(loop_images, images)
    start = time.perf_counter()
    naive = torch.stack([torch.nn.functional.cosine_similarity(image[i : i + 1], text, dim=-1) for i in range(k)])
    naive_s = time.perf_counter() - start
    return {
        "coder_images": float(images),
        "coder_texts": float(texts),
        "coder_features_s": project_s,
        "coder_loop_s_extrapolated": naive_s * images / k,
        "coder_loop_images_timed": float(k),
        "coder_speedup": naive_s * images / k / project_s,
        "coder_max_abs_diff": (result["x"][:k] - naive).abs().max().item(),
    }


def bench_flexclip_epoch(repeat: int = 3) -> dict[str, float]:
    """One stage-2 epoch (gate residual projector, three losses, then the per-epoch validation mAP) on simulated
    Wikipedia 5-shot training pairs, vs a plain nn.Linear projector per modality with InfoNCE only, same batches,
    same optimiser, same validation. Best of `repeat`."""
    from dataclasses import replace

    from flexcoder.flexclip.common_space_training import train_projection
    from flexcoder.flexclip.config import LossWeights, ProjectorConfig
    from flexcoder.flexclip.losses import info_nce
    from flexcoder.metrics import cross_modal_map
    from flexcoder.protocols import retrieval_task

    task = retrieval_task("wikipedia", "simulated", 5, 0)
    cfg = replace(ProjectorConfig(), epochs=1)
    device = torch.device("cpu")
    train, val = task.train, task.val
    steps = min(cfg.max_steps_per_epoch, math.ceil(len(train) / cfg.batch_size))

    def flexclip_epoch() -> None:
        train_projection(
            train,
            val,
            task.spec.num_classes,
            task.spec.multilabel,
            cfg,
            LossWeights(),
            True,
            torch.Generator().manual_seed(0),
            device,
        )

    def linear_epoch() -> None:
        dim = train.image.shape[1]
        image_proj, text_proj = torch.nn.Linear(dim, dim), torch.nn.Linear(dim, dim)
        opt = torch.optim.Adam(
            [*image_proj.parameters(), *text_proj.parameters()], lr=cfg.learning_rate(with_shots=False)
        )
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
        for i in range(steps):
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            loss = info_nce(image_proj(train.image[idx]), text_proj(train.text[idx]), cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            cross_modal_map(image_proj(val.image), text_proj(val.text), val.labels)

    flexclip_s = _seconds(flexclip_epoch, repeat)
    linear_s = _seconds(linear_epoch, repeat)
    val_s = _seconds(lambda: cross_modal_map(val.image, val.text, val.labels), repeat)
    return {
        "epoch_train_pairs": float(len(train)),
        "epoch_steps": float(steps),
        "epoch_val_pairs": float(len(val)),
        "flexclip_epoch_s": flexclip_s,
        "linear_epoch_s": linear_s,
        "flexclip_over_linear": flexclip_s / linear_s,
        "val_map_s": val_s,
    }


def bench_kernels(quick: bool = False) -> dict[str, float]:
    if quick:
        return {
            **bench_map(2000, 50),
            **bench_coder_similarity(2000, 4000, loop_images=50),
            **bench_flexclip_epoch(repeat=1),
        }
    return {**bench_map(), **bench_coder_similarity(), **bench_flexclip_epoch()}


# --------------------------------------------------------------------------------------------------------- 4 memory


# Runs a script or `-c` code and, at exit, writes the process's own peak RSS (KiB) to $FLEXCODER_PEAK_RSS_FILE.
# VmHWM is the high-water mark of the exec'd image alone; getrusage/wait4's ru_maxrss would start at the parent's size
# (Linux carries it across fork and exec), which made every figure equal to the benchmark process's own RSS.
_RSS_PROBE = """
import atexit, os, resource, runpy, sys

def _write_peak():
    try:
        kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(os.environ["FLEXCODER_PEAK_RSS_FILE"], "w") as f:
        f.write(str(kib))

atexit.register(_write_peak)
if sys.argv[1] == "-c":
    code, sys.argv = sys.argv[2], ["-c", *sys.argv[3:]]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
else:
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


def peak_rss_mib(argv: Sequence[str], cwd: Path = ROOT) -> float:
    """Peak resident memory (MiB) of a fresh Python process running `argv` = [script, *args] or ["-c", code, *args]."""
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as err:
        out = Path(tmp) / "peak_rss"
        env = {**os.environ, "FLEXCODER_PEAK_RSS_FILE": str(out)}
        done = subprocess.run(
            [sys.executable, "-c", _RSS_PROBE, *argv], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err
        )
        if done.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {err.read().decode()[-2000:]}")
        return int(out.read_text()) / 1024


def bench_memory(trials: int = 500, trial: dict | None = None, workdir: Path | None = None) -> dict[str, float]:
    """Peak RSS: one trial (`trial`, default FLEX-CLIP full on simulated Wikipedia 5-shot) in a fresh process, next
    to the same process only importing flexcoder; the driver doing `grid/run.py --dry-run` on a generated space of
    `trials` trials, next to `grid/run.py --help`."""
    trial = trial or {"method": "flexclip", "dataset": "wikipedia", "shots": 5, "flexclip.variant": "full"}
    run_one = (
        "from flexcoder import TrialConfig, run_trial; import json, sys; "
        "run_trial(TrialConfig.from_flat(json.loads(sys.argv[1])))"
    )
    with _workdir(workdir) as tmp:
        datasets = ["wikipedia", "pascal_sentence", "nuswide10k", "nuswide"]
        shots = [0, 1, 3, 5, 7]
        seeds = list(range(math.ceil(trials / (len(datasets) * len(shots)))))
        space = _write_space(
            tmp / "dry.yaml",
            "bench-dry-run",
            f"  - {{method: flexclip, dataset: {datasets}, shots: {shots}, seed: {seeds}}}\n",
        )
        cells = len(datasets) * len(shots) * len(seeds)
        return {
            "trial_rss_mib": peak_rss_mib(["-c", run_one, json.dumps(trial)]),
            "import_only_rss_mib": peak_rss_mib(["-c", "import flexcoder, torch"]),
            "dry_run_trials": float(cells),
            "driver_dry_run_rss_mib": peak_rss_mib(["grid/run.py", "--space", str(space), "--dry-run"]),
            "driver_help_rss_mib": peak_rss_mib(["grid/run.py", "--help"]),
        }


# ------------------------------------------------------------------------------------------------------------ CLI


def _format(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if value != value:  # nan
        return "nan"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"
    return f"{value:.4g}"


def print_table(section: str, figures: dict[str, float | str]) -> None:
    width = max(len(k) for k in figures)
    print(f"\n== {section}")
    for key, value in figures.items():
        print(f"  {key:<{width}}  {_format(value)}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m grid.bench", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a minute or two instead of several)")
    p.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the MLflow stores and caches here (default: a temporary folder, removed afterwards)",
    )
    p.add_argument("--data-root", default=None, help="feature-cache benchmark: root of a dataset in its real layout")
    p.add_argument("--feature-dataset", default="wikipedia", help="feature-cache benchmark: dataset name")
    p.add_argument("--feature-backbone", default="ViT-B-32/openai", help="feature-cache benchmark: open_clip backbone")
    p.add_argument("--scale-cells", type=int, default=5000, help="scale benchmark: cells in the space (default 5000)")
    p.add_argument(
        "--device",
        default="cpu",
        help="packing, llm and trial: where they compute, cpu or cuda[:N] (default cpu; infra/gpu/check.sh runs "
        "them on cuda)",
    )
    p.add_argument(
        "--llm-model",
        type=Path,
        default=None,
        help="llm: a Hugging Face model folder (default SmolLM2-135M-Instruct where infra/llm/prepare_cpu.sh puts it)",
    )
    args = p.parse_args(argv)
    try:
        device = torch.device(args.device)
    except RuntimeError:
        p.error(f"--device: {args.device!r} is not a torch device (cpu, cuda, cuda:1)")
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA GPU here")
    return args


# -------------------------------------------------------------------------------------------------------- 5 packing


def _loss_settings(k: int) -> list[dict[str, float]]:
    """K distinct loss-weight settings, as an Optuna search over `flexclip.loss.*` would propose."""
    return [{"classification": 0.5 + i / k, "consistency": 1.0, "contrastive": 2.0 - i / k} for i in range(k)]


def bench_cell_trials(
    k: int = 8, epochs: int = 10, dataset: str = "wikipedia", shots: int = 5, device: str = "cpu"
) -> dict[str, float]:
    """K full FLEX-CLIP trials of one cell (same data, shots, seed; K loss-weight settings), each in a fresh Python
    process (what a grid without process reuse pays: start-up, imports, the world, stage 1 every time) vs all K in
    one process in turn (the grid's reused trial actors: stage 1 once, from the memo after). Both sequential."""
    trials = [
        {
            "method": "flexclip",
            "dataset": dataset,
            "shots": shots,
            "seed": 0,
            "device": device,
            "flexclip.projector.epochs": epochs,
            **{f"flexclip.loss.{n}": v for n, v in w.items()},
        }
        for w in _loss_settings(k)
    ]
    code = (
        "import json, sys; from flexcoder import TrialConfig, run_trial; "
        "[print(json.dumps(run_trial(TrialConfig.from_flat(t)))) for t in json.loads(sys.argv[1])]"
    )

    def processes(batches: list[list[dict]]) -> list[dict]:
        out = []
        for batch in batches:
            done = subprocess.run(
                [sys.executable, "-c", code, json.dumps(batch)], cwd=ROOT, capture_output=True, text=True, check=True
            )
            out += [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        return out

    start = time.perf_counter()
    apart = processes([[t] for t in trials])
    apart_s = time.perf_counter() - start
    start = time.perf_counter()
    together = processes([trials])
    together_s = time.perf_counter() - start
    same = all(a[m] == b[m] for a, b in zip(apart, together) for m in a if m.startswith(("val/", "test/")))
    return {
        "cell_trials_k": float(k),
        "process_per_trial_s": apart_s,
        "one_process_s": together_s,
        "process_per_trial_trials_per_s": k / apart_s,
        "one_process_trials_per_s": k / together_s,
        "one_process_speedup": apart_s / together_s,
        "stage1_memo_hits": sum(t["stage1_memo_hit"] for t in together),
        "stage1_s_per_miss": sum(t["time/stage1_s"] for t in apart) / k,
        "same_metrics": "yes" if same else "NO",
    }


def bench_packing(k: int = 8, epochs: int = 10, device: str = "cpu") -> dict[str, float]:
    """Stage-2 training of K loss-weight settings on simulated Wikipedia 5-shot pairs: one packed (vmapped) training
    vs K separate `train_projection` calls, in this process (so neither pays process start-up; the packed gain is
    the batching alone). The separate calls validate on 8 pairs, so their per-epoch validation costs ~nothing. On
    a GPU one untimed one-epoch training first pays CUDA's start-up (context, kernels' first launch)."""
    from dataclasses import replace

    from flexcoder.flexclip.common_space_training import train_projection
    from flexcoder.flexclip.config import LossWeights, ProjectorConfig
    from flexcoder.flexclip.packed import train_projection_packed
    from flexcoder.protocols import retrieval_task

    task = retrieval_task("wikipedia", "simulated", 5, 0)
    cfg = replace(ProjectorConfig(), epochs=epochs)
    on = torch.device(device)
    shots = task.train.labels[:, list(task.target_classes)].any(1)
    tiny_val = task.val.subset(torch.arange(8))
    settings = [LossWeights(**w) for w in _loss_settings(k)]
    head = (task.spec.num_classes, task.spec.multilabel)
    one_epoch = replace(cfg, epochs=1)

    def separate(train_cfg: ProjectorConfig = cfg, weights: list[LossWeights] = settings) -> None:
        for w in weights:
            train_projection(
                task.train, tiny_val, *head, train_cfg, w, True, torch.Generator().manual_seed(0), on, shots=shots
            )
        _synchronize(on)

    def packed(train_cfg: ProjectorConfig = cfg) -> None:
        train_projection_packed(
            task.train, *head, train_cfg, settings, True, torch.Generator().manual_seed(0), on, shots
        )
        _synchronize(on)

    if on.type == "cuda":
        separate(one_epoch, settings[:1])
        packed(one_epoch)
    separate_s, packed_s = _seconds(separate), _seconds(packed)
    return {
        "device": device,
        "packing_k": float(k),
        "packing_epochs": float(epochs),
        "separate_s": separate_s,
        "packed_s": packed_s,
        "separate_trainings_per_s": k / separate_s,
        "packed_trainings_per_s": k / packed_s,
        "packed_speedup": separate_s / packed_s,
    }


# -------------------------------------------------------------------------------------------------------- 6 cluster

PROBE_STUDIES = """\
  - method: flexclip
    dataset: [wikipedia, pascal_sentence]
    shots: [1, 3]
    seed: [0, 1]
    params:
      flexclip.generator.epochs: 1
      flexclip.projector.epochs: {epochs}
      flexclip.loss.contrastive: {{loguniform: [0.1, 10.0]}}
    search: {{trials: {search_trials}, max_concurrent: 4}}
    resources: {{cpu: 1}}
  - method: flexclip
    dataset: [wikipedia, pascal_sentence]
    shots: [0, 1, 3]
    seed: [0, 1]
    params:
      flexclip.variant: [raw_clip, full]
      flexclip.generator.epochs: 1
      flexclip.projector.epochs: {epochs}
    resources: {{cpu: 1}}
"""


def schedule_figures(runs: list, slots: int) -> dict[str, float]:
    """Trials in flight over a run, from child runs' start and end times (ms): peak, mean over the span, and slot
    utilisation = busy trial-seconds / (slots x span)."""
    spans = [(r.info.start_time / 1000, r.info.end_time / 1000) for r in runs if r.info.end_time]
    if not spans:
        return {"trials": 0.0}
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    live = peak = 0
    for _, step in events:
        live += step
        peak = max(peak, live)
    span = max(e for _, e in spans) - min(s for s, _ in spans)
    busy = sum(e - s for s, e in spans)
    return {
        "trials": float(len(spans)),
        "span_s": span,
        "busy_trial_s": busy,
        "peak_in_flight": float(peak),
        "mean_in_flight": busy / span,
        "slot_utilisation": busy / (slots * span),
    }


def _one_cell_space(space, cell):
    """A space holding just `cell` (its study with every axis fixed to the cell's value)."""
    import dataclasses

    c = cell.constants
    study = dataclasses.replace(
        cell.study,
        method=(c["method"],),
        dataset=(c["dataset"],),
        backbone=(c["backbone"],),
        shots=(c["shots"],),
        seed=(c["seed"],),
        grid={k: (v,) for k, v in cell.grid_values.items()},
    )
    return dataclasses.replace(space, studies=(study,))


def bench_cluster(
    slots: int = 16, search_trials: int = 4, epochs: int = 3, workdir: Path | None = None
) -> dict[str, float]:
    """The probe space (8 searched cells of `search_trials` trials, max_concurrent 4, and 24 one-trial grid cells)
    on a local cluster of `slots` logical CPUs, one CPU per trial: as one schedule, then as the old schedule. Both
    run in one child process joined to the cluster (its token lives in the child's environment)."""
    from grid.local_cluster import LocalRayCluster

    with _workdir(workdir) as tmp, LocalRayCluster(head_cpus=slots) as cluster:
        code = (
            "import json, sys; from pathlib import Path; from grid.bench import probe_schedules; "
            "print(json.dumps(probe_schedules(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), "
            "int(sys.argv[4]), int(sys.argv[5]))))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, cluster.address, str(tmp), str(slots), str(search_trials), str(epochs)],
            cwd=ROOT,
            env=cluster.env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the cluster probe failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return {"slots": float(slots), **json.loads(done.stdout.strip().splitlines()[-1])}


def probe_schedules(address: str, tmp: Path, slots: int, search_trials: int, epochs: int) -> dict[str, float]:
    """bench_cluster's child process: both schedules of the probe space on the cluster at `address`."""
    import dataclasses

    import ray

    from grid.driver import NAMESPACE, RunOptions, run_grid

    os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"
    ray.init(
        address=address,
        namespace=NAMESPACE,
        log_to_driver=False,
        runtime_env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}},
    )
    out: dict[str, float] = {}
    uri = f"sqlite:///{tmp}/mlflow.db"
    for schedule in ("one_schedule", "old_schedule"):
        path = _write_space(
            tmp / f"{schedule}.yaml",
            f"bench-cluster-{schedule.replace('_', '-')}",
            PROBE_STUDIES.format(epochs=epochs, search_trials=search_trials),
        )
        space = _space_of(path)
        if schedule == "one_schedule":
            units = [space]
        else:  # what the driver did before: studies in turn; a searched study one cell at a time
            units = []
            for i, study in enumerate(space.studies):
                if study.search is None:
                    units.append(dataclasses.replace(space, studies=(study,)))
                else:
                    units += [_one_cell_space(space, c) for c in space.cells() if c.study_index == i]
        start = time.perf_counter()
        with contextlib.redirect_stdout(sys.stderr):
            # reuse off: the second schedule runs the same trials into the same store, and must really run them
            codes = [
                run_grid(u, RunOptions(mlflow_uri=uri, storage=str(tmp / "ray_results"), reuse=False)) for u in units
            ]
        wall = time.perf_counter() - start
        if any(codes):
            raise RuntimeError(f"the {schedule} probe grid failed (exit codes {codes})")
        figures = schedule_figures(_child_runs(uri, space.name), slots)
        out.update({f"{schedule}_{k}": v for k, v in figures.items()})
        out[f"{schedule}_wall_s"] = wall
    ray.shutdown()
    return out


# ---------------------------------------------------------------------------------------------------------- 7 scale


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def bench_scale(cells: int = 5000, limit_s: float | None = None, workdir: Path | None = None) -> dict[str, float]:
    """`grid/run.py` on `cells` cells of CODER's CLIP prompt ensemble (about 0.03 s of work each) on simulated
    data, launched as its own process: seconds to the first trial's run in MLflow, the driver's peak RSS (sampled
    every 0.2 s), and trials finished; stopped after `limit_s` seconds if given."""
    from mlflow.tracking import MlflowClient

    with _workdir(workdir) as tmp:
        seeds = list(range(math.ceil(cells / 3)))
        space = _write_space(
            tmp / "scale.yaml",
            "bench-scale",
            f"  - {{method: coder, dataset: [wikipedia, pascal_sentence, nuswide10k], seed: {seeds}, "
            "params: {coder.variant: clip_prompt}}\n",
        )
        uri = f"sqlite:///{tmp}/mlflow.db"
        args = [
            sys.executable,
            "grid/run.py",
            "--space",
            str(space),
            "--mlflow-uri",
            uri,
            "--storage",
            str(tmp / "ray_results"),
            "--no-reuse",
        ]
        start, launched = time.perf_counter(), time.time()
        log = open(tmp / "driver.log", "w")
        driver = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        peak, first, client, checked = 0.0, math.nan, None, 0.0
        while driver.poll() is None:
            now = time.perf_counter() - start
            peak = max(peak, _rss_mib(driver.pid))
            # Only once the driver has set up the store: a second process opening a new SQLite store would run
            # MLflow's schema migrations at the same time as the driver, and one of them would fail.
            ready = "cells to run" in (tmp / "driver.log").read_text()
            if math.isnan(first) and now - checked > 1.0 and ready:
                checked = now
                try:
                    client = client or MlflowClient(uri)
                    exp = client.get_experiment_by_name("bench-scale")
                    runs = exp and client.search_runs(
                        [exp.experiment_id],
                        "tags.`grid.role` = 'trial'",
                        max_results=1,
                        order_by=["attributes.start_time ASC"],
                    )
                    if runs:
                        first = runs[0].info.start_time / 1000 - launched
                except Exception:  # a busy store: try again in a second
                    pass
            if limit_s is not None and now > limit_s:
                driver.kill()
                break
            time.sleep(0.2)
        wall = time.perf_counter() - start
        driver.wait()
        exp = MlflowClient(uri).get_experiment_by_name("bench-scale")
        done = sum(r.info.status == "FINISHED" for r in _child_runs(uri, "bench-scale")) if exp else 0
    return {
        "scale_cells": float(len(seeds) * 3),
        "first_trial_s": first,
        "driver_peak_rss_mib": peak,
        "trials_finished": float(done),
        "wall_s": wall,
        "exit_code": float(driver.returncode),
    }


# ------------------------------------------------------------------------------------------------------------ 8 llm


def _parse_rate(requests: Sequence, answers: Sequence[str]) -> float:
    """Share of answers that parse into at least one item (both halves of a pairwise answer)."""
    from flexcoder.textgen import parse_list, parse_ovo

    ok = 0
    for req, ans in zip(requests, answers):
        parsed = parse_ovo(ans, *req.classes) if req.kind == "ovo" else (parse_list(ans),)
        ok += all(p.status == "ok" for p in parsed)
    return ok / max(len(requests), 1)


def llm_setup(device: str, model: Path) -> tuple[dict[str, Any], Path, str | None]:
    """The vLLM actor's settings, the Python of the transformers baseline, and why the actor cannot run (None: it
    can). CPU: vLLM's CPU build in .venv-llm, no GPU reserved, eager (torch.compile would add minutes to every
    engine start). GPU: vLLM in this Python (`pip install -e ".[llm]"`), one GPU for the actor, CUDA graphs on, as a
    grid runs it."""
    from grid.prepared_llm import PREPARE, llm_python

    if torch.device(device).type == "cpu":
        python = llm_python()
        actor = {"model": str(model), "python": str(python), "num_gpus": 0, "enforce_eager": True}
        missing = None if python.exists() else f"no LLM environment at {python}: run `{PREPARE}`"
        return actor, python, missing
    actor = {"model": str(model), "python": None, "num_gpus": 1, "enforce_eager": False}
    lacking = [m for m in ("vllm", "ray") if importlib.util.find_spec(m) is None]
    missing = f"no {' or '.join(lacking)} in this Python: pip install -e '.[llm]'" if lacking else None
    return actor, Path(sys.executable), missing


def bench_llm(
    dataset: str = "wikipedia",
    tasks: int = 3,
    max_tokens: int = 96,
    hf_batch: int = 8,
    kinds: Sequence[str] = ("att", "ana", "syno"),
    device: str = "cpu",
    model: Path | None = None,
) -> dict:
    from flexcoder.data.registry import get_dataset
    from flexcoder.textgen import build_request
    from flexcoder.textgen.prompts import chat_messages
    from grid.prepared_llm import PREPARE, smollm2_folder

    model = model or smollm2_folder()
    if not (model / "config.json").is_file():
        return {"skipped": f"no model folder at {model}: run `{PREPARE}`"}
    actor, python, missing = llm_setup(device, model)
    classes = get_dataset(dataset).classes
    requests = [build_request(k, (c,)) for c in classes for k in kinds]
    figures: dict[str, float | str] = {"device": device, "dataset": dataset, "prompts": len(requests)}
    if missing is None:
        figures |= _bench_llm_actor(requests, tasks, max_tokens, actor)
    else:
        figures["vllm_skipped"] = missing
        if device == "cpu":
            return figures
    job = {
        "model": str(model),
        "conversations": [chat_messages(r, structured=False) for r in requests],
        "max_tokens": max_tokens,
        "batch": hf_batch,
        "device": device,
    }
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [str(python), str(ROOT / "infra" / "llm" / "hf_generate.py")],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    hf = json.loads(out.stdout)
    figures["transformers_load_s"] = hf["load_seconds"]
    figures["transformers_wall_s"] = hf["seconds"]
    figures["transformers_prompts_per_s"] = len(requests) / hf["seconds"]
    figures["transformers_tokens"] = hf["generated_tokens"]
    figures["transformers_tokens_per_s"] = hf["generated_tokens"] / hf["seconds"]
    figures["transformers_parse_ok_rate"] = _parse_rate(requests, hf["answers"])
    return figures


def _bench_llm_actor(requests: list, tasks: int, max_tokens: int, actor: dict[str, Any]) -> dict[str, float]:
    """`requests` split over `tasks` concurrent Ray tasks (as trials send them) to the grid's actor, with and without
    structured output, each after a warm-up request that starts the engine."""
    import ray

    from flexcoder.textgen import TextgenConfig, build_request
    from grid.textgen_actor import start_textgen_actor, stop_textgen_actor

    chunks = [requests[i::tasks] for i in range(tasks)]
    figures: dict[str, float] = {"trials_asking": float(tasks)}
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)

    @ray.remote(num_cpus=0)
    def trial(client, chunk):
        return client.generate(chunk)

    try:
        for structured in (True, False):
            tag = "vllm_structured" if structured else "vllm_free"
            cfg = TextgenConfig(backend="vllm", max_tokens=max_tokens, temperature=0.0, structured=structured, **actor)
            name = f"bench-llm-{tag}"
            client = start_textgen_actor(cfg, "flexcoder-bench", name, num_cpus=0)
            try:
                client.generate([build_request("syno", ("warm up",))])  # the engine starts on the first request
                before = client.stats()
                start = time.perf_counter()
                parts = ray.get([trial.remote(client, c) for c in chunks])
                wall = time.perf_counter() - start
                stats = client.stats()
            finally:
                stop_textgen_actor("flexcoder-bench", name)
            answers: list[str] = [""] * len(requests)
            for i, part in enumerate(parts):
                answers[i::tasks] = part
            tokens = stats["generated_tokens"] - before["generated_tokens"]
            batches = stats["batches"][len(before["batches"]) :]
            figures[f"{tag}_engine_start_s"] = stats["engine_start_s"]
            figures[f"{tag}_wall_s"] = wall
            figures[f"{tag}_prompts_per_s"] = len(requests) / wall
            figures[f"{tag}_tokens"] = tokens
            figures[f"{tag}_tokens_per_s"] = tokens / wall
            figures[f"{tag}_batches"] = len(batches)
            figures[f"{tag}_max_trials_per_batch"] = max((b[0] for b in batches), default=0)
            figures[f"{tag}_parse_ok_rate"] = _parse_rate(requests, answers)
    finally:
        if started:
            ray.shutdown()
    return figures


# ---------------------------------------------------------------------------------------------------------- 9 trial


def bench_trial(
    device: str, epochs: int | None = None, dataset: str = "wikipedia", shots: int = 5
) -> dict[str, float | str]:
    """One FLEX-CLIP trial (the method's defaults; `epochs` overrides both stages') on the CPU, then on `device` (if
    not the CPU), in this process: seconds, peak memory, test mAP, and the largest gap of any test metric between
    the two. The first builds the world, which the second reuses (so compare `*_train_s`); on a GPU an untimed
    tensor op first pays CUDA's start-up. Same seed on both, but a GPU sums in another order, so the metrics agree
    closely, not exactly."""
    from flexcoder import TrialConfig, run_trial

    flat: dict[str, Any] = {"method": "flexclip", "dataset": dataset, "shots": shots, "seed": 0}
    if epochs is not None:
        flat |= {"flexclip.generator.epochs": epochs, "flexclip.projector.epochs": epochs}
    figures: dict[str, float | str] = {"dataset": dataset, "shots": float(shots)}
    results = []
    for name in dict.fromkeys(("cpu", device)):
        on = torch.device(name)
        if on.type == "cuda":
            figures["gpu"] = torch.cuda.get_device_name(on)
            torch.ones(1, device=on).sum().item()
        out = run_trial(TrialConfig.from_flat({**flat, "device": name}))
        results.append(out)
        tag = name.replace(":", "")
        figures[f"{tag}_trial_s"] = out["cost/trial_s"]
        figures[f"{tag}_train_s"] = out["time/train_s"]
        figures[f"{tag}_stage1_s"] = out["time/stage1_s"]
        figures[f"{tag}_test_map_avg"] = out["test/map_avg"]
        if "cost/peak_gpu_mib" in out:  # run_trial reports it for a GPU trial alone
            figures[f"{tag}_peak_gpu_mib"] = out["cost/peak_gpu_mib"]
    if len(results) == 2:
        first, last = results
        figures["max_test_metric_gap"] = max(abs(first[k] - last[k]) for k in first if k.startswith("test/"))
        figures["train_speedup"] = first["time/train_s"] / last["time/train_s"]
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BENCHMARKS]
    if unknown:
        print(f"error: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    load = os.getloadavg()
    print(
        f"[bench] {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; torch "
        f"{torch.get_num_threads()} threads; quick={args.quick}"
    )
    workdir = args.workdir
    if "overhead" in chosen:
        print_table("1. grid overhead", bench_overhead(4 if args.quick else 16, workdir and workdir / "overhead"))
    if "caches" in chosen:
        features = (args.feature_dataset, args.feature_backbone, args.data_root) if args.data_root else None
        datasets = ("wikipedia",) if args.quick else ("wikipedia", "pascal_sentence")
        print_table("2. caches", bench_caches(datasets, workdir and workdir / "caches", features))
    if "kernels" in chosen:
        print_table("3. kernels", bench_kernels(args.quick))
    if "memory" in chosen:
        trial = {**SMALL_TRIAL} if args.quick else None
        print_table("4. memory", bench_memory(40 if args.quick else 500, trial, workdir and workdir / "memory"))
    if "packing" in chosen:
        k, epochs = (3, 2) if args.quick else (8, 10)
        print_table("5a. packing: whole trials of one cell", bench_cell_trials(k, epochs, device=args.device))
        print_table("5b. packing: stage 2 alone", bench_packing(k, epochs, args.device))
    if "cluster" in chosen:
        trials, epochs = (2, 1) if args.quick else (4, 3)
        print_table(
            "6. cluster: one schedule vs the old one-cell-at-a-time schedule",
            bench_cluster(16, trials, epochs, workdir and workdir / "cluster"),
        )
    if "scale" in chosen:
        cells, limit = (300, 120.0) if args.quick else (args.scale_cells, None)
        print_table("7. scale: a many-cell space", bench_scale(cells, limit, workdir and workdir / "scale"))
    if "llm" in chosen:
        sizes = {"max_tokens": 32, "kinds": ("att",)} if args.quick else {}
        print_table(
            f"8. llm: the grid's vLLM actor on {args.device} vs plain transformers",
            bench_llm(**sizes, device=args.device, model=args.llm_model),
        )
    if "trial" in chosen:
        on = "cpu" if args.device == "cpu" else f"cpu and {args.device}"
        print_table(
            f"9. trial: one FLEX-CLIP trial on {on}",
            bench_trial(args.device, 2 if args.quick else None),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
