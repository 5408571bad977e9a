from __future__ import annotations

import asyncio

import pytest

from jiraclient.budget import PER_ISSUE_REASON, SiteBudget


class FakeTime:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def make_budget(fake: FakeTime, *, rate: float = 1.0, burst: int = 1) -> SiteBudget:
    return SiteBudget("cloud-1", rate_per_s=rate, burst=burst, clock=fake.clock, sleep=fake.sleep)


async def test_budget_burst_is_immediate() -> None:
    fake = FakeTime()
    budget = make_budget(fake, burst=3)
    for _ in range(3):
        await budget.acquire("import")
    assert fake.sleeps == []


async def test_budget_waits_for_refill() -> None:
    fake = FakeTime()
    budget = make_budget(fake, rate=2.0, burst=1)
    await budget.acquire("import")
    await budget.acquire("import")
    assert fake.now == pytest.approx(0.5)


async def test_budget_serves_writeback_first() -> None:
    fake = FakeTime()
    budget = make_budget(fake)
    await budget.acquire("import")
    order: list[str] = []

    async def take(priority: str) -> None:
        await budget.acquire(priority)
        order.append(priority)

    tasks = [asyncio.create_task(take(p)) for p in ("reconcile", "import", "refetch", "writeback")]
    await asyncio.gather(*tasks)
    assert order == ["writeback", "refetch", "import", "reconcile"]


async def test_budget_site_pause_holds_all() -> None:
    fake = FakeTime()
    budget = make_budget(fake, rate=100.0, burst=10)
    budget.pause(30.0, reason="jira-burst-based")
    await budget.acquire("writeback")
    assert fake.now >= 30.0


async def test_budget_issue_pause_holds_that_issue() -> None:
    fake = FakeTime()
    budget = make_budget(fake, rate=100.0, burst=10)
    budget.pause(20.0, reason=PER_ISSUE_REASON, issue_id="10001")
    await budget.acquire("writeback", issue_id="10001")
    assert fake.now >= 20.0


async def test_budget_issue_pause_spares_others() -> None:
    fake = FakeTime()
    budget = make_budget(fake, rate=100.0, burst=10)
    budget.pause(20.0, reason=PER_ISSUE_REASON, issue_id="10001")
    await budget.acquire("writeback", issue_id="10002")
    await budget.acquire("import")
    assert fake.now == 0.0


async def test_budget_pause_never_shortens() -> None:
    fake = FakeTime()
    budget = make_budget(fake)
    budget.pause(30.0)
    budget.pause(5.0)
    assert budget.paused_for() == 30.0


async def test_budget_cancelled_waiter_is_skipped() -> None:
    fake = FakeTime()
    budget = make_budget(fake)
    await budget.acquire("import")
    cancelled = asyncio.create_task(budget.acquire("writeback"))
    await asyncio.sleep(0)
    cancelled.cancel()
    await budget.acquire("reconcile")
    assert budget.waiting == 0


async def test_budget_rejects_unknown_priority() -> None:
    budget = make_budget(FakeTime())
    with pytest.raises(ValueError, match="unknown priority 'urgent'"):
        await budget.acquire("urgent")
