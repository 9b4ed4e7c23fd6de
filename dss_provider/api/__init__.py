"""The wire protocol's first import path, kept: ``dss_provider.api.X`` is :mod:`dss_provider.protocol` ``.X``.

The package is now :mod:`dss_provider.protocol` (it is the DSS wire protocol, not a public API). Each
old submodule path is the very same module object, so imports and patches through it keep working.
"""

from __future__ import annotations

import importlib
import sys

_MODULES = ("endpoints", "errors", "models", "polling", "procedures", "retry", "run_ref", "verdict")

for _name in _MODULES:
    sys.modules[f"{__name__}.{_name}"] = importlib.import_module(f"dss_provider.protocol.{_name}")
    globals()[_name] = sys.modules[f"{__name__}.{_name}"]
