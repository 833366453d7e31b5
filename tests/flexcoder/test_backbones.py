"""open_clip backbones through flexcoder.features, with a tiny random-weight CLIP registered in-process, saved as a
weights file and as a local-dir folder; tag resolution checked against an empty Hugging Face cache, offline."""

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from flexcoder.features.backbone import load_backbone
from flexcoder.features.backbone_files import backbone_identity, check_backbone_available
from flexcoder.features.backbone_names import BackboneError, BackboneSpec, parse_backbone
from flexcoder_testing.tiny_clip import (
    TINY_CLIP_EMBED_DIM,
    build_tiny_clip,
    register_tiny_clip,
    save_tiny_checkpoint,
    save_tiny_local_dir,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "text, spec",
    [
        ("ViT-B-32/openai", BackboneSpec("ViT-B-32", tag="openai")),
        ("ViT-B-32//abs/path/ckpt.pt", BackboneSpec("ViT-B-32", checkpoint="/abs/path/ckpt.pt")),
        ("ViT-B-32/./rel.safetensors", BackboneSpec("ViT-B-32", checkpoint="./rel.safetensors")),
        ("ViT-B-32/weights.bin", BackboneSpec("ViT-B-32", checkpoint="weights.bin")),
        ("ViT-L-14/laion2b_s32b_b82k", BackboneSpec("ViT-L-14", tag="laion2b_s32b_b82k")),
        ("hf-hub:timm/ViT-B-16-SigLIP", BackboneSpec("hf-hub:timm/ViT-B-16-SigLIP")),
        ("local-dir:/models/clip", BackboneSpec("local-dir:/models/clip")),
    ],
)
def test_parse_backbone_splits_at_the_first_slash_and_round_trips(text, spec):
    assert parse_backbone(text) == spec
    assert str(spec) == text


@pytest.mark.parametrize(
    "text, message",
    [
        ("ViT-B-32", "expected 'simulated', an open_clip 'MODEL/PRETRAINED' pair"),
        ("ViT-B-32/", "MODEL/PRETRAINED"),
        ("/openai", "MODEL/PRETRAINED"),
        ("hf-hub:openai", "expected 'hf-hub:ORG/REPO'"),
        ("hf-hub:org/repo/extra", "expected 'hf-hub:ORG/REPO'"),
        ("local-dir:", "local-dir:/path/to/folder"),
        (" ViT-B-32/openai", "without surrounding spaces"),
        ("simulated", "not an open_clip model"),
    ],
)
def test_malformed_backbone_strings_are_errors_that_say_the_expected_form(text, message):
    with pytest.raises(BackboneError, match=message.replace("(", r"\(")):
        parse_backbone(text)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny CLIP as a registered name + .pt and .safetensors files, and as a local-dir folder (same weights)."""
    tmp = tmp_path_factory.mktemp("tiny_clip")
    name = register_tiny_clip(tmp / "configs")
    return {
        "pt": f"{name}/{save_tiny_checkpoint(tmp / 'tiny.pt', seed=0)}",
        "safetensors": f"{name}/{save_tiny_checkpoint(tmp / 'tiny.safetensors', seed=0)}",
        "local_dir": save_tiny_local_dir(tmp / "tiny_dir", seed=0),
        "other_weights": f"{name}/{save_tiny_checkpoint(tmp / 'other.pt', seed=1)}",
        "tmp": tmp,
    }


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Five RGB PNGs (one grey, one RGBA) of different sizes, so resize, crop and RGB conversion all run."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i, (w, h) in enumerate([(40, 32), (32, 48), (64, 64), (33, 35), (50, 20)]):
        arr = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        im = Image.fromarray(arr)
        im = im.convert("L") if i == 1 else im.convert("RGBA") if i == 2 else im
        paths.append(str(folder / f"img{i}.png"))
        im.save(paths[-1])
    return paths


def _oracle_image_features(model, preprocess, paths):
    """open_clip directly: the model's own preprocess on PIL RGB images, one batch, normalised."""
    pixels = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in paths])
    with torch.no_grad():
        return torch.nn.functional.normalize(model.encode_image(pixels), dim=-1)


def test_a_checkpoint_file_encodes_images_and_texts_as_open_clip_does(tiny, images):
    import open_clip

    bb = load_backbone(tiny["pt"], device="cpu")
    feats = bb.encode_image_files(images, batch_size=2, num_workers=0)
    assert feats.shape == (5, TINY_CLIP_EMBED_DIM) and feats.dtype == torch.float32 and feats.device.type == "cpu"
    assert torch.allclose(feats.norm(dim=1), torch.ones(5), atol=1e-5)
    oracle = build_tiny_clip(seed=0)
    assert torch.allclose(feats, _oracle_image_features(oracle, bb.preprocess, images), atol=1e-5)
    texts = ["a photo of a cat", "a photo of a dog", "x " * 100]  # the last one is longer than the context (16)
    text_feats = bb.encode_text(texts, batch_size=2)
    tokens = open_clip.get_tokenizer("Tiny-Test")(texts)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(oracle.encode_text(tokens), dim=-1)
    assert text_feats.shape == (3, TINY_CLIP_EMBED_DIM) and torch.allclose(text_feats, expected, atol=1e-5)


def test_safetensors_file_and_local_dir_load_the_same_weights_as_the_pt_file(tiny, images):
    reference = load_backbone(tiny["pt"], device="cpu").encode_image_files(images, num_workers=0)
    for key in ("safetensors", "local_dir"):
        feats = load_backbone(tiny[key], device="cpu").encode_image_files(images, num_workers=0)
        assert torch.allclose(feats, reference, atol=1e-6), key
    other = load_backbone(tiny["other_weights"], device="cpu").encode_image_files(images, num_workers=0)
    assert not torch.allclose(other, reference, atol=1e-3)


def test_a_backbone_is_loaded_once_per_process_per_device_and_precision(tiny):
    assert load_backbone(tiny["pt"], "cpu") is load_backbone(parse_backbone(tiny["pt"]), "cpu", "fp32")
    assert load_backbone(tiny["pt"], "cpu", "bf16") is not load_backbone(tiny["pt"], "cpu", "fp32")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_on_cpu_returns_float32_features_close_to_fp32(tiny, images, precision):
    full = load_backbone(tiny["pt"], "cpu", "fp32")
    low = load_backbone(tiny["pt"], "cpu", precision)
    a, b = full.encode_image_files(images, num_workers=0), low.encode_image_files(images, num_workers=0)
    assert b.dtype == torch.float32 and torch.allclose(b.norm(dim=1), torch.ones(5), atol=1e-5)
    assert (a * b).sum(1).min() > 0.99  # cosine similarity to the fp32 features
    t = low.encode_text(["a photo of a cat"])
    assert t.dtype == torch.float32 and (t * full.encode_text(["a photo of a cat"])).sum() > 0.99


def test_one_decode_worker_gives_the_same_features_as_none(tiny, images):
    bb = load_backbone(tiny["pt"], "cpu")
    assert torch.allclose(
        bb.encode_image_files(images, batch_size=3, num_workers=1),
        bb.encode_image_files(images, batch_size=5, num_workers=0),
        atol=1e-6,
    )


@pytest.mark.parametrize("workers", [0, 1])
def test_an_unreadable_image_is_an_error_naming_the_file(tiny, images, tmp_path, workers):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    bb = load_backbone(tiny["pt"], "cpu")
    with pytest.raises(BackboneError) as err:
        bb.encode_image_files([images[0], str(bad)], num_workers=workers)
    assert str(err.value).startswith(f"cannot read image {bad}: UnidentifiedImageError") and "\n" not in str(err.value)


def test_a_missing_checkpoint_is_an_error_naming_the_file(tiny, tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(BackboneError, match=f"checkpoint file {missing} does not exist"):
        check_backbone_available(f"Tiny-Test/{missing}")
    with pytest.raises(BackboneError, match=str(missing)):
        load_backbone(f"Tiny-Test/{missing}", "cpu")


def test_a_corrupt_or_foreign_checkpoint_is_an_error_naming_the_file(tiny, tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(Path(tiny["pt"].split("/", 1)[1]).read_bytes()[:5000])
    pickled = tmp_path / "pickled.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "epoch": Fraction(1, 3)}, pickled)  # weights_only refuses it
    wrong_arch = tmp_path / "wrong.pt"
    torch.save({"visual.proj": torch.zeros(3, 3)}, wrong_arch)
    for path in (garbage, truncated, pickled, wrong_arch):
        with pytest.raises(BackboneError, match=f"cannot load checkpoint {path} into Tiny-Test"):
            load_backbone(f"Tiny-Test/{path}", "cpu")


def test_a_local_dir_without_config_or_weights_is_an_error_naming_what_is_missing(tmp_path):
    with pytest.raises(BackboneError, match="does not exist"):
        check_backbone_available(f"local-dir:{tmp_path / 'absent'}")
    with pytest.raises(BackboneError, match="open_clip_config.json is missing"):
        check_backbone_available(f"local-dir:{tmp_path}")
    folder = Path(save_tiny_local_dir(tmp_path / "m").split(":", 1)[1])
    (folder / "open_clip_model.safetensors").unlink()
    with pytest.raises(BackboneError, match="no weights file"):
        check_backbone_available(f"local-dir:{folder}")


def test_unknown_model_or_tag_is_an_error_listing_what_exists():
    with pytest.raises(BackboneError, match="unknown open_clip model 'ViT-Q-99'"):
        check_backbone_available("ViT-Q-99/openai")
    with pytest.raises(BackboneError, match="not a pretrained tag of ViT-B-32 .tags: .*openai"):
        check_backbone_available("ViT-B-32/no_such_tag")


@pytest.fixture
def empty_offline_hf_cache(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE=1 with an empty cache: huggingface_hub reads both at import, so patch its constants too."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    return tmp_path / "hf" / "hub"


def test_an_uncached_tag_offline_is_an_error_that_says_how_to_fix_it(empty_offline_hf_cache):
    for call in (lambda: check_backbone_available("ViT-B-32/openai"), lambda: load_backbone("ViT-B-32/openai", "cpu")):
        with pytest.raises(BackboneError) as err:
            call()
        message = str(err.value)
        assert "not in the Hugging Face cache" in message and str(empty_offline_hf_cache) in message
        assert "HF_HUB_OFFLINE=1" in message and "HF_HOME" in message and "MODEL//path/to/weights" in message


def test_a_cached_tag_offline_is_available(empty_offline_hf_cache):
    """A cache laid out as huggingface_hub writes it (refs/main -> snapshot) satisfies the offline check."""
    snapshot = empty_offline_hf_cache / "models--timm--vit_base_patch32_clip_224.openai" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"weights")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("abc123")
    check_backbone_available("ViT-B-32/openai")


def test_identity_of_openai_tag_forces_quick_gelu_and_uses_the_tags_preprocessing():
    ident = backbone_identity("ViT-B-32/openai")
    assert ident["quick_gelu"] is True  # open_clip would only warn and build nn.GELU
    assert ident["weights"] == {"tag": "openai", "source": "timm/vit_base_patch32_clip_224.openai/"}
    assert ident["preprocess"]["size"] == [224, 224] and ident["preprocess"]["interpolation"] == "bicubic"
    assert ident["preprocess"]["mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    assert backbone_identity("ViT-B-32-quickgelu/openai")["quick_gelu"] is False  # already QuickGELU


def test_identity_follows_the_weights_content_not_the_path(tiny, tmp_path):
    src = Path(tiny["pt"].split("/", 1)[1])
    moved = tmp_path / "renamed.pt"
    moved.write_bytes(src.read_bytes())
    assert backbone_identity(f"Tiny-Test/{moved}") == backbone_identity(tiny["pt"])
    assert backbone_identity(tiny["other_weights"]) != backbone_identity(tiny["pt"])
    ident = backbone_identity(tiny["local_dir"])
    assert ident["model"] == "local-dir:" and ident["preprocess"]["size"] == [32, 32]
    loaded = load_backbone(tiny["local_dir"], "cpu").preprocess_config
    assert [loaded["interpolation"], list(loaded["mean"])] == [
        ident["preprocess"]["interpolation"],
        ident["preprocess"]["mean"],
    ]


@pytest.mark.parametrize(
    ("modules", "never"),
    [
        # Loading open_clip, PIL or a runner is left to the first real backbone or image.
        (
            "flexcoder.features.backbone, flexcoder.features.cache, flexcoder.features.dataset_features",
            {"open_clip", "PIL", "ray", "mlflow"},
        ),
        # The grid's driver validates a space's backbones with these; a simulated grid's driver never loads torch.
        ("flexcoder.features.backbone_names, flexcoder.features.backbone_files", {"torch"}),
    ],
)
def test_importing_the_feature_pipeline_leaves_heavy_modules_out(modules, never):
    code = f"import sys, {modules}; sys.exit(1 if {never!r} & set(m.split('.')[0] for m in sys.modules) else 0)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
