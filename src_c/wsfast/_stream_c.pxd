# The compiled StreamCore: the per-message path of the asyncio WebSocket.
# Twin of wsfast/_stream_py.py, whose __slots__ list (with a comment each) is
# this declaration's: the WebSocket that owns a stream core reads and sets
# these fields, and calls the methods its docstring names.

from wsfast._core_c cimport ConnectionCore


cdef class StreamCore:
    cdef public object owner
    cdef public object connection
    cdef public bint client_side
    cdef public ConnectionCore core
    cdef public object loop
    cdef public memoryview view
    cdef public object on_message
    cdef public object max_queue
    cdef public Py_ssize_t queue_low
    cdef object _messages
    cdef object _enqueue  # _messages.extend and .popleft, bound once
    cdef object _dequeue
    cdef public object recv_waiter
    cdef public object resolved
    cdef public object transport
    cdef public object writelines
    cdef public bint writable
    cdef public bint reading_paused
    cdef public bint input_held
    cdef public bint input_scheduled
    cdef public bint writing_paused
    cdef public bint wrote
    cdef public Py_ssize_t pending_bytes
    cdef public object flush_handle
    cdef public object send_lock
    cdef public object lost
    cdef public object closed_exc
    cdef public object deferred_failure
    cdef public object drain_waiters

    cpdef wake_receiver(self)
    cpdef limit_queue(self)
    cpdef resume_reading(self)
    cpdef hold_input(self)
    cpdef schedule_input(self)
    cpdef deliver(self, list events, on_message)
    cdef object message_waiter(self)
    cdef send_message(self, message)
    cpdef drain_waiter(self)
    cpdef write_soon(self)
    cpdef write_now(self)
    cpdef write_frame_now(self, bytes frame)
