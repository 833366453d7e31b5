"""The `openai` backend against a real OpenAI-compatible server: vLLM's, serving SmolLM2-135M-Instruct on loopback
(started and stopped here, in the LLM environment `infra/llm/prepare_cpu.sh` makes). The API key comes from the
environment and is found nowhere the run writes."""

import json
import os

import pytest

from flexcoder.textgen import TextgenConfig, build_request, cache_key, create_generator, parse_list, parse_ovo
from flexcoder_testing.llm import VllmServer

pytestmark = pytest.mark.integration
KEY = "sk-flexcoder-test-9f3a"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = VllmServer(tmp_path_factory.mktemp("vllm-server") / "server.log", api_key=KEY)
    yield srv
    srv.stop()


def _cfg(server, tmp_path, **kw):
    return TextgenConfig(
        backend="openai",
        model=server.model,
        base_url=server.url,
        api_key_env="FLEXCODER_TEST_KEY",
        cache_dir=str(tmp_path / "cache"),
        max_tokens=96,
        temperature=0.0,
        **kw,
    )


def test_real_server_answers_parse_and_the_key_stays_out_of_everything_written(server, tmp_path, monkeypatch):
    monkeypatch.setenv("FLEXCODER_TEST_KEY", KEY)
    cfg = _cfg(server, tmp_path)
    gen = create_generator(cfg)
    reqs = [build_request("att", ("zebra",)), build_request("syno", ("forest",)), build_request("ovo", ("cat", "dog"))]
    answers = gen.generate(reqs)
    assert gen.backend_prompts == 3 and gen.inner.counts.generated_tokens > 0
    assert parse_list(answers[0]).status == "ok" and parse_list(answers[1]).status == "ok"
    cat, dog = parse_ovo(answers[2], "cat", "dog")
    assert cat.status == "ok" and dog.status == "ok"  # structured output: the schema's two keys, always
    written = [p.read_text() for p in (tmp_path / "cache").rglob("*.json")]
    assert len(written) == 3 and not any(KEY in text for text in written)
    assert KEY not in json.dumps(gen.identity()) and KEY not in repr(cfg)
    assert cache_key(gen.identity(), reqs[0].prompt) in {p.stem for p in (tmp_path / "cache").rglob("*.json")}
    again = create_generator(cfg)  # a rerun asks the server nothing
    assert again.generate(reqs) == answers and again.backend_prompts == 0


def test_a_wrong_key_fails_with_the_server_and_status_but_not_the_key(server, tmp_path, monkeypatch):
    monkeypatch.setenv("FLEXCODER_TEST_KEY", "sk-wrong-key-1234")
    gen = create_generator(_cfg(server, tmp_path))
    with pytest.raises(RuntimeError, match="401") as info:
        gen.generate([build_request("att", ("zebra",))])
    assert server.url in str(info.value) and "sk-wrong-key-1234" not in str(info.value)
    assert not list((tmp_path / "cache").rglob("*.json"))  # nothing cached from a failed batch


def test_without_structured_output_the_answer_is_free_text(server, tmp_path, monkeypatch):
    monkeypatch.setenv("FLEXCODER_TEST_KEY", KEY)
    gen = create_generator(_cfg(server, tmp_path, structured=False))
    (answer,) = gen.generate([build_request("ana", ("zebra",))])
    assert answer.strip() and not answer.lstrip().startswith('{"items"')
    parse_list(answer)  # free text: parsed or counted as garbage, never a crash
    assert os.environ["FLEXCODER_TEST_KEY"] == KEY
