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

from typing import TYPE_CHECKING

from dss_provider._lazy import lazy_getattr

if TYPE_CHECKING:
    from dss_provider.emulator.faults import FAULT_KINDS, FaultRule, FaultRuleError, FaultSet
    from dss_provider.emulator.seed import default_seed
    from dss_provider.emulator.server import DSSEmulator

__all__ = ["FAULT_KINDS", "DSSEmulator", "FaultRule", "FaultRuleError", "FaultSet", "default_seed"]

__getattr__ = lazy_getattr(
    globals(),
    {
        "dss_provider.emulator.server": ("DSSEmulator",),
        "dss_provider.emulator.seed": ("default_seed",),
        "dss_provider.emulator.faults": ("FaultRule", "FaultRuleError", "FaultSet", "FAULT_KINDS"),
    },
)
