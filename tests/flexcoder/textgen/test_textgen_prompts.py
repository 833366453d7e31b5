"""ATG prompts: the completion prompt, the chat turns and the answer schema come from the same worked examples."""

import json

import pytest

from flexcoder.textgen import KINDS, build_request, parse_list, parse_ovo
from flexcoder.textgen.prompts import SCHEMA_MAX_ITEMS, answer_schema, chat_messages, primer


def _request(kind):
    return build_request(kind, ("golden_retriever", "zebra") if kind == "ovo" else ("golden_retriever",))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("structured", [False, True])
def test_chat_turns_are_the_worked_example_then_the_question(kind, structured):
    req = _request(kind)
    turns = chat_messages(req, structured)
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert "golden retriever" in turns[2]["content"] and "golden" not in turns[0]["content"]
    assert turns[0]["content"] in req.prompt  # the same worked question as the completion prompt
    worked = turns[1]["content"]
    if structured:
        assert isinstance(json.loads(worked), dict)  # the worked answer has the schema's shape
    else:
        assert worked.lstrip().startswith(("_", "For "))


@pytest.mark.parametrize("kind", KINDS)
def test_the_worked_answer_parses_like_an_answer_would(kind):
    """What the model is shown as an answer is what the parser reads from one, in both formats."""
    for structured in (False, True):
        worked = chat_messages(_request(kind), structured)[1]["content"]
        if kind == "ovo":
            a, b = parse_ovo(worked, "river", "lake")
            assert a.items == ("Flowing water", "Narrow and elongated body of water") and b.status == "ok"
        else:
            assert parse_list(worked).status == "ok" and len(parse_list(worked).items) >= 6


def test_the_schema_names_the_two_classes_of_a_pairwise_question_and_caps_the_lists():
    schema = answer_schema(_request("ovo"))
    assert schema["required"] == ["golden retriever", "zebra"] and schema["additionalProperties"] is False
    assert schema["properties"]["zebra"]["maxItems"] == SCHEMA_MAX_ITEMS
    assert answer_schema(_request("att"))["required"] == ["items"]


def test_a_schema_shaped_answer_parses():
    answer = json.dumps({"golden retriever": ["golden coat", "feathered tail"], "zebra": ["black and white stripes"]})
    a, b = parse_ovo(answer, "golden_retriever", "zebra")
    assert a.items == ("golden coat", "feathered tail") and b.items == ("black and white stripes",)
    assert parse_list(json.dumps({"items": ["long tail", "Long tail", "large eyes"]})).items == (
        "long tail",
        "large eyes",
    )


def test_the_completion_prompt_ends_with_its_primer():
    for kind in KINDS:
        req = _request(kind)
        assert req.prompt.endswith(primer(req))
    assert build_request("ovo", ("a_b", "c")).prompt.endswith("A: For a b:\n_")
