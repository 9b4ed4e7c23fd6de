"""A faithful local Dataiku DSS (scenarios API) for tests and demos, in the spirit of moto/LocalStack.

Quick start::

    from dss_provider.emulator import DSSEmulator

    with DSSEmulator(speed=20) as dss:          # built-in demo seed, random free port
        print(dss.url, dss.api_key)
        dss.faults.add(kind="status", route="light", status=503, count=2)

Also: the ``dss-emulator`` command (``python -m dss_provider.emulator``) and the pytest fixtures
``dss_emulator`` / ``dss_emulator_server`` (see :mod:`dss_provider.emulator.pytest_plugin`).
Imports are lazy so that importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dss_provider.emulator.faults import FAULT_KINDS, FaultRule, FaultRuleError, FaultSet
    from dss_provider.emulator.seed import default_seed
    from dss_provider.emulator.server import DSSEmulator

__all__ = ["FAULT_KINDS", "DSSEmulator", "FaultRule", "FaultRuleError", "FaultSet", "default_seed"]

_LAZY = {
    "DSSEmulator": "dss_provider.emulator.server",
    "default_seed": "dss_provider.emulator.seed",
    "FaultRule": "dss_provider.emulator.faults",
    "FaultRuleError": "dss_provider.emulator.faults",
    "FaultSet": "dss_provider.emulator.faults",
    "FAULT_KINDS": "dss_provider.emulator.faults",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dss_provider.emulator' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
