# The compiled ConnectionCore: the declared contract between the sans-I/O
# Connection and the compiled stream core of the asyncio layer (which cimports
# it and reads these fields as C struct members). Twin: wsfast/_core_py.py,
# whose docstring says who may change each field.

cimport cython

from wsfast._framing_c cimport FrameWriter
from wsfast._reader_c cimport MessageReader


@cython.final
cdef class ConnectionCore:
    cdef public MessageReader reader  # None when frames must not be read
    cdef public FrameWriter writer
    cdef public list events
    cdef public list out
    cdef public object on_control
    cdef public bint control_received
    # Set by wsfast.state only:
    cdef public object state
    cdef public object close_sent
    cdef public object close_rcvd
    cdef public bint sending_fragmented
    cdef public bint compressing
    cdef public bint can_send_data
    cdef public bint can_send_control
    cdef public bint fast_send
    cdef public bint recv_closed
    cdef public object open_registry  # a dict it is in while OPEN, or None

    cdef list feed_buffer(self, const unsigned char *p, Py_ssize_t n)
    cpdef write(self, opcode, data)
    cpdef write_frame(self, opcode, data, bint fin, bint rsv1)
    cpdef list take_out(self)
