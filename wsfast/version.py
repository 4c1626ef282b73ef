"""The version of wsfast, where modules imported before the package's
``__init__`` finishes can read it (as ``websockets.version``): the client's
default ``User-Agent`` is built from it when its module is imported."""

__all__ = ["version"]

#: Keep equal to ``[project] version`` in pyproject.toml.
version = "0.1.0"
