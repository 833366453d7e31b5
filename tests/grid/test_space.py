import pytest

from grid.space import Distribution, SpaceError, load_space, parse_space, resolved


def space(**study):
    return {"name": "t", "studies": [{"method": "flexclip", "dataset": "wikipedia", **study}]}


def test_cells_are_the_product_of_grid_axes_and_grid_listed_params():
    s = parse_space(
        space(
            dataset=["wikipedia", "pascal_sentence"],
            shots=[0, 1, 5],
            seed=[0, 1],
            params={"flexclip.variant": ["raw_clip", "full"], "flexclip.loss.contrastive": 0.5},
        )
    )
    cells = s.cells()
    assert len(cells) == 2 * 3 * 2 * 2 and s.num_trials() == 24
    assert len({c.id for c in cells}) == len(cells)
    assert all(c.constants["flexclip.loss.contrastive"] == 0.5 for c in cells)
    assert "flexclip/wikipedia/simulated/shots=5/seed=1/flexclip.variant=full" in {c.id for c in cells}


def test_cells_of_two_studies_at_the_same_grid_point_get_distinct_ids():
    fixed = {"method": "flexclip", "dataset": "wikipedia", "params": {"flexclip.variant": "raw_clip"}}
    searched = {
        "method": "flexclip",
        "dataset": ["wikipedia", "pascal_sentence"],
        "params": {"flexclip.loss.contrastive": {"uniform": [0, 1]}},
        "search": {"trials": 2},
    }
    ids = [c.id for c in parse_space({"name": "t", "studies": [fixed, searched]}).cells()]
    assert ids == [
        "study0/flexclip/wikipedia/simulated/shots=0/seed=0",
        "study1/flexclip/wikipedia/simulated/shots=0/seed=0",
        "flexclip/pascal_sentence/simulated/shots=0/seed=0",
    ]  # only the colliding point is prefixed


def test_distributions_make_an_optuna_cell_with_the_search_budget():
    s = parse_space(
        space(
            shots=[1, 5],
            params={
                "flexclip.loss.contrastive": {"loguniform": [0.01, 10]},
                "flexclip.loss.consistency": {"uniform": [0, 2]},
            },
            search={"trials": 7},
        )
    )
    assert len(s.cells()) == 2 and s.num_trials() == 14
    study = s.studies[0]
    assert study.searched["flexclip.loss.contrastive"] == Distribution("loguniform", (0.01, 10))
    assert s.cells()[0].metric == "val/map_avg"


def test_multi_method_study_gives_each_method_only_its_own_params():
    s = parse_space(
        {
            "name": "t",
            "studies": [
                {
                    "method": ["flexclip", "coder"],
                    "dataset": "pascal_sentence",
                    "params": {"flexclip.variant": ["raw_clip", "full"], "coder.variant": "clip_prompt"},
                }
            ],
        }
    )
    ids = sorted(c.id for c in s.cells())
    assert len(ids) == 3  # two flexclip variants, one coder cell (not duplicated per flexclip variant)
    coder = [c for c in s.cells() if c.method == "coder"][0]
    assert "flexclip.variant" not in coder.constants and coder.constants["coder.variant"] == "clip_prompt"


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"studies": []}, "name: missing required key"),
        ({"name": "t", "studies": []}, "studies: must be a non-empty list"),
        ({"name": "t", "studies": [{"method": "flexclip", "dataset": "wikipedia"}], "extra": 1}, "extra: unknown key"),
        (space(shots="five"), r"studies\[0\].shots: expected int"),
        (space(shots=[]), r"studies\[0\].shots: empty grid list"),
        (space(shots=[-1]), r"studies\[0\].shots: must be >= 0"),
        (space(seed=[0, 0]), r"studies\[0\].seed: duplicate"),
        (space(dataset="mnist"), r"studies\[0\].dataset: unknown dataset 'mnist'"),
        ({"name": "t", "studies": [{"method": "clipper", "dataset": "wikipedia"}]}, r"unknown method 'clipper'"),
        ({"name": "t", "studies": [{"method": "coder", "dataset": "nuswide"}]}, "has no classification split"),
        (space(backbone="ViT-B-32"), "MODEL/PRETRAINED"),
        (space(params={"flexclip.loss.kll": 1.0}), r"studies\[0\].params.flexclip.loss.kll: unknown parameter"),
        (space(params={"coder.variant": "coder"}), r"params.coder.variant: unknown parameter"),
        (space(params={"flexclip.variant": "half"}), r"flexclip.variant: 'half' is not one of"),
        (space(params={"flexclip.loss.contrastive": "lots"}), r"flexclip.loss.contrastive: expected a number"),
        (space(params={"flexclip.variant": []}), "empty grid list"),
        (space(params={"flexclip.loss.contrastive": {"normal": [0, 1]}}), "a distribution is one of"),
        (space(params={"flexclip.loss.contrastive": {"uniform": [2, 1]}}), "low must be < high"),
        (space(params={"flexclip.loss.contrastive": {"loguniform": [0, 1]}}), "low must be > 0"),
        (space(params={"flexclip.loss.contrastive": {"uniform": [0, 1]}}), r"studies\[0\].search: .* required"),
        (space(search={"trials": 3}), "nothing to search"),
        (space(params={"flexclip.loss.contrastive": {"uniform": [0, 1]}}, search={"trials": 0}), "trials: must be"),
        (
            space(params={"flexclip.loss.contrastive": {"uniform": [0, 1]}}, search={"trials": 2, "metric": "top1"}),
            "search.metric: 'top1' is not reported",
        ),
        (
            space(params={"flexclip.loss.contrastive": {"uniform": [0, 1]}}, search={"trials": 2, "sampler": "cma"}),
            "search.sampler: 'cma' is not one of",
        ),
        (space(resources={"gpus": 1}), r"unknown key studies\[0\].resources.gpus"),
        (space(resources={"cpu": 0}), "cpu must be > 0"),
        (
            {"name": "t", "studies": [{"method": "coder", "dataset": "wikipedia", "scheduler": {"type": "asha"}}]},
            "asha needs per-epoch metrics",
        ),
        (space(max_failures=-1), "max_failures"),
        # A name is a path part under --storage and reports/: refused before anything is written.
        ({"name": "../../evil", "studies": [{"method": "flexclip", "dataset": "wikipedia"}]}, "not a safe name"),
        ({"name": "a/b", "studies": [{"method": "flexclip", "dataset": "wikipedia"}]}, "not a safe name"),
        ({"name": ".hidden", "studies": [{"method": "flexclip", "dataset": "wikipedia"}]}, "not a safe name"),
        # Every choice is type-checked, not only the first.
        (
            space(params={"flexclip.loss.contrastive": {"choice": [1.0, "x"]}}, search={"trials": 2}),
            r"flexclip.loss.contrastive: expected a number, got 'x'",
        ),
        (
            space(params={"flexclip.variant": {"choice": ["full", "half"]}}, search={"trials": 2}),
            r"flexclip.variant: 'half' is not one of",
        ),
    ],
)
def test_bad_spaces_fail_with_the_key_path(raw, message):
    with pytest.raises(SpaceError, match=message):
        parse_space(raw)


def test_load_space_names_the_file_and_rejects_bad_yaml(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpaceError, match="bad.yaml: not valid YAML"):
        load_space(bad)
    with pytest.raises(SpaceError, match="no such file"):
        load_space(tmp_path / "missing.yaml")
    ok = tmp_path / "ok.yaml"
    ok.write_text("name: t\nstudies:\n  - {method: flexclip, dataset: wikipedia, shots: x}\n")
    with pytest.raises(SpaceError, match=r"ok.yaml: studies\[0\].shots"):
        load_space(ok)


def test_cli_data_root_overrides_the_file(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: t\ndata_root: /nowhere\nstudies:\n  - {method: flexclip, dataset: wikipedia}\n")
    s = load_space(f, data_root=str(tmp_path))
    assert s.cells()[0].constants["data_root"] == str(tmp_path)


def test_resolved_space_is_plain_data():
    s = parse_space(space(params={"flexclip.loss.contrastive": {"loguniform": [0.01, 10]}}, search={"trials": 2}))
    out = resolved(s)
    assert out["studies"][0]["params"]["flexclip.loss.contrastive"] == {"loguniform": [0.01, 10]}


def test_a_dataset_the_embedded_world_does_not_model_is_refused_naming_those_it_has(monkeypatch):
    """A dataset registered for real data only (a user's own, here) fails before Ray starts, not in the trial."""
    from flexcoder.data import registry

    own = registry.DatasetSpec("my_photos", ("cat", "dog", "zebu"), ("classification",), n_train=0, n_test=30)
    monkeypatch.setitem(registry._DATASETS, "my_photos", own)
    message = (
        r"studies\[0\].dataset: the embedded world \(backbone: simulated\) does not model 'my_photos'; it has "
        "caltech101, cub200, dtd, eurosat, food101, imagenet, nuswide, nuswide10k, oxford_pets, pascal_sentence, "
        "places365, wikipedia"
    )
    with pytest.raises(SpaceError, match=message):
        parse_space({"name": "t", "studies": [{"method": "coder", "dataset": "my_photos"}]})
    s = parse_space(
        {"name": "t", "studies": [{"method": "coder", "dataset": "my_photos", "backbone": "ViT-B-32/openai"}]}
    )
    assert [c.constants["dataset"] for c in s.cells()] == ["my_photos"]


def test_real_data_datasets_are_fine_with_a_real_backbone():
    s = parse_space(
        {"name": "t", "studies": [{"method": "coder", "dataset": "food101", "backbone": "ViT-B-32/openai"}]}
    )
    assert [c.constants["dataset"] for c in s.cells()] == ["food101"]


def test_noise_is_a_param_of_every_method_and_shows_in_cell_ids():
    s = parse_space(
        {
            "name": "t",
            "studies": [
                {"method": "flexclip", "dataset": "wikipedia", "shots": 5, "params": {"noise.label": [0.0, 0.4]}},
                {"method": "coder", "dataset": "dtd", "shots": 4, "params": {"noise.label": [0.0, 0.4]}},
            ],
        }
    )
    ids = [c.id for c in s.cells()]
    assert "flexclip/wikipedia/simulated/shots=5/seed=0/noise.label=0.4" in ids
    assert "coder/dtd/simulated/shots=4/seed=0/noise.label=0.4" in ids
    with pytest.raises(SpaceError, match=r"studies\[0\].params: noise.text: CODER's classification data has no"):
        parse_space({"name": "t", "studies": [{"method": "coder", "dataset": "dtd", "params": {"noise.text": 0.2}}]})
