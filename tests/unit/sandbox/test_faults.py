"""The fault schedule as typed on the command line, and the injector that follows it."""

from __future__ import annotations

import pytest

from gpt_trader.errors import UserError
from gpt_trader.sandbox.faults import MAX_GAP, MAX_STALL, Fault, FaultInjector, FaultKind, FaultSchedule


class Target:
    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def inject(self, fault: Fault) -> None:
        self.faults.append(fault)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_documented_form_is_read_with_default_and_given_sizes() -> None:
    schedule = FaultSchedule.parse("disconnect=30, gap=10:5,duplicate=5,stall=20")
    assert schedule.every == {
        FaultKind.DISCONNECT: 30.0,
        FaultKind.GAP: 10.0,
        FaultKind.DUPLICATE: 5.0,
        FaultKind.STALL: 20.0,
    }
    assert schedule.size(FaultKind.GAP) == 5 and schedule.size(FaultKind.STALL) == 6
    assert schedule.describe() == (
        "disconnect every 30 s, gap every 10 s (5 numbers), duplicate every 5 s, stall every 20 s (6 s)"
    )
    assert FaultSchedule.parse(None).every == {} and FaultSchedule.parse("").describe() == "none"


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("drop=5", "unknown fault 'drop'"),
        ("gap", "should be KIND=SECONDS"),
        ("gap=0", "should be KIND=SECONDS"),
        ("stall=10:x", "should be KIND=SECONDS"),
        ("gap=-1", "should be KIND=SECONDS"),
        ("gap=10:2.5", "'gap=10:2.5': a gap skips a whole number of sequence numbers from 1 to 1000, not 2.5"),
        ("gap=10:5000", "from 1 to 1000, not 5000"),
        ("stall=10:1e9", "a stall lasts more than 0 and at most 60 seconds, not 1e"),
        ("disconnect=10:3", "a disconnect takes no size"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_part(text: str, complaint: str) -> None:
    with pytest.raises(UserError, match=complaint):
        FaultSchedule.parse(text)


def test_each_connection_gets_its_faults_counted_from_when_it_connected() -> None:
    clock = Clock()
    injector = FaultInjector(FaultSchedule.parse("gap=10,stall=25:2"), clock=clock)
    early, late = Target(), Target()
    injector.attach(early)
    clock.now = 4
    injector.attach(late)
    for second in range(1, 31):
        clock.now = second
        injector.due()
    assert [(f.kind, f.size) for f in early.faults] == [
        (FaultKind.GAP, 3),
        (FaultKind.GAP, 3),
        (FaultKind.STALL, 2),
        (FaultKind.GAP, 3),
    ]
    assert [f.kind for f in late.faults] == [FaultKind.GAP, FaultKind.GAP, FaultKind.STALL]  # at 14, 24, 29
    assert injector.injected == {"gap": 5, "stall": 2}


def test_a_triggered_fault_hits_every_open_connection_once_and_no_closed_one() -> None:
    injector = FaultInjector()
    first, second, gone = Target(), Target(), Target()
    for target in (first, second, gone):
        injector.attach(target)
    injector.detach(gone)
    assert injector.trigger("duplicate") == 2
    assert injector.trigger(FaultKind.GAP, size=7) == 2
    assert first.faults == second.faults == [Fault(FaultKind.DUPLICATE, 0), Fault(FaultKind.GAP, 7)]
    assert gone.faults == [] and injector.connections == 2


@pytest.mark.parametrize(
    ("kind", "size"),
    [("gap", -5), ("gap", float("nan")), ("gap", 0.5), ("stall", float("inf")), ("stall", 1e9), ("duplicate", 1)],
)
def test_a_fault_of_a_harmful_size_is_refused_before_any_connection_sees_it(kind: str, size: float) -> None:
    injector = FaultInjector()
    target = Target()
    injector.attach(target)
    with pytest.raises(ValueError, match=kind):
        injector.trigger(kind, size)
    assert target.faults == [] and injector.injected == {}


def test_the_largest_sizes_allowed_are_accepted() -> None:
    injector = FaultInjector()
    target = Target()
    injector.attach(target)
    injector.trigger("gap", MAX_GAP)
    injector.trigger("stall", MAX_STALL)
    assert target.faults == [Fault(FaultKind.GAP, MAX_GAP), Fault(FaultKind.STALL, MAX_STALL)]
