"""The fault schedule as typed on the command line, and the injector that follows it."""

from __future__ import annotations

import pytest

from gpt_trader.errors import UserError
from gpt_trader.sandbox.faults import Fault, FaultInjector, FaultKind, FaultSchedule


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
