"""The version of gradtx, written in one place: the ``version`` of ``pyproject.toml``."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

_UNKNOWN = "0+unknown"


def version_from_pyproject(path: Path) -> str:
    """The ``version`` of the ``[project]`` table of a ``pyproject.toml`` (Python 3.10 has
    no ``tomllib``: the one line is found with a regular expression)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return _UNKNOWN
    table = re.search(r"^\[project\][ \t]*$(.*?)(?=^\[|\Z)", text, flags=re.M | re.S)
    found = table and re.search(r'^version\s*=\s*"([^"]+)"', table.group(1), flags=re.M)
    return found.group(1) if found else _UNKNOWN


def package_version() -> str:
    """The installed distribution's version (its metadata, built from ``pyproject.toml``);
    in a source checkout that is not installed, the ``pyproject.toml`` beside the package."""
    try:
        return importlib.metadata.version("gradtx")
    except importlib.metadata.PackageNotFoundError:
        return version_from_pyproject(Path(__file__).resolve().parent.parent / "pyproject.toml")


__version__ = package_version()
