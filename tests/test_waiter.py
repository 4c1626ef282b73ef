"""MessageWaiter, both twins: the Future protocol asyncio.Task relies on, and
the one difference from asyncio.Future (a resolve from outside any task
resumes the waiting task at once, not one loop iteration later)."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from helpers import run


@pytest.fixture
def Waiter(backend):
    return backend.MessageWaiter


def test_starts_pending_and_refuses_result(Waiter):
    async def main():
        waiter = Waiter(asyncio.get_running_loop())
        assert not waiter.done() and not waiter.cancelled()
        assert waiter.get_loop() is asyncio.get_running_loop()
        with pytest.raises(asyncio.InvalidStateError):
            waiter.result()
        with pytest.raises(asyncio.InvalidStateError):
            waiter.exception()
        assert asyncio.isfuture(waiter)
    run(main())


def test_set_result_once(Waiter):
    async def main():
        waiter = Waiter(asyncio.get_running_loop())
        waiter.set_result(None)
        waiter.set_result(None)  # ignored, not an error
        assert waiter.done() and not waiter.cancelled()
        assert waiter.result() is None and waiter.exception() is None
        assert not waiter.cancel()
    run(main())


def test_cancel_carries_the_message(Waiter):
    async def main():
        waiter = Waiter(asyncio.get_running_loop())
        assert waiter.cancel("why")
        assert waiter.cancelled() and waiter.done()
        with pytest.raises(asyncio.CancelledError, match="why"):
            waiter.result()
        with pytest.raises(asyncio.CancelledError):
            waiter.exception()
        waiter.set_result(None)  # too late: stays cancelled
        assert waiter.cancelled()
    run(main())


def test_resolved_from_a_callback_resumes_the_task_at_once(Waiter):
    """The read callback runs outside any task: the task resumes inside
    set_result (asyncio.Future would need another loop iteration)."""
    async def main():
        loop = asyncio.get_running_loop()
        waiter = Waiter(loop)
        log = []

        async def wait():
            await waiter
            log.append("resumed")

        task = asyncio.ensure_future(wait())
        await asyncio.sleep(0)  # the task now waits

        def callback():
            waiter.set_result(None)
            log.append("after set_result")

        loop.call_soon(callback)
        await task
        assert log == ["resumed", "after set_result"]
    run(main())


def test_resolved_from_a_task_resumes_through_the_loop(Waiter):
    async def main():
        waiter = Waiter(asyncio.get_running_loop())
        log = []

        async def wait():
            await waiter
            log.append("resumed")

        task = asyncio.ensure_future(wait())
        await asyncio.sleep(0)
        waiter.set_result(None)  # from this task: scheduled, not run inline
        log.append("after set_result")
        await task
        assert log == ["after set_result", "resumed"]
    run(main())


def test_cancelling_the_task_cancels_the_wait(Waiter):
    async def main():
        waiter = Waiter(asyncio.get_running_loop())
        task = asyncio.ensure_future(waiter_wait(waiter))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert waiter.cancelled()
    run(main())


async def waiter_wait(waiter):
    await waiter


def test_awaiting_a_done_waiter_does_not_suspend(Waiter):
    async def main():
        waiter = Waiter(asyncio.get_running_loop())
        waiter.set_result(None)
        assert await waiter is None
        assert await waiter is None  # again
    run(main())


def test_callbacks_run_in_their_context_and_errors_go_to_the_loop(Waiter):
    async def main():
        loop = asyncio.get_running_loop()
        var = contextvars.ContextVar("var", default="outer")
        context = contextvars.copy_context()
        context.run(var.set, "inner")
        seen, reported = [], []
        loop.set_exception_handler(lambda loop, ctx: reported.append(ctx["exception"]))
        waiter = Waiter(loop)

        def boom(w):
            raise ValueError("boom")

        waiter.add_done_callback(lambda w: seen.append(var.get()), context=context)
        waiter.add_done_callback(boom)
        waiter.add_done_callback(lambda w: seen.append(w is waiter))
        loop.call_soon(waiter.set_result, None)
        await asyncio.sleep(0.01)
        assert seen == ["inner", True]
        assert [type(e) for e in reported] == [ValueError]
    run(main())


def test_remove_done_callback(Waiter):
    async def main():
        waiter = Waiter(asyncio.get_running_loop())
        seen = []
        waiter.add_done_callback(seen.append)
        waiter.add_done_callback(seen.append)
        assert waiter.remove_done_callback(seen.append) == 2
        assert waiter.remove_done_callback(seen.append) == 0
        waiter.set_result(None)
        await asyncio.sleep(0)
        assert seen == []
    run(main())


@pytest.mark.parametrize("how", ["set_result", "cancel"])
def test_callbacks_run_in_order_after_removals(Waiter, how):
    """The first callback is kept apart from the others: removing it, or one
    after it, keeps the order of the rest, run at once or scheduled."""
    async def main():
        loop = asyncio.get_running_loop()
        waiter = Waiter(loop)
        seen = []
        a, b, c, d, e = [lambda w, name=name: seen.append((name, w is waiter))
                         for name in "abcde"]
        for fn in (a, b, c):
            waiter.add_done_callback(fn)
        assert waiter.remove_done_callback(a) == 1  # the first one
        waiter.add_done_callback(d)
        assert waiter.remove_done_callback(c) == 1  # one after it
        waiter.add_done_callback(e)
        loop.call_soon(getattr(waiter, how))
        for _ in range(3):
            await asyncio.sleep(0)
        assert seen == [("b", True), ("d", True), ("e", True)]
    run(main())


def test_callback_added_after_resolution_is_scheduled(Waiter):
    async def main():
        waiter = Waiter(asyncio.get_running_loop())
        waiter.set_result(None)
        seen = []
        waiter.add_done_callback(seen.append)
        assert seen == []
        await asyncio.sleep(0)
        assert seen == [waiter]
    run(main())


def test_stepping_a_pending_waiter_past_its_yield_is_an_error(Waiter):
    """What a generator-based await does: yield once, then return result()."""
    async def main():
        waiter = Waiter(asyncio.get_running_loop())
        iterator = waiter.__await__()
        assert next(iterator) is waiter
        assert waiter._asyncio_future_blocking
        with pytest.raises(asyncio.InvalidStateError):
            next(iterator)
    run(main())


@pytest.mark.parametrize("how", ["set_result-from-a-callback", "set_result-from-a-task",
                                 "cancel"])
def test_a_task_wakeup_gets_the_resolved_future(Waiter, how):
    """Given a resolved asyncio.Future, a done waiter hands it to a Task's
    wake-up (CPython's Task reads an exact Future in C, but calls result() by
    name on anything else), whether the callbacks run at once or are
    scheduled; other callbacks get the waiter itself. A cancelled waiter hands
    itself to everybody: its result() raises CancelledError, which must reach
    the task."""
    got = []

    class RecordingTask(asyncio.Task):
        def record(self, future):
            got.append(("task", future))

    async def idle():
        pass

    async def main():
        loop = asyncio.get_running_loop()
        resolved = loop.create_future()
        resolved.set_result(None)
        task = RecordingTask(idle())
        waiter = Waiter(loop, resolved)
        waiter.add_done_callback(task.record)
        waiter.add_done_callback(lambda future: got.append(("plain", future)))
        if how == "set_result-from-a-task":
            waiter.set_result(None)  # inside this task: the callbacks are scheduled
        elif how == "set_result-from-a-callback":
            loop.call_soon(waiter.set_result, None)
        else:
            assert waiter.cancel()
        for _ in range(3):
            await asyncio.sleep(0)
        wakeup_gets = waiter if how == "cancel" else resolved
        assert got == [("task", wakeup_gets), ("plain", waiter)]
        await task
    run(main())


def test_a_task_in_recv_resumes_through_the_resolved_future(Waiter):
    """End to end: a task awaiting the waiter resumes when it is resolved from
    a loop callback, and is cancelled when it is cancelled."""
    async def main():
        loop = asyncio.get_running_loop()
        resolved = loop.create_future()
        resolved.set_result(None)
        waiter = Waiter(loop, resolved)
        task = asyncio.ensure_future(_await(waiter))
        await asyncio.sleep(0)
        loop.call_soon(waiter.set_result, None)
        assert await task == "resumed"
        waiter = Waiter(loop, resolved)
        task = asyncio.ensure_future(_await(waiter))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    run(main())


async def _await(waiter):
    await waiter
    return "resumed"
