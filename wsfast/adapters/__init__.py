"""Drop-in entry points that let other servers and libraries run on wsfast.

Each adapter is its own module and imports its host only when imported, so
``import wsfast`` never needs uvicorn, wsproto or wsaccel:

* :mod:`wsfast.adapters.uvicorn` -- ``WSFastProtocol``, a WebSocket protocol
  class for uvicorn (``uvicorn.run(app, ws=WSFastProtocol)`` or ``--ws
  wsfast.adapters.uvicorn:WSFastProtocol``);
* :mod:`wsfast.adapters.wsproto` -- a connection with wsproto's events and
  methods, for servers written against wsproto (hypercorn, HTTP/2 servers);
* :mod:`wsfast.adapters.wsaccel` -- ``XorMaskerSimple`` and ``Utf8Validator``
  with wsaccel's signatures and results.

Adapters check the version of their host and the attributes they rely on at
import, and fail with :class:`ImportError` naming what is missing; they plug
in through the host's public extension points and patch nothing.
"""
