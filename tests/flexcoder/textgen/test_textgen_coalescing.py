"""Concurrent callers share backend calls: each gets its own answers, in order, and a failure reaches them all."""

import threading
import time

import pytest

from flexcoder.textgen import build_request
from flexcoder.textgen.coalescing import CoalescingGenerator


class SlowEcho:
    """A backend that takes `delay` seconds per call and answers each request with its class name."""

    def __init__(self, delay: float = 0.3, fail: bool = False):
        self.delay, self.fail, self.calls = delay, fail, []

    def identity(self) -> dict:
        return {"backend": "echo"}

    def generate(self, requests):
        self.calls.append(len(requests))
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("engine died")
        return [r.classes[0] for r in requests]


def _callers(gen, names_per_caller):
    results, errors = {}, {}

    def call(i, names):
        try:
            results[i] = gen.generate([build_request("att", (n,)) for n in names])
        except Exception as e:  # noqa: BLE001
            errors[i] = e

    threads = [threading.Thread(target=call, args=(i, n)) for i, n in enumerate(names_per_caller)]
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join()
    return results, errors


def test_concurrent_callers_are_served_in_merged_batches_with_their_own_answers():
    backend = SlowEcho()
    gen = CoalescingGenerator(backend, window_s=0.1)
    asks = [[f"c{i}-{j}" for j in range(i + 1)] for i in range(6)]
    results, errors = _callers(gen, asks)
    assert not errors
    assert results == {i: names for i, names in enumerate(asks)}
    assert sum(backend.calls) == sum(len(a) for a in asks)
    assert len(backend.calls) < len(asks)  # one call per caller would be the unbatched actor
    assert max(callers for callers, _ in gen.batches) >= 2


def test_a_lone_caller_is_one_backend_call():
    backend = SlowEcho(delay=0.0)
    gen = CoalescingGenerator(backend, window_s=0.0)
    assert gen.generate([build_request("att", ("dog",)), build_request("att", ("cat",))]) == ["dog", "cat"]
    assert backend.calls == [2] and gen.batches == [(1, 2)]


def test_a_backend_failure_reaches_every_waiting_caller_and_the_next_call_works():
    backend = SlowEcho(fail=True)
    gen = CoalescingGenerator(backend, window_s=0.1)
    results, errors = _callers(gen, [["a"], ["b"], ["c"]])
    assert not results and len(errors) == 3
    assert all("engine died" in str(e) for e in errors.values())
    backend.fail = False
    assert gen.generate([build_request("att", ("d",))]) == ["d"]


def test_a_short_answer_list_is_an_error_not_a_misrouting():
    class Short(SlowEcho):
        def generate(self, requests):
            return super().generate(requests)[:-1]

    gen = CoalescingGenerator(Short(delay=0.0), window_s=0.0)
    with pytest.raises(RuntimeError, match="returned 1 answers for 2 requests"):
        gen.generate([build_request("att", ("a",)), build_request("att", ("b",))])
