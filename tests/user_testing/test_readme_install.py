"""The README's "Install" commands, as typed, in a fresh virtualenv outside the repository.

The checkout is reached as ``./airflow-provider-dataiku`` (a symlink, as the README names it). So that
the test does not download Airflow, the fresh virtualenv sees this one's packages through a ``.pth``
file; pip then installs only this package (from the checkout, then from the built wheel) into the
fresh virtualenv, and the installed copy is the one Python imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.user_testing.readme_project import FreshProject, code_blocks, readme_section, shell_commands

ROOT = Path(__file__).resolve().parents[2]
SECTION = readme_section("Install")
COMMANDS = shell_commands(SECTION)
CHECKOUT = "pip install ./airflow-provider-dataiku"
WHEEL = "pip wheel --no-deps -w dist ./airflow-provider-dataiku"
FROM_WHEEL = "pip install dist/airflow_provider_dataiku-0.1.0-py3-none-any.whl"


def test_the_install_section_shows_what_this_test_runs() -> None:
    assert len(code_blocks(SECTION, "bash")) == 1
    assert COMMANDS == [CHECKOUT, WHEEL, FROM_WHEEL]


def _venv(project: FreshProject) -> Path:
    venv = project.root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    site = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "our-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    project.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{project.env['PATH']}"
    project.env["VIRTUAL_ENV"] = str(venv)
    project.env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return venv


def _installed_from(venv: Path, project: FreshProject) -> str:
    probe = (
        "import importlib.metadata as md, dss_provider; "
        "d = md.distribution('airflow-provider-dataiku'); "
        "eps = {e.name for e in d.entry_points}; "
        "assert {'dss_emulator', 'dss-emulator', 'provider_info'} <= eps, eps; "
        "assert any(str(f).endswith('LICENSE') for f in d.files), 'no LICENSE'; "
        "print(dss_provider.__file__)"
    )
    done = project.run(f'python -c "{probe}"')
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


def test_install_from_a_checkout_and_from_a_built_wheel(fresh_project: FreshProject) -> None:
    (fresh_project.root / "airflow-provider-dataiku").symlink_to(ROOT, target_is_directory=True)
    venv = _venv(fresh_project)
    site = str(venv / "lib")

    done = fresh_project.run(CHECKOUT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert _installed_from(venv, fresh_project).startswith(site)
    assert fresh_project.run("dss-emulator --help").returncode == 0

    done = fresh_project.run(WHEEL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in (fresh_project.root / "dist").iterdir()) == [FROM_WHEEL.split("/")[-1]]
    assert fresh_project.run("pip uninstall -y airflow-provider-dataiku").returncode == 0
    done = fresh_project.run(FROM_WHEEL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert _installed_from(venv, fresh_project).startswith(site)
    assert not (ROOT / "build").exists()
