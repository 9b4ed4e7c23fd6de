"""Projects, scenarios, API keys and discussions: lookups, access checks and CRUD (no clock, no HTTP)."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from dss_provider.emulator.state import (
    ApiKey,
    BadRequest,
    Forbidden,
    JsonDict,
    Project,
    Scenario,
    Unauthorized,
    lookup,
    normalize_settings,
    scenario_id_from_name,
    validate_id,
    validate_project_key,
)

LIGHT_MODIFIABLE = ("active", "checklists", "description", "shortDesc", "tags")


class Catalog:
    """All durable objects of the emulated DSS instance."""

    def __init__(self) -> None:
        self.projects: dict[str, Project] = {}
        self.api_keys: dict[str, ApiKey] = {}

    # -- auth ----------------------------------------------------------------------------------
    def add_key(self, key: ApiKey) -> None:
        """Accept this API key."""
        self.api_keys[key.key] = key

    def authenticate(self, tokens: list[str]) -> ApiKey:
        """Resolve the first known presented key, or raise 401 (the message never contains a key)."""
        found = next((self.api_keys[t] for t in tokens if t in self.api_keys), None)
        if found is None:
            raise Unauthorized(
                "Unknown API Key",
                "Unknown API Key: send it as HTTP Basic username (empty password), "
                "as Basic password (empty username), or as 'Authorization: Bearer <key>'",
            )
        return found

    # -- lookups -------------------------------------------------------------------------------
    def project(self, key: ApiKey, project_key: str) -> Project:
        """The project ``project_key`` as ``key`` may see it (403 if not allowed, 404 if unknown)."""
        validate_id(project_key, "project key")
        if not key.can_access(project_key):
            raise Forbidden(
                "Failed to read project permissions",
                f"Failed to read project permissions: this API key may not access project {project_key}",
            )
        return lookup(self.projects, project_key, "project key", f"Project does not exist: {project_key}")

    def scenario(self, key: ApiKey, project_key: str, scenario_id: str) -> Scenario:
        """The scenario ``project_key.scenario_id`` as ``key`` may see it (403/404 otherwise)."""
        scenarios = self.project(key, project_key).scenarios
        return lookup(
            scenarios, scenario_id, "scenario id", f"Scenario does not exist: {project_key}.{scenario_id}"
        )

    def all_scenarios(self, key: ApiKey | None = None) -> list[Scenario]:
        """Every scenario of every project ``key`` may access (all of them without a key)."""
        return [
            sc
            for p in self.projects.values()
            if key is None or key.can_access(p.key)
            for sc in p.scenarios.values()
        ]

    # -- projects ------------------------------------------------------------------------------
    def create_project(self, key: ApiKey | None, body: Any) -> Project:
        """Create a project from the official client's body (projectKey, name, owner, ...)."""
        if key is not None and key.projects is not None:
            raise Forbidden("Action forbidden", "Only a global API key may create projects")
        if not isinstance(body, dict):
            raise BadRequest("Project creation body must be a JSON object")
        pkey = validate_project_key(body.get("projectKey"))
        if pkey in self.projects:
            raise BadRequest(f"Project {pkey} already exists", f"A project with key {pkey} already exists")
        name = body.get("name") or pkey
        owner = body.get("owner") or "admin"
        description = body.get("description") or ""
        tags = body.get("tags") or []
        settings = body.get("settings") or {}
        if not isinstance(name, str) or not isinstance(owner, str) or not isinstance(description, str):
            raise BadRequest("Project name, owner and description must be strings")
        if not isinstance(tags, list) or not isinstance(settings, dict):
            raise BadRequest("Project tags must be a list and settings an object")
        project = Project(pkey, name, owner, description, [str(t) for t in tags], settings)
        self.projects[pkey] = project
        return project

    # -- scenarios -----------------------------------------------------------------------------
    def create_scenario(self, project: Project, body: Any, now_ms: int, user: str = "admin") -> Scenario:
        """Create a scenario from a definition containing at least ``name`` and ``type``."""
        if not isinstance(body, dict):
            raise BadRequest("Scenario definition must be a JSON object")
        sid = body.get("id")
        if sid is None:
            name = body.get("name")
            if not isinstance(name, str) or not name.strip():
                raise BadRequest("A new scenario needs a 'name' (or an 'id')")
            sid = scenario_id_from_name(name, set(project.scenarios))
        else:
            validate_id(sid, "scenario id")
            if sid in project.scenarios:
                raise BadRequest(f"Scenario {project.key}.{sid} already exists")
        script = body.get("script", "")
        if not isinstance(script, str):
            raise BadRequest("'script' must be a string")
        settings = normalize_settings(project.key, sid, body, now_ms, user)
        sc = Scenario(project.key, sid, settings, {"script": script, "extension": "py"})
        project.scenarios[sid] = sc
        return sc

    def save_settings(self, sc: Scenario, body: Any, now_ms: int, user: str = "admin") -> JsonDict:
        """Replace a scenario's settings with ``body`` (400 if not an object); DSS's answer."""
        if not isinstance(body, dict):
            raise BadRequest("Scenario settings must be a JSON object")
        old_tag = sc.settings.get("versionTag", {})
        new = normalize_settings(sc.project_key, sc.id, body, now_ms, user)
        new["creationTag"] = sc.settings.get("creationTag", new["creationTag"])
        new["versionTag"] = {
            "versionNumber": int(old_tag.get("versionNumber", 0)) + 1,
            "lastModifiedBy": {"login": user},
            "lastModifiedOn": now_ms,
        }
        sc.settings = new
        return {"msg": f"Scenario {sc.full_id} saved", "versionTag": copy.deepcopy(new["versionTag"])}

    def save_light(self, sc: Scenario, body: Any) -> JsonDict:
        """PUT /light: only active, checklists, description, shortDesc and tags are modifiable."""
        if not isinstance(body, dict):
            raise BadRequest("Scenario status must be a JSON object")
        for name in LIGHT_MODIFIABLE:
            if name in body:
                value = body[name]
                if name == "active" and not isinstance(value, bool):
                    raise BadRequest("'active' must be a boolean")
                if name == "tags" and not isinstance(value, list):
                    raise BadRequest("'tags' must be a list")
                sc.settings[name] = copy.deepcopy(value)
        return {"msg": f"Scenario {sc.full_id} updated"}

    def save_payload(self, sc: Scenario, body: Any) -> JsonDict:
        """Replace a scenario's script payload with ``body`` (400 if malformed); DSS's answer."""
        if not isinstance(body, dict) or not isinstance(body.get("script", ""), str):
            raise BadRequest("Payload must be a JSON object with a string 'script'")
        sc.payload = {"script": body.get("script", ""), "extension": str(body.get("extension", "py"))}
        return {"msg": f"Payload of scenario {sc.full_id} saved"}

    # -- discussions ---------------------------------------------------------------------------
    def list_discussions(self, sc: Scenario) -> list[JsonDict]:
        """The scenario's discussions, without their replies."""
        return [
            {k: copy.deepcopy(v) for k, v in d.items() if k != "replies"} for d in sc.discussions.values()
        ]

    def discussion(self, sc: Scenario, discussion_id: str) -> JsonDict:
        """The discussion ``discussion_id`` of the scenario (404 if unknown)."""
        return lookup(
            sc.discussions, discussion_id, "discussion id", f"Discussion does not exist: {discussion_id}"
        )

    def create_discussion(self, sc: Scenario, body: Any, user: str, now_ms: int) -> JsonDict:
        """Open a discussion on the scenario (topic and optional first reply from ``body``)."""
        if not isinstance(body, dict) or not isinstance(body.get("topic", ""), str):
            raise BadRequest("Discussion body must be an object with a string 'topic'")
        reply = body.get("reply", "")
        if not isinstance(reply, str):
            raise BadRequest("'reply' must be a string")
        did = secrets.token_hex(4)
        while did in sc.discussions:
            did = secrets.token_hex(4)
        d: JsonDict = {
            "id": did,
            "projectKey": sc.project_key,
            "objectType": "SCENARIO",
            "objectId": sc.id,
            "topic": body.get("topic", ""),
            "closedOn": 0,
            "closedBy": None,
            "lastReplyTime": now_ms,
            "users": {user: {"login": user, "lastReplyTime": now_ms}},
            "replies": [],
        }
        if reply:
            self._add_reply(d, reply, user, now_ms)
        sc.discussions[did] = d
        return d

    def save_discussion(self, d: JsonDict, body: Any) -> JsonDict:
        """Update a discussion's metadata from ``body`` (its id, replies and object stay)."""
        if not isinstance(body, dict):
            raise BadRequest("Discussion metadata must be a JSON object")
        for k, v in body.items():
            if k not in ("id", "replies", "projectKey", "objectType", "objectId"):
                d[k] = copy.deepcopy(v)
        return d

    def add_reply(self, d: JsonDict, body: Any, user: str, now_ms: int) -> JsonDict:
        """Add ``body["reply"]`` to a discussion as ``user``."""
        if not isinstance(body, dict) or not isinstance(body.get("reply"), str):
            raise BadRequest("Reply body must be an object with a string 'reply'")
        self._add_reply(d, body["reply"], user, now_ms)
        return d

    @staticmethod
    def _add_reply(d: JsonDict, text: str, user: str, now_ms: int) -> None:
        d["replies"].append(
            {"id": secrets.token_hex(4), "text": text, "author": user, "time": now_ms, "editedOn": 0}
        )
        d["lastReplyTime"] = now_ms
