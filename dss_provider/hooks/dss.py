"""DSSHook: the Dataiku DSS connection and the whole scenario/run API over ``requests``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

import tenacity

from dss_provider.compat import BaseHook
from dss_provider.exceptions import DSSConfigurationError, DSSConnectionError, DSSError
from dss_provider.hooks import waiting
from dss_provider.hooks.connection import (
    CONN_TYPE,
    DEFAULT_CONN_ID,
    DSSConnectionConfig,
    config_from_airflow_connection,
    connection_load_error,
)
from dss_provider.protocol import endpoints, procedures
from dss_provider.protocol.endpoints import ApiRequest
from dss_provider.protocol.errors import decode_json, error_for_status, parse_retry_after
from dss_provider.protocol.polling import PollSchedule
from dss_provider.protocol.retry import describe_exception, is_ambiguous, retrying_rule, transport_error
from dss_provider.protocol.waiter import Done, Waiter

if TYPE_CHECKING:
    import requests

    from dss_provider.scenario import (
        DSSScenario,
        DSSScenarioListItem,
        DSSTestingStatus,
        DSSTriggerFire,
    )

log = logging.getLogger(__name__)

#: How long to look for the run of a fire whose answer was lost, before firing again.
FIRE_RECONCILE_SECONDS = 10.0
#: The gap between two of those looks.
FIRE_RECONCILE_GAP = 0.5
#: How far the DSS clock may lag ours when matching a lost request's fire by its timestamp. Runs that
#: existed before the request are excluded by id, so a generous window is safe.
FIRE_CLOCK_SKEW_MS = 60_000


class DSSHook(BaseHook):
    """Talks to Dataiku DSS with an API key: scenario handles, runs, logs, reports.

    :param dss_conn_id: a ``dataiku_dss`` connection: host = DSS URL, password = API key.
    :param timeout: per-request timeout in seconds (default: the connection's ``timeout``, else 30).
    :param retries: retries of a failed request (default: the connection's ``retries``, else 5).
    """

    conn_name_attr = "dss_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Dataiku DSS"

    # The connection form for Airflow 3.0/3.1, which read only these two methods; 3.2+ builds it from
    # the provider info's conn-fields and skips them (no deprecation warning). See hooks/connection_form.
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The connection form's extra fields (Airflow before 3.2)."""
        from dss_provider.hooks.connection_form import form_widgets

        return form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder standard fields of the connection form (Airflow before 3.2)."""
        from dss_provider.hooks.connection_form import field_behaviour

        return field_behaviour()

    def __init__(
        self, dss_conn_id: str = DEFAULT_CONN_ID, *, timeout: float | None = None, retries: int | None = None
    ) -> None:
        super().__init__()
        if not isinstance(dss_conn_id, str) or not dss_conn_id:
            raise DSSConfigurationError(f"dss_conn_id must be a non-empty string, got {dss_conn_id!r}.")
        self.dss_conn_id = dss_conn_id
        self._timeout = timeout
        self._retries = retries

    # --- connection and transport --------------------------------------------------------------

    @cached_property
    def config(self) -> DSSConnectionConfig:
        """The validated connection (fetched once per hook)."""
        try:
            conn = self.get_connection(self.dss_conn_id)
        except DSSError:
            raise
        except Exception as err:
            raise connection_load_error(self.dss_conn_id, err) from None
        config = config_from_airflow_connection(
            conn, self.dss_conn_id, timeout=self._timeout, retries=self._retries
        )
        _mask(config.api_key)
        return config

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session per hook."""
        import requests  # imported on first use: it costs ~60 ms at DAG parse time

        config = self.config
        session = requests.Session()
        session.headers.update(config.headers())
        session.verify = config.verify
        if config.client_cert:
            session.cert = config.client_cert
        return session

    def get_conn(self) -> requests.Session:
        """The hook's ``requests`` session."""
        return self.session

    def close(self) -> None:
        """Close the hook's session."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def execute(self, request: ApiRequest) -> Any:
        """Send one request, retrying what is safe to retry; the decoded answer (JSON, text or bytes)."""
        retrying = tenacity.Retrying(**retrying_rule(request, self.config.retries, log))
        return retrying(self._send_once, request)

    def _send_once(self, request: ApiRequest) -> Any:
        import requests

        config = self.config
        url = config.api_root + request.path
        headers = {"Content-Type": "application/json"} if request.has_body else None
        try:
            response = self.session.request(
                request.method,
                url,
                params=list(request.query) or None,
                data=request.body_bytes(),
                headers=headers,
                timeout=config.timeout,
                # Per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override session.verify,
                # which would silently ignore the connection's verify_ssl=false / ca_bundle.
                verify=config.verify,
                cert=config.client_cert,
            )
        except requests.exceptions.SSLError as err:
            raise transport_error(
                request,
                config.api_root,
                f"TLS error ({describe_exception(err)})",
                maybe_processed=False,
                tls=True,
            ) from None
        except requests.exceptions.RequestException as err:
            raise transport_error(
                request, config.api_root, describe_exception(err), maybe_processed=not _never_sent(err)
            ) from None
        return self._decode(request, response)

    @staticmethod
    def _decode(request: ApiRequest, response: requests.Response) -> Any:
        import requests

        try:
            text = response.text if request.response != "bytes" else ""
            content = response.content if request.response == "bytes" else b""
        except requests.exceptions.RequestException as err:
            raise transport_error(
                request, "", f"answer cut short ({describe_exception(err)})", maybe_processed=True
            ) from None
        if response.status_code >= 400:
            error = error_for_status(
                request,
                response.status_code,
                text or response.content.decode("utf-8", "replace"),
                response.headers.get("Content-Type", ""),
            )
            error.retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise error
        if request.response == "json":
            return decode_json(request, response.status_code, text)
        return content if request.response == "bytes" else text

    def run_procedure(self, procedure: procedures.Procedure) -> Any:
        """Drive a sans-IO procedure (see :mod:`dss_provider.protocol.procedures`)."""
        try:
            request = next(procedure)
            while True:
                try:
                    answer = self.execute(request)
                except DSSError as err:
                    request = procedure.throw(err)
                else:
                    request = procedure.send(answer)
        except StopIteration as stop:
            return stop.value

    def test_connection(self) -> tuple[bool, str]:
        """One cheap authenticated call; ``(False, <what DSS or the network said>)`` on failure."""
        try:
            projects = self.execute(endpoints.list_projects())
        except Exception as err:  # the UI shows the message; it never holds the key
            return False, str(err)
        count = len(projects) if isinstance(projects, list) else 0
        return True, f"Connected to DSS at {self.config.base_url}; the key can see {count} project(s)."

    # --- handles (named after the official client) ---------------------------------------------

    def get_scenario(self, project_key: str, scenario_id: str) -> DSSScenario:
        """A handle on a scenario (the dataikuapi-style facade)."""
        from dss_provider.scenario import DSSScenario

        endpoints.check_id(project_key, "project_key")
        endpoints.check_id(scenario_id, "scenario_id")
        return DSSScenario(self, project_key, scenario_id)

    def list_scenarios(self, project_key: str) -> list[DSSScenarioListItem]:
        """The project's scenarios."""
        from dss_provider.scenario import DSSScenarioListItem

        items = self.execute(endpoints.list_scenarios(project_key))
        return [DSSScenarioListItem(self, item) for item in items]

    def create_scenario(
        self, project_key: str, name: str, type: str, definition: dict[str, Any] | None = None
    ) -> DSSScenario:
        """Create a scenario; its handle."""
        answer = self.execute(endpoints.create_scenario(project_key, name, type, definition))
        return self.get_scenario(project_key, answer["id"])

    def get_testing_status(self, project_key: str, bundle_id: str | None = None) -> DSSTestingStatus:
        """The project's test scenario results."""
        from dss_provider.scenario import DSSTestingStatus

        return DSSTestingStatus(self.execute(endpoints.get_testing_status(project_key, bundle_id)))

    def list_running_scenarios(self, all_users: bool = False) -> list[dict[str, Any]]:
        """The scenario runs in progress (of every user with ``all_users``)."""
        return list(self.execute(endpoints.list_running_scenario_futures(all_users)))

    # --- run control used by operators ---------------------------------------------------------

    def fire_scenario(
        self,
        project_key: str,
        scenario_id: str,
        params: dict[str, Any] | None = None,
        *,
        recent_runs: list[dict[str, Any]] | None = None,
    ) -> DSSTriggerFire:
        """:meth:`fire`, as the seed's ``DSSTriggerFire`` handle."""
        from dss_provider.scenario import DSSTriggerFire

        fire = self.fire(project_key, scenario_id, params, recent_runs=recent_runs)
        return DSSTriggerFire(self.get_scenario(project_key, scenario_id), fire)

    def fire(
        self,
        project_key: str,
        scenario_id: str,
        params: dict[str, Any] | None = None,
        *,
        recent_runs: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Request one run: exactly one fire, even when the answer to the request is lost.

        Returns the trigger fire as DSS gave it (``trigger.id`` and ``runId``).

        If the run request fails in a way that DSS may have processed it (connection reset after
        sending, 500/502/504, cut answer), the hook looks for a run with the same trigger params
        fired since the request, for up to ``FIRE_RECONCILE_SECONDS``, before firing again.
        ``recent_runs``: the scenario's newest runs as the caller just read them (``get_recent_runs``),
        to save that request; runs listed there are never taken for the run a lost request started.
        """
        request = endpoints.run_scenario(project_key, scenario_id, params)
        body = request.body
        # Runs that exist before the request are never taken for the run a lost request started
        # (an identical fire a moment ago would otherwise match by params and time).
        known = (
            self._known_run_ids(project_key, scenario_id)
            if recent_runs is None
            else frozenset(str(r["runId"]) for r in recent_runs if r.get("runId"))
        )
        last_error: DSSError | None = None
        for _attempt in range(self.config.retries + 1):
            since_ms = int(time.time() * 1000) - FIRE_CLOCK_SKEW_MS
            try:
                return dict(self.execute(request))
            except DSSError as err:
                if not is_ambiguous(err):
                    raise
                last_error = err
                log.warning(
                    "The answer to the run request of %s was lost (%s); looking for its run",
                    request.target.describe(),
                    err,
                )
                run, lookup_error = self._find_fired_run(project_key, scenario_id, body, since_ms, known)
                if run is not None:
                    log.info("Found run %s started by the lost request; not firing again", run.get("runId"))
                    return dict(run["trigger"])
                if lookup_error is not None:
                    # DSS may have started a run we could not see: firing again could start a second one.
                    raise DSSConnectionError(
                        f"The answer to the run request of {request.target.describe()} was lost ({err}), "
                        f"and DSS could not be asked whether it started a run ({lookup_error}). Not firing "
                        "again, so as not to start a second run: check the scenario's runs in DSS."
                    ) from err
        raise DSSError(
            f"Could not fire {request.target.describe()}: {self.config.retries + 1} run request(s) failed "
            f"without DSS starting a run. Last answer: {last_error}"
        )

    def _known_run_ids(self, project_key: str, scenario_id: str) -> frozenset[str]:
        """Ids of the scenario's latest runs (best effort: empty when they cannot be listed)."""
        try:
            runs = self.execute(endpoints.get_last_runs(project_key, scenario_id, 10, False))
        except DSSError as err:
            log.debug("Could not list the runs of %s/%s before firing: %s", project_key, scenario_id, err)
            return frozenset()
        return frozenset(str(r["runId"]) for r in runs or [] if isinstance(r, dict) and r.get("runId"))

    def _find_fired_run(
        self,
        project_key: str,
        scenario_id: str,
        params: dict[str, Any],
        since_ms: int,
        known: frozenset[str] = frozenset(),
    ) -> tuple[dict[str, Any] | None, DSSError | None]:
        """The run a lost request started, if any; and the lookup error when no lookup succeeded.

        Looks every ``FIRE_RECONCILE_GAP`` seconds for up to ``FIRE_RECONCILE_SECONDS`` (a
        :class:`~dss_provider.protocol.waiter.Waiter` like every wait; a permanent error ends it).
        """
        looked = False

        def look() -> dict[str, Any] | None:
            nonlocal looked
            run: dict[str, Any] | None = self.run_procedure(
                procedures.find_fired_run(project_key, scenario_id, params, since_ms, known)
            )
            looked = True
            return run

        waiter: Waiter[dict[str, Any]] = Waiter(
            PollSchedule(FIRE_RECONCILE_GAP, FIRE_RECONCILE_GAP),
            deadline=time.time() + FIRE_RECONCILE_SECONDS,
        )
        outcome = waiting.drive(waiter, look, f"the runs of {project_key}/{scenario_id}", log)
        if isinstance(outcome, Done):
            return outcome.value, None
        error = outcome.error if isinstance(outcome.error, DSSError) else None
        return None, (None if looked else error)

    def abort_run(self, project_key: str, scenario_id: str, run_id: str) -> bool:
        """Abort this one run (through its future); False when it had already finished."""
        return bool(self.run_procedure(procedures.abort_run(project_key, scenario_id, run_id)))

    def resolve_fire(
        self, project_key: str, scenario_id: str, trigger_id: str, trigger_run_id: str
    ) -> procedures.FireState:
        """What a trigger fire became: pending, cancelled, or the run it started."""
        state: procedures.FireState = self.run_procedure(
            procedures.resolve_fire(project_key, scenario_id, trigger_id, trigger_run_id)
        )
        return state

    def get_run_details(self, project_key: str, scenario_id: str, run_id: str) -> dict[str, Any]:
        """A run's details: ``{"scenarioRun": ..., "stepRuns": [...]}``."""
        return dict(self.execute(endpoints.get_run_details(project_key, scenario_id, run_id)))

    def get_run_log(self, project_key: str, scenario_id: str, run_id: str, step_id: str | None = None) -> str:
        """A run's log (one step's with ``step_id``)."""
        return str(self.execute(endpoints.get_run_log(project_key, scenario_id, run_id, step_id)))

    def get_expected_duration(self, project_key: str, scenario_id: str, limit: int = 5) -> float | None:
        """Mean duration of the last successful (SUCCESS/WARNING) runs, for adaptive polling."""
        from dss_provider.protocol.models import expected_duration

        runs = self.execute(endpoints.get_last_runs(project_key, scenario_id, limit, only_finished_runs=True))
        return expected_duration(list(runs or []), limit)

    def get_last_finished_run(self, project_key: str, scenario_id: str) -> dict[str, Any]:
        """The scenario's newest finished run (DSS JSON); :class:`DSSNotFoundError` when it has none."""
        from dss_provider.exceptions import DSSNotFoundError, DSSTarget

        runs = self.execute(endpoints.get_last_runs(project_key, scenario_id, 1, only_finished_runs=True))
        if not runs:
            target = DSSTarget(project_key, scenario_id)
            raise DSSNotFoundError(f"{target.describe()} has no finished run yet.", target=target)
        return dict(runs[0])

    def get_recent_runs(self, project_key: str, scenario_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The scenario's newest runs, running ones included (DSS JSON, newest first)."""
        runs = self.execute(
            endpoints.get_last_runs(project_key, scenario_id, limit, only_finished_runs=False)
        )
        return [r for r in runs or [] if isinstance(r, dict)]


def _never_sent(err: BaseException) -> bool:
    """Whether DSS surely did not see the request that failed with ``err``, judged by exception type.

    True when no connection was made: refused, host (or proxy) unresolvable or unreachable, no connection
    within the timeout; or the URL was unusable. Any other failure came after the request may have been
    sent (reset, read timeout, bad answer).
    """
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(err, (requests.exceptions.ConnectTimeout, requests.exceptions.InvalidURL)):
        return True
    # requests wraps urllib3's MaxRetryError, whose ``reason`` holds the NewConnectionError (itself
    # raised from the OSError, such as ConnectionRefusedError).
    no_connection = (NewConnectionError, ConnectionRefusedError)
    return isinstance(err, requests.exceptions.ConnectionError) and any(
        isinstance(cause, no_connection) for cause in _causes(err)
    )


def _causes(err: BaseException) -> Iterator[BaseException]:
    """``err`` and every exception it wraps: causes, contexts, urllib3's ``reason``, exception args."""
    seen: set[int] = set()
    pending = [err]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        pending.extend(e for e in linked if isinstance(e, BaseException))


def _mask(secret: str) -> None:
    try:
        from dss_provider.compat import mask_secret

        mask_secret(secret)
    except Exception:  # masking is best effort outside a task
        log.debug("Could not register the API key with the secrets masker")
