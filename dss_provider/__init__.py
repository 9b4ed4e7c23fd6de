"""Apache Airflow provider for Dataiku DSS scenarios."""

from __future__ import annotations

import re
import sys

__version__ = "0.1.0"

#: The oldest Apache Airflow this provider runs on.
MIN_AIRFLOW_VERSION = "3.0.0"

__all__ = ["MIN_AIRFLOW_VERSION", "__version__", "check_airflow_version"]


def check_airflow_version(version: str) -> None:
    """Raise one clear error when ``version`` (an Airflow version string) is below the floor."""
    match = re.match(r"(\d+)(?:\.(\d+))?", version)
    if match and (int(match[1]), int(match[2] or 0)) < (3, 0):
        raise RuntimeError(
            f"airflow-provider-dataiku {__version__} needs Apache Airflow {MIN_AIRFLOW_VERSION} or later; "
            f"this environment has Apache Airflow {version}. Upgrade Airflow (pip install "
            f"'apache-airflow>=3.0'), or use a provider release made for Airflow 2."
        )


# Checked here when Airflow is already loaded (every Airflow process, which loads providers after
# itself); otherwise dss_provider.compat checks when it first imports Airflow. Importing Airflow or
# reading package metadata here would cost every pytest session (the emulator's pytest plugin
# imports this package) tens of milliseconds.
if "airflow" in sys.modules:
    check_airflow_version(str(getattr(sys.modules["airflow"], "__version__", "")))
