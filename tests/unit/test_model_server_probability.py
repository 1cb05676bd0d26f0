"""The offline model's probabilistic faults: `"probability": p` on any fault (a soak's random
share of failing calls), read strictly and drawn from a seeded generator."""

from __future__ import annotations

import pytest

from dev.model_server.fault_parsing import FaultSpecError, parse_fault, parse_faults
from dev.model_server.settings import Settings
from dev.model_server.state import State


def _state(seed: int = 7) -> State:
    return State(Settings(seed=seed))


def test_probability_is_read_and_absent_means_always() -> None:
    assert parse_fault({"kind": "truncate"}).probability is None
    assert parse_fault({"kind": "truncate", "probability": 0.25}).probability == 0.25
    assert parse_fault({"kind": "ok", "probability": 1}).probability == 1.0


@pytest.mark.parametrize("value", [0, -0.1, 1.5, "0.5", True])
def test_a_probability_outside_0_1_is_rejected(value: object) -> None:
    with pytest.raises(FaultSpecError, match="probability must be"):
        parse_faults([{"kind": "drop", "probability": value}])


def test_a_fault_applies_to_about_its_share_of_matching_requests() -> None:
    state = _state()
    state.add_faults(parse_faults([{"kind": "truncate", "probability": 0.1, "times": 10_000}]))
    applied = sum(state.begin("stream")[1] is not None for _ in range(2000))
    assert 150 <= applied <= 250
    assert state.stats()["faultsApplied"] == applied
    assert state.pending_faults()[0]["times"] == 10_000 - applied


def test_a_request_a_fault_passes_over_goes_on_to_the_next_fault() -> None:
    state = _state()
    rare = {"kind": "http_error", "code": 503, "probability": 0.5, "times": 1000}
    state.add_faults(parse_faults([rare, {"kind": "drop", "times": 1000}]))
    kinds = [fault.kind for _, fault, _ in (state.begin("stream") for _ in range(200)) if fault]
    assert len(kinds) == 200
    assert 60 <= kinds.count("http_error") <= 140
    assert kinds.count("drop") == 200 - kinds.count("http_error")


def test_draws_are_seeded_and_restart_on_reset() -> None:
    def draws(state: State) -> list[bool]:
        state.add_faults(parse_faults([{"kind": "ok", "probability": 0.3, "times": 1000}]))
        return [state.begin("clarify")[1] is not None for _ in range(100)]

    state = _state(seed=3)
    first = draws(state)
    state.reset()
    assert draws(state) == first == draws(_state(seed=3))
