# The compiled MessageWaiter, declared for the compiled StreamCore (which
# resolves it with a C call). See _waiter_c.pyx.

cdef class MessageWaiter:
    cdef object _loop
    cdef object _resolved  # an asyncio.Future resolved with None, or None
    # Done-callbacks in order: the first in two slots (normally the only one,
    # the task's wake-up: no list per wait), the others as (fn, context) pairs.
    cdef object _fn0
    cdef object _ctx0
    cdef list _more
    cdef int _state
    cdef object _cancel_message
    cdef bint _yielded  # this await has yielded once (see __next__)
    cdef public bint _asyncio_future_blocking

    cpdef set_result(self, result=*)
    cdef int _check_result(self) except -1
    cdef list _take_callbacks(self)
    cdef _call(self, fn, context)
    cdef _schedule_callbacks(self)
    cdef object _argument_for(self, fn)


cdef inline MessageWaiter new_waiter(loop, resolved):
    """MessageWaiter(loop, resolved), as C calls (from the type's freelist)."""
    cdef MessageWaiter waiter = MessageWaiter.__new__(MessageWaiter)
    waiter._loop = loop
    waiter._resolved = resolved
    return waiter
