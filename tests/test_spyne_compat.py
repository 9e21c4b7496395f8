"""spyne 2.14 on Python 3.12 and 3.13 (gateway/services/spyne_compat.py): its vendored six's importer answers the
import system of today, so `import spyne` works; on 3.11 the shim does nothing. The whole suite runs on each Python
in CI (`make test-python PY=3.13`, `make smoke-python PY=3.12`); these tests pin the shim's own behaviour."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types

from gateway.services import spyne_compat


def _fresh_six():
    """spyne's own six module, executed anew under another name (the real one stays untouched)."""
    spec = importlib.util.find_spec("spyne")
    path = next(iter(spec.submodule_search_locations)) + "/util/six.py"
    six_spec = importlib.util.spec_from_file_location("_spyne_six_probe", path)
    six = importlib.util.module_from_spec(six_spec)
    six_spec.loader.exec_module(six)
    return six


def test_the_importer_gains_the_methods_of_todays_import_system():
    six = _fresh_six()
    had = getattr(six._SixMetaPathImporter, "find_spec", None)
    spyne_compat._modernise(six)
    importer = next(i for i in sys.meta_path if isinstance(i, six._SixMetaPathImporter))
    try:
        name = "_spyne_six_probe.moves.urllib.parse"
        spec = importer.find_spec(name)
        assert spec is not None and spec.loader is importer
        module = importer.create_module(spec)
        assert isinstance(module, types.ModuleType) and hasattr(module, "urlencode")
        assert importer.find_spec("json") is None  # not one of six's moved modules: other finders decide
        if had is None:  # 3.11: the shim added find_spec; a second call leaves it as it is
            before = six._SixMetaPathImporter.find_spec
            spyne_compat._modernise(six)
            assert six._SixMetaPathImporter.find_spec is before
    finally:
        sys.meta_path.remove(importer)


def test_spyne_imports_in_a_fresh_interpreter_through_the_gateway():
    code = ("import gateway.services, spyne, spyne.util.six.moves.urllib.parse as p; "
            "from spyne.protocol.soap import Soap11; print(p.urlencode({'a': 1}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "a=1"


def test_install_changes_spyne_only_where_it_must():
    spyne_compat.install()
    spyne_compat.install()  # idempotent
    import spyne.util.six as six

    modern = getattr(six._SixMetaPathImporter, "find_spec", None) is not None
    assert modern == (sys.version_info >= (3, 12))  # 3.11 runs spyne exactly as shipped
