"""The run link: the first import path, kept working (classes serialized with it still load).

Each class now lives in a module named for what it holds; import from there.
"""

from __future__ import annotations

from dss_provider.links.run_link import RUN_URL_XCOM_KEY, DSSScenarioRunLink

__all__ = ["RUN_URL_XCOM_KEY", "DSSScenarioRunLink"]
