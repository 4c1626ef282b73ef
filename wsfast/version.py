"""The version of wsfast, where modules imported before the package's
``__init__`` finishes can read it (as ``websockets.version``): the client's
default ``User-Agent`` is built from it when its module is imported."""

__all__ = ["version"]

#: The one place the version is written: pyproject.toml reads it from here
#: ([tool.setuptools.dynamic]).
version = "0.1.0"
