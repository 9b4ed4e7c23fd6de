"""Seeds: the initial content of the emulator (projects, scenarios, extra API keys).

A seed is a dict, or a path to a YAML (``.yaml``/``.yml``) or JSON file, of this form::

    projects:
      - key: DEMO                      # project key (letters, digits, _)
        name: Demo project
        owner: admin                   # optional
        description: ...               # optional
        scenarios:
          - id: BUILD_SALES            # scenario id
            name: Build sales
            type: step_based           # or custom_python
            active: true
            markedAsTest: false        # true enables JUnit reports and testing status
            tags: [sales]
            triggers:                  # optional; temporal triggers feed nextRun
              - {type: temporal, active: true, params: {frequency: Daily, hour: 2, minute: 0}}
            params:
              steps:
                - id: build_sales
                  name: Build SALES
                  type: build_flowitem
                  runConditionType: RUN_IF_STATUS_MATCH   # or RUN_ALWAYS, DISABLED
                  params:
                    builds: [{type: DATASET, itemId: SALES}]
                    emulator:          # scripted behaviour (all optional)
                      duration: 2      # seconds, divided by the emulator speed (default 1)
                      outcome: SUCCESS # SUCCESS | WARNING | FAILED
                      message: ""      # error/warning message
                      log: ""          # extra log text
                      log_size: 0      # bytes of filler log (to test huge logs)
          - id: PY_SCORING
            type: custom_python
            params: {emulator: {duration: 2}}   # a custom_python scenario is one pseudo-step
            script: "print('stored, never executed')"
    time_triggers: false               # true: the temporal triggers fire on the emulator's clock
                                       # (DSSEmulator(time_triggers=...) / --time-triggers win)
    api_keys:                          # extra keys; the emulator's main key is always global
      - key: other-project-only-key
        projects: [OTHER]              # or "*" for all projects
        label: Key scoped to OTHER
        user: other_user               # login shown as author/runAsUser (optional)

:func:`default_seed` returns the built-in demo seed (``seeds/demo.yaml``). Seeds that ship with the
package can be named instead of given as a path: ``demo`` (the default) and ``failing`` (the demo
project with ``BUILD_SALES`` failing), e.g. ``dss-emulator --seed failing`` or
``@pytest.mark.dss_seed("failing")``; :func:`bundled_seeds` lists them.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Union

from dss_provider.emulator.catalog import Catalog
from dss_provider.emulator.state import ApiKey, Project, validate_project_key

SeedLike = Union[None, dict[str, Any], str, "os.PathLike[str]"]
SEEDS_DIR = Path(__file__).with_name("seeds")
DEMO_SEED_PATH = SEEDS_DIR / "demo.yaml"


class SeedError(ValueError):
    """The seed is malformed."""


def _read_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise SeedError(f"Seed file {path} must contain a mapping at the top level")
    return data


_DEFAULT_CACHE: dict[str, Any] = {}


def default_seed() -> dict[str, Any]:
    """The built-in demo seed (a fresh deep copy)."""
    if not _DEFAULT_CACHE:
        _DEFAULT_CACHE.update(_read_file(DEMO_SEED_PATH))
    return copy.deepcopy(_DEFAULT_CACHE)


def bundled_seeds() -> list[str]:
    """Names of the seeds that ship with the package (``demo``, ...)."""
    return sorted(p.stem for p in SEEDS_DIR.glob("*.yaml"))


def seed_path(seed: str | os.PathLike[str]) -> Path:
    """The file of a seed argument: an existing path, or the name of a bundled seed (``demo``)."""
    path = Path(seed)
    if path.is_file():
        return path
    bundled = SEEDS_DIR / f"{path.name}.yaml"
    if str(seed) == path.name and not path.suffix and bundled.is_file():
        return bundled
    raise SeedError(
        f"Seed {str(seed)!r}: no such file (looked in {Path.cwd()}) and no bundled seed of that name; "
        f"give a YAML/JSON seed file or one of: {', '.join(bundled_seeds())}"
    )


def load_seed(seed: SeedLike) -> dict[str, Any]:
    """Resolve a seed argument (None means the default seed; a bare name a bundled seed) to a dict."""
    if seed is None:
        return default_seed()
    if isinstance(seed, dict):
        return copy.deepcopy(seed)
    if isinstance(seed, (str, os.PathLike)):
        return _read_file(seed_path(seed))
    raise SeedError(f"Unsupported seed type {type(seed).__name__}")


def build_catalog(seed: dict[str, Any], main_key: str, now_ms: int) -> Catalog:
    """Build a catalog from a seed dict, with ``main_key`` as the global key."""
    from dss_provider.emulator.state import EmulatorError

    catalog = Catalog()
    catalog.add_key(ApiKey(main_key, None, "emulator main key", "admin", "main"))
    projects = seed.get("projects") or []
    if not isinstance(projects, list):
        raise SeedError("'projects' must be a list")
    try:
        for p in projects:
            if not isinstance(p, dict):
                raise SeedError("each project must be a mapping")
            key = validate_project_key(p.get("key", p.get("projectKey")))
            if key in catalog.projects:
                raise SeedError(f"duplicate project {key}")
            catalog.projects[key] = Project(
                key,
                str(p.get("name", key)),
                str(p.get("owner", "admin")),
                str(p.get("description", "")),
                [str(t) for t in p.get("tags") or []],
            )
            for s in p.get("scenarios") or []:
                if not isinstance(s, dict) or "id" not in s:
                    raise SeedError(f"each scenario of {key} must be a mapping with an 'id'")
                catalog.create_scenario(catalog.projects[key], s, now_ms)
    except EmulatorError as exc:
        raise SeedError(f"invalid seed: {exc.detailed}") from exc
    keys = seed.get("api_keys") or []
    if not isinstance(keys, list):
        raise SeedError("'api_keys' must be a list")
    for i, k in enumerate(keys):
        if not isinstance(k, dict) or not isinstance(k.get("key"), str) or not k["key"]:
            raise SeedError(f"api_keys[{i}] must be a mapping with a non-empty 'key'")
        scope = k.get("projects", "*")
        if scope != "*" and (not isinstance(scope, list) or not all(isinstance(x, str) for x in scope)):
            raise SeedError(f"api_keys[{i}].projects must be '*' or a list of project keys")
        catalog.add_key(
            ApiKey(
                k["key"],
                None if scope == "*" else frozenset(scope),
                str(k.get("label", f"seed key {i}")),
                str(k.get("user", "api_user")),
                f"seed-{i}",
            )
        )
    return catalog
