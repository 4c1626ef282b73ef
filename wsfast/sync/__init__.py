"""The threading API: websockets' ``websockets.sync`` API, module for module.

``wsfast.sync.client.connect`` and ``wsfast.sync.server.serve`` for code that
never touches asyncio (scripts, test suites, WSGI workers, notebooks); built
on the same sans-I/O connection and compiled kernels as the asyncio layer.
See :mod:`wsfast.sync.connection` for the threading model and its rules.
"""
