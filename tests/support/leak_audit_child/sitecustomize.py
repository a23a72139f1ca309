"""Loaded at interpreter start by a child whose PYTHONPATH begins with this directory
(`tests.support.leak_audit.child_audit_env`): records its network use from the first line.

It then runs the ``sitecustomize`` it shadows, if there is one further along the path.
"""

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name: str, path: str) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


_target = os.environ.get("LEAK_AUDIT_FILE")
if _target:
    _audit = _load("_umbra_leak_audit", os.path.join(os.path.dirname(_HERE), "leak_audit.py"))
    _audit.record_to_file(_target)  # type: ignore[attr-defined]

_rest = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
_shadowed = importlib.machinery.PathFinder.find_spec("sitecustomize", _rest)
if _shadowed is not None and _shadowed.origin:
    _load("_shadowed_sitecustomize", _shadowed.origin)
