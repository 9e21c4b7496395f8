"""spyne 2.14 (the newest release) on Python 3.12 and 3.13, without a fork.

spyne ships its own copy of ``six`` (``spyne/util/six.py``, with helpers the real package lacks). Its
``_SixMetaPathImporter``, which serves ``spyne.util.six.moves.*``, implements only the finder and loader methods that
Python 3.12 no longer calls (``find_module``, ``load_module``), so ``import spyne`` fails with "No module named
'spyne.util.six.moves'". ``install`` runs that one module before spyne does (located with ``find_spec``, which does
not execute spyne) and gives its importer the methods of today's import system (``find_spec``, ``create_module``,
``exec_module``), each delegating to the module's own ``load_module``. On 3.13, spyne also imports ``cgi``, which the
standard library no longer has: the ``legacy-cgi`` package (a dependency on 3.13 only) provides it.

It must run before the first ``import spyne``: ``gateway/services/__init__.py`` calls it, and only ``gateway.services``
imports spyne. On 3.11 it does nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_SIX = "spyne.util.six"


def _modernise(six) -> None:
    cls = six._SixMetaPathImporter
    if getattr(cls, "find_spec", None) is not None:
        return

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.known_modules:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=self.is_package(fullname))

    def create_module(self, spec):
        return self.load_module(spec.name)  # the moved module itself (e.g. collections.abc), as six resolves it

    def exec_module(self, module):
        return None  # load_module has made it

    cls.find_spec, cls.create_module, cls.exec_module = find_spec, create_module, exec_module


def install() -> None:
    """Make ``import spyne`` work on this Python (a no-op before 3.12, and when done already)."""
    if sys.version_info < (3, 12):
        return
    six = sys.modules.get(_SIX)
    if six is None:
        spec = importlib.util.find_spec("spyne")
        if spec is None or not spec.submodule_search_locations:
            return  # spyne is not installed: its own import will say so
        path = Path(next(iter(spec.submodule_search_locations))) / "util" / "six.py"
        six_spec = importlib.util.spec_from_file_location(_SIX, path)
        six = importlib.util.module_from_spec(six_spec)
        sys.modules[_SIX] = six
        try:
            six_spec.loader.exec_module(six)
        except BaseException:
            del sys.modules[_SIX]
            raise
    _modernise(six)
