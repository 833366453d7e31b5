"""The ATG answer parser on messy LLM outputs: every shape handled and counted, never a crash."""

import pytest

from flexcoder.textgen import parse_list, parse_ovo


def test_underscore_items_one_per_line_like_the_official_examples():
    p = parse_list("_four-limbed primate\n_long tail\n_large eyes\n")
    assert p.items == ("four-limbed primate", "long tail", "large eyes") and p.status == "ok"


def test_underscore_items_on_one_line_are_split():
    assert parse_list("_Tiger _Lion _Leopard").items == ("Tiger", "Lion", "Leopard")


def test_numbered_list_with_chatter_lines_dropped():
    raw = "Sure! Here are some features:\n1. Soft fur.\n2) Floppy ears\n3. Wet nose\n\nHope this helps"
    assert parse_list(raw).items == ("Soft fur", "Floppy ears", "Wet nose")


def test_bullets_and_markdown_bold():
    raw = "- **Striped coat**\n* pointed ears\n• whiskers\n"
    assert parse_list(raw).items == ("Striped coat", "pointed ears", "whiskers")


def test_json_array_even_inside_prose():
    raw = 'Answer: ["wolf", "fox", "Wolf", "coyote"] done'
    assert parse_list(raw).items == ("wolf", "fox", "coyote")  # case-insensitive de-dup, first seen kept


def test_comma_separated_single_line():
    assert parse_list("Tiger, Lion, Leopard, Garfield Cat").items == ("Tiger", "Lion", "Leopard", "Garfield Cat")


def test_continued_few_shot_pattern_is_cut_at_the_next_question():
    raw = "_red petals\n_green stem\n\nQ: What are useful visual features for a cat?\n_whiskers"
    assert parse_list(raw).items == ("red petals", "green stem")


def test_inner_underscores_are_kept_as_spaces_not_split():
    assert parse_list("_golden_retriever\n_labrador").items == ("golden retriever", "labrador")


def test_duplicates_and_junk_items_removed():
    raw = "_long tail\n_Long tail.\n_ 123 \n_!!!\n_" + " ".join(["word"] * 40)
    p = parse_list(raw)
    assert p.items == ("long tail",)


@pytest.mark.parametrize("raw", ["", "   \n ", None])
def test_empty_answer_is_counted_as_empty(raw):
    assert parse_list(raw).status == "empty" and parse_list(raw).items == ()


@pytest.mark.parametrize("raw", ["!!! ??? ...", "[1, 2, 3]", "{}", "_123\n_456", "\x00\x01"])
def test_garbage_is_a_counted_failure_not_a_crash(raw):
    p = parse_list(raw)
    assert p.status == "garbage" and p.items == ()


def test_cap_keeps_first_items():
    assert parse_list("_a1 x\n_b2 x\n_c3 x", cap=2).items == ("a1 x", "b2 x")


def test_ovo_split_by_class_headers_in_any_order():
    raw = "For cat:\n_pointed ears\nFor dog:\n- floppy ears\n- long snout"
    a, b = parse_ovo(raw, "dog", "cat")
    assert a.items == ("floppy ears", "long snout") and b.items == ("pointed ears",)


def test_ovo_markdown_headers_and_json_object():
    a, b = parse_ovo("**For the river:**\n1. flowing water\n**For the lake:**\n1. still water", "river", "lake")
    assert a.items == ("flowing water",) and b.items == ("still water",)
    a, b = parse_ovo('{"river": ["flowing water"], "lake": ["still water"]}', "river", "lake")
    assert a.items == ("flowing water",) and b.items == ("still water",)


def test_ovo_without_headers_or_empty_is_counted():
    a, b = parse_ovo("just some text", "river", "lake")
    assert a.status == b.status == "garbage"
    a, b = parse_ovo("", "river", "lake")
    assert a.status == b.status == "empty"
