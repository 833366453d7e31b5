"""Backends: template (embedded knowledge), file (documented JSON), cache (rerun asks nothing), factory, vllm."""

import json
import os

import pytest

from flexcoder.config import ConfigError, build
from flexcoder.textgen import (
    CachedGenerator,
    TextgenConfig,
    TextRequest,
    build_request,
    cache_key,
    create_generator,
    parse_list,
    parse_ovo,
)
from flexcoder.textgen.template import TemplateGenerator


def test_request_checks_kind_and_class_count():
    with pytest.raises(ValueError):
        TextRequest("colour", ("dog",), "p")
    with pytest.raises(ValueError):
        TextRequest("ovo", ("dog",), "p")


def test_prompts_are_one_shot_qa_ending_with_the_primer():
    att = build_request("att", ("golden_retriever",))
    assert "lemur" in att.prompt and att.prompt.endswith("_") and "golden retriever" in att.prompt
    ovo = build_request("ovo", ("river", "lake"))
    assert ovo.prompt.rstrip().endswith("For river:\n_")


def test_template_answers_parse_like_an_llm_and_unknown_class_is_empty():
    gen = create_generator(TextgenConfig())
    att, ana, syno, unknown = gen.generate(
        [
            build_request("att", ("dog",)),
            build_request("ana", ("dog",)),
            build_request("syno", ("dog",)),
            build_request("att", ("zebra-x",)),
        ]
    )
    assert "floppy ears" in parse_list(att).items
    assert "wolf" in parse_list(ana).items and "puppy" in parse_list(syno).items
    assert unknown == "" and parse_list(unknown).status == "empty"


def test_template_names_a_classification_class_s_look_alikes_from_its_own_dataset():
    """Analogous classes for the classification world's classes: the nearest by name (sentence-encoder cosine) among
    the same dataset's classes, most similar first, checked against a by-hand ranking."""

    from flexcoder.data.knowledge import classification_world_entry
    from flexcoder.data.sentence_encoder import encode_sentences

    classes = classification_world_entry("eurosat")["classes"]
    raw = TemplateGenerator().generate([build_request("ana", ("annual crop land",))])[0]
    items = parse_list(raw).items
    emb = encode_sentences(classes)
    sims = {c: float(emb[0] @ e) for c, e in zip(classes[1:], emb[1:])}
    assert list(items) == sorted(sims, key=sims.get, reverse=True)[: len(items)]
    assert len(items) == 5 and "permanent crop land" in items


def test_template_gives_wordnet_synonyms_for_classification_classes():
    gen = TemplateGenerator()
    names = ("great white shark", "airplane", "annual crop land")
    shark, plane, crops = (parse_list(raw).items for raw in gen.generate([build_request("syno", (c,)) for c in names]))
    assert "white shark" in shark and "Carcharodon carcharias" in shark  # ImageNet: its own synset
    assert list(plane) == ["aeroplane", "plane"]  # a Caltech101 class: the synset it heads
    assert crops == ()  # a EuroSAT class WordNet does not have


def test_template_ovo_gives_attributes_not_shared_with_the_other_class():
    know = {
        "a": {"attributes": ["red wings", "long tail feathers"], "synonyms": [], "related": []},
        "b": {"attributes": ["red wings", "short beak"], "synonyms": [], "related": []},
    }
    raw = TemplateGenerator(know).generate([build_request("ovo", ("a", "b"))])[0]
    a, b = parse_ovo(raw, "a", "b")
    assert a.items == ("long tail feathers",) and b.items == ("short beak",)


def test_file_backend_reads_the_documented_format(tmp_path):
    path = tmp_path / "texts.json"
    path.write_text(json.dumps({"att": {"dog": ["floppy ears", "wet nose"]}, "ovo": {"dog": {"cat": ["long snout"]}}}))
    gen = create_generator(TextgenConfig(backend="file", file=str(path)))
    att, syno, ovo = gen.generate(
        [build_request("att", ("dog",)), build_request("syno", ("dog",)), build_request("ovo", ("dog", "cat"))]
    )
    assert parse_list(att).items == ("floppy ears", "wet nose")
    assert parse_list(syno).status == "empty"
    a, b = parse_ovo(ovo, "dog", "cat")
    assert a.items == ("long snout",) and b.items == ()


def test_cache_rerun_makes_no_backend_calls(tmp_path):
    cfg = TextgenConfig(cache_dir=str(tmp_path / "cache"))
    reqs = [build_request(k, ("dog",)) for k in ("att", "ana", "syno")] + [build_request("ovo", ("dog", "cat"))]
    first = create_generator(cfg)
    assert isinstance(first, CachedGenerator)
    out1 = first.generate(reqs)
    assert first.backend_calls == 1 and first.backend_prompts == 4 and first.inner.calls == 1
    second = create_generator(cfg)  # a fresh process-level generator: only the disk is shared
    out2 = second.generate(reqs)
    assert out2 == out1
    assert second.backend_calls == 0 and second.inner.calls == 0 and second.hits == 4
    files = [f for _, _, fs in os.walk(tmp_path / "cache") for f in fs]
    assert len(files) == 4 and not any(f.startswith(".tmp") for f in files)


def test_cache_key_depends_on_backend_model_prompt_and_sampling():
    ident = {"backend": "vllm", "model": "m", "sampling": TextgenConfig().sampling()}
    other = {**ident, "sampling": TextgenConfig(temperature=0.0).sampling()}
    assert cache_key(ident, "p") != cache_key(other, "p") != cache_key(ident, "q")
    assert cache_key(ident, "p") == cache_key(dict(ident), "p")


def test_corrupt_cache_file_is_a_miss(tmp_path):
    gen = create_generator(TextgenConfig(cache_dir=str(tmp_path)))
    req = build_request("att", ("dog",))
    gen.generate([req])
    key = cache_key(gen.identity(), req.prompt)
    (tmp_path / key[:2] / f"{key}.json").write_text("{torn")
    assert "floppy ears" in gen.generate([req])[0] and gen.backend_calls == 2


def test_config_validation_errors_name_the_key():
    with pytest.raises(ConfigError, match="cache_dir"):
        build(TextgenConfig, {"cache_dir": "relative/dir"})
    with pytest.raises(ConfigError, match="model"):
        build(TextgenConfig, {"backend": "vllm"})
    with pytest.raises(ConfigError, match="file"):
        build(TextgenConfig, {"backend": "file"})


def test_vllm_backend_missing_names_the_install_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm -> ImportError, whether installed or not
    with pytest.raises(ImportError, match=r"flexcoder\[llm\]"):
        create_generator(TextgenConfig(backend="vllm", model="/nonexistent"))


def _tiny_llama(path):
    """A random 2-layer Llama in HF format with a WordLevel tokenizer (no downloads)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<unk>", "<s>", "</s>", "_", "Q", "A", ":", "For", "dog", "cat", "fur", "ears", "tail", "photo", "a"]
    vocab = {w: i for i, w in enumerate(words + [f"w{i}" for i in range(256 - len(words))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(path)
    cfg = LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=1,
        eos_token_id=2,
    )
    LlamaForCausalLM(cfg).save_pretrained(path)


@pytest.mark.gpu
def test_vllm_backend_generates_with_a_tiny_random_llama(tmp_path, monkeypatch):
    pytest.importorskip("vllm", reason="vllm not installed (pip install 'flexcoder[llm]')")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("the vllm backend test needs a CUDA GPU")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tmp_path / "tiny-llama"
    _tiny_llama(model)
    cfg = TextgenConfig(
        backend="vllm",
        model=str(model),
        max_tokens=16,
        max_model_len=1024,
        temperature=0.0,
        gpu_memory_utilization=0.3,
        cache_dir=str(tmp_path / "cache"),
        chat=False,  # a random model has no chat template: plain completion prompts, unconstrained
        structured=False,
    )
    gen = create_generator(cfg)
    reqs = [build_request("att", ("dog",)), build_request("ovo", ("dog", "cat"))]
    out = gen.generate(reqs)
    assert len(out) == 2 and out[0].startswith("_") and out[1].startswith("For dog:")
    parse_list(out[0]), parse_ovo(out[1], "dog", "cat")  # random text: must parse or be counted, never crash
    assert gen.backend_calls == 1 and gen.generate(reqs) == out and gen.backend_calls == 1


def test_openai_config_needs_a_model_and_an_environment_variable_name():
    with pytest.raises(ConfigError, match="model"):
        build(TextgenConfig, {"backend": "openai"})
    with pytest.raises(ConfigError, match="api_key_env"):
        build(TextgenConfig, {"backend": "openai", "model": "m", "api_key_env": "sk-abc123"})
    cfg = build(TextgenConfig, {"backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"})
    assert "api_key" not in str(cfg.llm_identity()) and "127.0.0.1" not in str(cfg.llm_identity())


def test_an_unreachable_openai_server_is_named_in_the_error(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    gen = create_generator(TextgenConfig(backend="openai", model="m", base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(RuntimeError, match=r"cannot reach http://127.0.0.1:9/v1/chat/completions"):
        gen.generate([build_request("att", ("dog",))])


def test_a_missing_local_model_folder_fails_before_any_request(tmp_path, monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "vllm", types.ModuleType("vllm"))  # the import succeeds; the engine never starts
    with pytest.raises(FileNotFoundError, match="coder.textgen.model"):
        create_generator(TextgenConfig(backend="vllm", model=str(tmp_path / "missing")))
