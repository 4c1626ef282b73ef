# cython: language_level=3
"""Compiled MessageWaiter; twin of wsfast/_waiter_py.py (read that first:
it states the behaviour and why the waiter exists; this file only makes it
cheap).

On a request/response loop the waiter is created, awaited and resolved once
per message; the Python twin spends about ten Python-level calls on that
(constructor, ``__await__`` generator, ``add_done_callback``, ``set_result``,
``current_task``, ``result`` twice...). Here each is a C call, and ``await``
iterates the waiter itself instead of a generator object.

Invariants:

* Buffers: none; no raw memory access at all.
* GIL: never released (everything here runs on the event loop's thread).
* Shared mutable state: the type's freelist (``@cython.freelist(8)``, one
  per process, used with the GIL held), and module-level references to
  asyncio's Task, CancelledError, InvalidStateError and current_task, set
  once at import.
* No ``boundscheck(False)`` / ``wraparound(False)`` region.
"""

import asyncio

cimport cython
from cpython.contextvars cimport PyContext_Enter, PyContext_Exit
from cpython.ref cimport PyObject

cdef extern from "Python.h":
    bint PyCFunction_Check(object op)
    PyObject *PyCFunction_GET_SELF(object op)
    bint PyMethod_Check(object op)
    PyObject *PyMethod_GET_SELF(object op)

cdef object _Task = asyncio.Task
cdef object _CancelledError = asyncio.CancelledError
cdef object _InvalidStateError = asyncio.InvalidStateError

try:  # CPython 3.12+: the C function
    from _asyncio import current_task as _current_task
except ImportError:  # 3.9-3.11: asyncio's own (a dict lookup in Python)
    _current_task = asyncio.current_task

cdef enum:
    PENDING = 0
    DONE = 1
    CANCELLED = 2


cdef inline bint _wakes_a_task(object fn):
    """Is fn the wake-up that an asyncio.Task registers on what it awaits (a
    method bound to the task: task_wakeup in C, __wakeup in Python)? As the
    twin's getattr(fn, "__self__"), without the lookup for the usual types
    (3.9 and 3.10's C Task registers a wrapper type of its own)."""
    cdef PyObject *owner = NULL
    if PyCFunction_Check(fn):
        owner = PyCFunction_GET_SELF(fn)
    elif PyMethod_Check(fn):
        owner = PyMethod_GET_SELF(fn)
    else:
        return isinstance(getattr(fn, "__self__", None), _Task)
    return owner != NULL and isinstance(<object>owner, _Task)


@cython.final
@cython.freelist(8)
cdef class MessageWaiter:
    """Resolved (with ``None``) when a message arrives or the connection ends.

    Fields: see _waiter_c.pxd; a new waiter's are zero (PENDING, not
    blocking). The compiled StreamCore makes its waiters with new_waiter()
    (_waiter_c.pxd): no call through the type, no argument parsing."""

    _PENDING, _DONE, _CANCELLED = PENDING, DONE, CANCELLED

    def __init__(self, loop, resolved=None):
        self._loop = loop
        self._resolved = resolved

    # -- the Future protocol asyncio.Task relies on ----------------------------

    def get_loop(self):
        return self._loop

    def done(self):
        return self._state != PENDING

    def cancelled(self):
        return self._state == CANCELLED

    def result(self):
        self._check_result()
        return None

    cdef int _check_result(self) except -1:
        if self._state == CANCELLED:
            raise _CancelledError(self._cancel_message)
        if self._state == PENDING:
            raise _InvalidStateError("result is not ready")
        return 0

    def exception(self):
        if self._state == CANCELLED:
            raise _CancelledError(self._cancel_message)
        if self._state == PENDING:
            raise _InvalidStateError("exception is not set")
        return None

    def add_done_callback(self, fn, *, context=None):
        if self._state != PENDING:
            self._loop.call_soon(fn, self, context=context)
        elif self._fn0 is None:
            self._fn0 = fn
            self._ctx0 = context
        elif self._more is None:
            self._more = [(fn, context)]
        else:
            self._more.append((fn, context))

    def remove_done_callback(self, fn):
        cdef list pairs = self._take_callbacks()
        cdef list kept = [(f, c) for f, c in pairs if f != fn]
        if kept:
            self._fn0, self._ctx0 = kept[0]
            self._more = kept[1:] or None
        return len(pairs) - len(kept)

    cdef list _take_callbacks(self):
        """All callbacks as (fn, context) pairs, in order; none are left."""
        cdef list pairs = [] if self._fn0 is None else [(self._fn0, self._ctx0)]
        if self._more is not None:
            pairs.extend(self._more)
        self._fn0 = self._ctx0 = self._more = None
        return pairs

    def cancel(self, msg=None):
        if self._state != PENDING:
            return False
        self._state = CANCELLED
        self._cancel_message = msg
        self._schedule_callbacks()
        return True

    # ``await waiter``: the waiter is its own iterator. Like the twin's
    # generator, it yields itself once while pending, and on the next step
    # returns result() (which raises if it was cancelled or is still pending).

    def __await__(self):
        self._yielded = False
        return self

    def __iter__(self):
        self._yielded = False
        return self

    def __next__(self):
        if self._state == PENDING and not self._yielded:
            self._yielded = True
            self._asyncio_future_blocking = True
            return self
        self._check_result()
        raise StopIteration

    def send(self, value):
        return self.__next__()

    # -- resolving ---------------------------------------------------------------

    cpdef set_result(self, result=None):
        """Resolve; resume the waiting task now if no other task is running."""
        if self._state != PENDING:
            return
        self._state = DONE
        if _current_task(self._loop) is not None:
            self._schedule_callbacks()
            return
        fn, context, more = self._fn0, self._ctx0, self._more
        self._fn0 = self._ctx0 = self._more = None
        if fn is not None:
            self._call(fn, context)
        if more is not None:
            for fn, context in more:
                self._call(fn, context)

    cdef _call(self, fn, context):
        try:
            if context is None:
                fn(self._argument_for(fn))
            else:  # context.run(fn, ...) without the method call
                PyContext_Enter(context)
                try:
                    fn(self._argument_for(fn))
                finally:
                    PyContext_Exit(context)
        except BaseException as exc:  # as the loop treats callbacks
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self._loop.call_exception_handler({
                "message": "exception in a MessageWaiter callback",
                "exception": exc,
                "future": self,
            })

    cdef _schedule_callbacks(self):
        for fn, context in self._take_callbacks():
            self._loop.call_soon(fn, self._argument_for(fn), context=context)

    cdef object _argument_for(self, fn):
        """What a done-callback is called with (see the twin)."""
        if self._resolved is not None and self._state == DONE and _wakes_a_task(fn):
            return self._resolved
        return self
