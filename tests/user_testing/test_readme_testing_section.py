"""The README's "Testing your DAGs" section, run as a new user runs it.

Its DAG file and test file are copied verbatim out of README.md into a fresh project (outside the
repository, ``HOME`` and ``TMPDIR`` inside it) and run with ``pytest`` and ``pytest -n 2``; every
command of the section is run as typed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess

import requests

from tests.user_testing.readme_project import (
    TESTING_SECTION,
    FreshProject,
    code_blocks,
    named_files,
    readme_section,
    shell_commands,
)

SECTION = readme_section(TESTING_SECTION)
FILES = named_files(SECTION)
COMMANDS = shell_commands(SECTION)
DAG_FILE, TEST_FILE, PYPROJECT = "dags/dss_sales.py", "tests/test_dss_sales.py", "pyproject.toml"
PYTEST_COMMANDS = ["pytest", "pytest -n 2"]
EMULATOR_COMMANDS = [
    "dss-emulator --port 0 --speed 10 --seed demo",
    "python -m dss_provider.emulator --seed demo",
]
OFF_COMMAND = "pytest -p no:dss_emulator"


def test_the_section_shows_what_these_tests_run() -> None:
    # A command or file added to the section must get a test here.
    assert set(FILES) == {DAG_FILE, TEST_FILE, PYPROJECT}
    assert sorted(COMMANDS) == sorted([*PYTEST_COMMANDS, OFF_COMMAND, *EMULATOR_COMMANDS])


def _ours_left(project: FreshProject) -> list[str]:
    """What the plugin left in TMPDIR (pytest's own basetemp, ``pytest-of-<user>``, is pytest's)."""
    return sorted(p.name for p in project.tmp.iterdir() if not p.name.startswith("pytest-of-"))


def _passed(result: subprocess.CompletedProcess[str], count: int) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert re.search(rf"\b{count} passed\b", result.stdout), output[-3000:]


def test_readme_dag_and_test_pass_in_a_fresh_project(fresh_project: FreshProject) -> None:
    fresh_project.write({DAG_FILE: FILES[DAG_FILE], TEST_FILE: FILES[TEST_FILE]})
    for command in PYTEST_COMMANDS:
        _passed(fresh_project.run(command), 2)
        assert not (fresh_project.home / "airflow").exists(), f"{command} wrote to ~/airflow"
        assert _ours_left(fresh_project) == [], f"{command} left files in TMPDIR"


def test_readme_pyproject_dag_folder_from_any_directory_with_a_home_of_your_own(
    fresh_project: FreshProject,
) -> None:
    # The DAGs elsewhere than dags/, named by the README's pyproject.toml; pytest run from another
    # folder; AIRFLOW_HOME set by the project's conftest.py: dss_airflow uses it and adds its bundle.
    conftest = (
        "import os, tempfile\n\nos.environ['AIRFLOW_HOME'] = os.path.join(tempfile.gettempdir(), 'mine')\n"
    )
    fresh_project.write({PYPROJECT: FILES[PYPROJECT], TEST_FILE: FILES[TEST_FILE], "conftest.py": conftest})
    fresh_project.write({"airflow/" + DAG_FILE: FILES[DAG_FILE]})
    command = f"pytest {fresh_project.root / 'tests'} -k succeeds"  # one DAG run is enough here
    _passed(fresh_project.run(command, cwd=fresh_project.home), 1)
    assert (fresh_project.tmp / "mine" / "airflow.db").is_file()
    assert not (fresh_project.home / "airflow").exists()
    assert _ours_left(fresh_project) == ["mine"]


def test_missing_dag_folder_says_what_to_do(fresh_project: FreshProject) -> None:
    fresh_project.write({TEST_FILE: FILES[TEST_FILE]})
    result = fresh_project.run("pytest -x -q")
    assert result.returncode == 1
    assert "dss_airflow: DAG folder" in result.stdout and "dss_airflow_dags" in result.stdout
    assert not (fresh_project.home / "airflow").exists()


def test_refuses_your_own_airflow_home(fresh_project: FreshProject) -> None:
    fresh_project.write({DAG_FILE: FILES[DAG_FILE], TEST_FILE: FILES[TEST_FILE]})
    fresh_project.env["AIRFLOW_HOME"] = str(fresh_project.home / "airflow")
    result = fresh_project.run("pytest -x -q")
    assert result.returncode == 1
    assert f"AIRFLOW_HOME is {fresh_project.home / 'airflow'}, your own Airflow home" in result.stdout
    assert not (fresh_project.home / "airflow").exists()


def test_plugin_switched_off(fresh_project: FreshProject) -> None:
    fresh_project.write({DAG_FILE: FILES[DAG_FILE], TEST_FILE: FILES[TEST_FILE]})
    result = fresh_project.run(OFF_COMMAND)
    assert result.returncode == 1, result.stdout[-3000:]
    assert "fixture 'dss_airflow' not found" in result.stdout
    assert _ours_left(fresh_project) == []


def _ready(proc: subprocess.Popen[str]) -> tuple[str, str]:
    assert proc.stdout is not None
    return proc.stdout.readline(), proc.stdout.readline()


def test_readme_emulator_commands_print_a_connection_to_paste(fresh_project: FreshProject) -> None:
    for command in EMULATOR_COMMANDS:
        proc = fresh_project.popen(command)
        try:
            ready, export = _ready(proc)
            match = re.fullmatch(
                r"DSS emulator ready at (http://127\.0\.0\.1:\d+) \(api key: (\S+)\)\n", ready
            )
            assert match, ready
            assert export.startswith("export AIRFLOW_CONN_DATAIKU_DSS_DEFAULT='"), export
            # Paste the line into a shell: the variable holds the emulator's connection, key included.
            pasted = fresh_project.run(export + 'printf %s "$AIRFLOW_CONN_DATAIKU_DSS_DEFAULT"')
            conn = json.loads(pasted.stdout)
            assert conn == {
                "conn_type": "dataiku_dss",
                "host": match[1],
                "password": match[2],
                "extra": {},
            }
            light = requests.get(
                f"{conn['host']}/public/api/projects/DEMO/scenarios/BUILD_SALES/light",
                auth=(conn["password"], ""),
                timeout=10,
            )
            assert light.status_code == 200 and light.json()["id"] == "BUILD_SALES"
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(15) == 0


def test_given_api_key_stays_out_of_the_export_line(fresh_project: FreshProject) -> None:
    proc = fresh_project.popen("dss-emulator --api-key my-secret-key-42 --seed failing")
    try:
        ready, export = _ready(proc)
        assert "my-secret-key-42" not in ready + export
        conn = json.loads(fresh_project.run(export + 'printf %s "$AIRFLOW_CONN_DATAIKU_DSS_DEFAULT"').stdout)
        assert conn["password"] == "<the key given with --api-key>"
        runs = requests.get(
            f"{conn['host']}/public/api/projects/DEMO/scenarios/", auth=("my-secret-key-42", ""), timeout=10
        )
        assert [s["id"] for s in runs.json()] == ["BUILD_SALES", "QUALITY_CHECKS"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert proc.stderr is not None and "my-secret-key-42" not in proc.stderr.read()


def test_unknown_seed_name_says_where_it_looked(fresh_project: FreshProject) -> None:
    result = fresh_project.run("dss-emulator --seed my_seed.yaml")
    assert result.returncode == 1
    assert "Seed 'my_seed.yaml': no such file" in result.stderr
    assert "demo, failing" in result.stderr


def test_emulator_seed_option_takes_a_bundled_name_or_a_file(fresh_project: FreshProject) -> None:
    fresh_project.write(
        {
            "seeds/one.yaml": "projects: [{key: ONE, scenarios: [{id: SOLO}]}]\n",
            "tests/test_seed.py": (
                "import os\n\n\ndef test_seed(dss_emulator):\n"
                "    assert sorted(dss_emulator.state.catalog.projects) == os.environ['WANT'].split(',')\n"
            ),
        }
    )
    for option, want in (("failing", "DEMO"), ("seeds/one.yaml", "ONE"), ("", "DEMO,OTHER")):
        fresh_project.env["WANT"] = want
        _passed(fresh_project.run(f"pytest -q {'--dss-emulator-seed ' + option if option else ''}"), 1)
    result = fresh_project.run("pytest -q --dss-emulator-seed nothing-here")
    assert result.returncode == 1 and "Seed 'nothing-here': no such file" in result.stdout


def test_readme_python_api_example_runs_as_written(fresh_project: FreshProject) -> None:
    api = SECTION[SECTION.index("### Python API") :]
    example = code_blocks(api, "python")[0]
    assert example.startswith("import os\n")
    fresh_project.write({"emulator_example.py": example})
    done = fresh_project.run("python emulator_example.py", timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_readme_fault_injection_lines_run() -> None:
    from dss_provider.emulator import DSSEmulator

    lines = code_blocks(SECTION[SECTION.index("### Fault injection") :], "python")[0]
    emulator = DSSEmulator()  # the lines use the dss_emulator fixture's emulator: the same class
    exec(compile(lines, "README.md", "exec"), {"dss_emulator": emulator})
    assert [(r.kind, r.route) for r in emulator.faults.rules()] == [
        ("status", "run"),
        ("drop_after", "run"),
        ("latency", "*"),
    ]


def test_readme_seed_format_example_loads() -> None:
    import yaml

    from dss_provider.emulator import DSSEmulator

    seed = yaml.safe_load(code_blocks(SECTION[SECTION.index("### Seed format") :], "yaml")[0])
    emulator = DSSEmulator(seed=seed)
    assert list(emulator.state.catalog.projects) == ["DEMO"]
