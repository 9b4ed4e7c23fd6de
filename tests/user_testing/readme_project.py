"""What a new user does with the README alone: its snippets and commands, in a fresh project.

The fresh project lives outside the repository (so that neither the repository's ``pyproject.toml``
nor its ``conftest.py`` apply), with ``HOME`` and ``TMPDIR`` pointed into it, no ``AIRFLOW_*``
variable, and this virtualenv's ``bin/`` first on ``PATH``: ``pytest`` and ``dss-emulator`` there
are the installed package's, exactly as a user who installed it gets them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
TESTING_SECTION = "Testing your DAGs with the DSS emulator"
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_section(title: str) -> str:
    """The text of the README's ``## title`` section (up to the next ``## `` heading)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def code_blocks(section: str, lang: str) -> list[str]:
    """The fenced code blocks of ``lang`` in ``section``, verbatim."""
    return [m["body"] for m in FENCE.finditer(section) if m["lang"] == lang]


def named_files(section: str) -> dict[str, str]:
    """The blocks whose first line is ``# <relative path>``: path -> the block, verbatim."""
    files = {}
    for lang in ("python", "toml"):
        for body in code_blocks(section, lang):
            first = body.splitlines()[0]
            match = re.fullmatch(r"# ([\w./-]+\.(?:py|toml))", first)
            if match:
                files[match[1]] = body
    return files


def shell_commands(section: str) -> list[str]:
    """The commands of the ``bash`` blocks as typed, and the ``# or: <command>`` alternatives."""
    commands = []
    for body in code_blocks(section, "bash"):
        for line in body.splitlines():
            if not line.strip() or line.startswith("#"):
                continue  # output shown after a command
            command, _, comment = line.partition("  #")
            commands.append(command.strip())
            if "or: " in comment:
                commands.append(comment.split("or: ", 1)[1].strip())
    return commands


@dataclass
class FreshProject:
    """A temporary project folder outside the repository, with its own HOME and TMPDIR."""

    root: Path
    home: Path
    tmp: Path
    env: dict[str, str]

    def write(self, files: dict[str, str], under: str = "") -> Path:
        base = self.root / under
        for name, text in files.items():
            path = base / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return base

    def run(
        self, command: str, cwd: Path | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """``command`` as a user types it, in bash."""
        return subprocess.run(
            command,
            shell=True,
            executable="/bin/bash",
            cwd=cwd or self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, command: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            command,
            shell=True,
            executable="/bin/bash",
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )


def user_env(home: Path, tmp: Path) -> dict[str, str]:
    """A user's shell environment: no Airflow or pytest variables of ours, this venv's bin/ first."""
    drop = ("AIRFLOW", "DSS_PROVIDER_", "PYTEST_", "PYTHONPATH", "COV_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        HOME=str(home),
        TMPDIR=str(tmp),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env
