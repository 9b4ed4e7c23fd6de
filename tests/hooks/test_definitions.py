"""Settings, definitions, payloads, discussions and project-level calls against the emulator."""

from __future__ import annotations

import pytest

from dss_provider.emulator.server import DSSEmulator
from dss_provider.exceptions import DSSNotFoundError
from dss_provider.hooks.dss import DSSHook
from dss_provider.scenario import DSSScenario, PythonScriptBasedScenarioSettings, StepBasedScenarioSettings

FAST = {"timeout": 20, "poll_interval": 0.02}


def test_step_based_settings_read_modify_save(hook: DSSHook) -> None:
    scenario = hook.get_scenario("DEMO", "BUILD_SALES")
    settings = scenario.get_settings()
    assert isinstance(settings, StepBasedScenarioSettings)
    assert [s["id"] for s in settings.raw_steps] == [
        "build_0_true_d_SALES_PREPARED",
        "build_1_true_d_SALES_BY_REGION",
        "comp_metrics_d_SALES_BY_REGION",
    ]
    assert settings.active is True
    assert settings.raw_triggers == [] and settings.raw_reporters == []
    assert settings.effective_run_as is not None
    settings.active = False
    settings.run_as = "etl_user"
    assert settings.effective_run_as == "etl_user"
    periodic = settings.add_periodic_trigger(every_minutes=15)
    hourly = settings.add_hourly_trigger(minute_of_hour=5, starting_hour=1, repeat_every=2)
    daily = settings.add_daily_trigger(hour=3, minute=30, timezone="Europe/Paris")
    weekly = settings.add_daily_trigger(hour=4, days=["Monday", "Friday"])
    monthly = settings.add_monthly_trigger(day=15, hour=6, run_on="LAST_DAY_OF_THE_MONTH")
    settings.raw_reporters.append({"id": "mail", "name": "Mail", "active": True, "phase": "END"})
    settings.raw_steps.append({"id": "extra_step", "name": "Extra", "type": "custom_python", "params": {}})
    settings.save()

    back = scenario.get_settings()
    assert isinstance(back, StepBasedScenarioSettings)
    assert back.active is False and back.run_as == "etl_user" and back.effective_run_as == "etl_user"
    params = [t["params"] for t in back.raw_triggers]
    assert [p["frequency"] for p in params] == ["Minutely", "Hourly", "Daily", "Weekly", "Monthly"]
    assert params[0]["repeatFrequency"] == 15 == periodic["params"]["repeatFrequency"]
    assert (params[1]["minute"], params[1]["hour"], params[1]["repeatFrequency"]) == (5, 1, 2)
    assert params[1]["startingFrom"] == hourly["params"]["startingFrom"]
    assert "T00:00:00.000" in params[1]["startingFrom"]
    assert (params[2]["hour"], params[2]["minute"], params[2]["timezone"]) == (3, 30, "Europe/Paris")
    assert daily["params"]["frequency"] == "Daily"
    assert params[3]["daysOfWeek"] == ["Monday", "Friday"] == weekly["params"]["daysOfWeek"]
    assert params[4]["monthlyRunOn"] == "LAST_DAY_OF_THE_MONTH" == monthly["params"]["monthlyRunOn"]
    assert params[4]["startingFrom"][8:10] == "15"
    assert all(t["type"] == "temporal" and t["active"] is True for t in back.raw_triggers)
    assert [r["id"] for r in back.raw_reporters] == ["mail"]
    assert back.raw_steps[-1]["id"] == "extra_step"
    # the active flag and time triggers show in the light status
    status = scenario.get_status()
    assert status.get_raw()["active"] is False


def test_trigger_builder_validation(hook: DSSHook) -> None:
    settings = hook.get_scenario("DEMO", "BUILD_SALES").get_settings()
    with pytest.raises(ValueError, match="Unknown day names \\['Funday'\\]"):
        settings.add_daily_trigger(days=["Funday"])
    with pytest.raises(ValueError, match="run_on must be one of"):
        settings.add_monthly_trigger(run_on="SOMETIMES")
    assert settings.raw_triggers == []


def test_effective_run_as_falls_back_to_the_last_modifier(hook: DSSHook) -> None:
    settings = hook.get_scenario("DEMO", "TESTS_SMOKE").get_settings()
    settings.get_raw().pop("runAsUser", None)
    settings.get_raw()["versionTag"] = {"lastModifiedBy": {"login": "alice"}}
    settings.get_raw()["creationTag"] = {"lastModifiedBy": {"login": "bob"}}
    assert settings.effective_run_as == "alice"
    settings.get_raw()["versionTag"] = {}
    assert settings.effective_run_as == "bob"


def test_python_scenario_settings_and_payload(hook: DSSHook) -> None:
    scenario = hook.get_scenario("DEMO", "PY_SCORING")
    settings = scenario.get_settings()
    assert isinstance(settings, PythonScriptBasedScenarioSettings)
    assert 'scenario.build_dataset("CUSTOMERS_SCORED")' in settings.code
    settings.code = "print('v2')\n"
    settings.active = True
    settings.save()
    assert scenario.get_payload() == "print('v2')\n"
    back = scenario.get_settings()
    assert isinstance(back, PythonScriptBasedScenarioSettings)
    assert back.code == "print('v2')\n" and back.active is True
    scenario.set_payload("print('v3')\n")
    assert scenario.get_payload() == "print('v3')\n"
    run = scenario.run_and_wait(**FAST)
    assert run is not None and run.outcome == "SUCCESS"
    assert "Scored 5000 customers" in run.get_log()


def test_get_and_set_definition_warn_and_work(hook: DSSHook) -> None:
    scenario = hook.get_scenario("DEMO", "BUILD_SALES")
    with pytest.warns(DeprecationWarning, match="get_definition is deprecated"):
        light = scenario.get_definition()
    assert light["running"] is False and light["id"] == "BUILD_SALES"
    with pytest.warns(DeprecationWarning):
        full = scenario.get_definition(with_status=False)
    assert full["type"] == "step_based" and "steps" in full["params"]
    with pytest.warns(DeprecationWarning, match="set_definition is deprecated"):
        scenario.set_definition({"shortDesc": "Builds the sales datasets", "tags": ["x"]})
    with pytest.warns(DeprecationWarning):
        assert scenario.get_definition()["shortDesc"] == "Builds the sales datasets"
    full["description"] = "Long description"
    with pytest.warns(DeprecationWarning):
        scenario.set_definition(full, with_status=False)
    assert scenario.get_settings().get_raw()["description"] == "Long description"


def test_discussions(hook: DSSHook) -> None:
    discussions = hook.get_scenario("DEMO", "BUILD_SALES").get_object_discussions()
    assert discussions.list_discussions() == []
    created = discussions.create_discussion("Failing on Mondays", "It fails every Monday")
    assert created.get_metadata()["topic"] == "Failing on Mondays"
    assert [r["text"] for r in created.get_replies()] == ["It fails every Monday"]
    created.add_reply("Fixed in v2")
    assert [r["text"] for r in created.get_replies()] == ["It fails every Monday", "Fixed in v2"]
    listed = discussions.list_discussions()
    assert [d.discussion_id for d in listed] == [created.discussion_id]
    fetched = discussions.get_discussion(created.discussion_id)
    assert len(fetched.get_replies()) == 2
    metadata = fetched.get_metadata()
    metadata["topic"] = "Failing on Mondays (fixed)"
    fetched.set_metadata(metadata)
    again = discussions.get_discussion(created.discussion_id)
    assert again.get_metadata()["topic"] == "Failing on Mondays (fixed)"
    assert len(again.get_replies()) == 2  # set_metadata keeps the replies
    with pytest.raises(DSSNotFoundError, match="Discussion does not exist"):
        discussions.get_discussion("deadbeef")


def test_list_create_delete_scenarios(hook: DSSHook) -> None:
    items = hook.list_scenarios("DEMO")
    ids = [i.id for i in items]
    assert ids == [
        "BUILD_SALES",
        "QUALITY_CHECKS",
        "NIGHTLY_EXPORT",
        "LONG_REFRESH",
        "PY_SCORING",
        "TESTS_SMOKE",
    ]
    build = items[0]
    assert build.id == "BUILD_SALES" and build.name == "Build sales"  # id is the id, not the name
    assert build.get_raw()["projectKey"] == "DEMO"
    handle = build.to_scenario()
    assert isinstance(handle, DSSScenario) and (handle.project_key, handle.id) == ("DEMO", "BUILD_SALES")
    created = hook.create_scenario("DEMO", "My new scenario", "step_based")
    assert created.project_key == "DEMO" and created.id in [i.id for i in hook.list_scenarios("DEMO")]
    assert created.get_settings().get_raw()["name"] == "My new scenario"
    run = created.run_and_wait(**FAST)  # no steps: succeeds
    assert run is not None and run.outcome == "SUCCESS"
    py = hook.create_scenario("DEMO", "Py", "custom_python", {"params": {}, "script": "print(1)"})
    assert isinstance(py.get_settings(), PythonScriptBasedScenarioSettings)
    created.delete()
    assert created.id not in [i.id for i in hook.list_scenarios("DEMO")]
    with pytest.raises(DSSNotFoundError, match=f"Scenario does not exist: DEMO.{created.id}"):
        created.get_status()


def test_testing_status(hook: DSSHook) -> None:
    empty = hook.get_testing_status("DEMO")
    assert empty.nb_total_ran_scenarios == 0
    hook.get_scenario("DEMO", "TESTS_SMOKE").run_and_wait(**FAST)
    hook.get_scenario("DEMO", "QUALITY_CHECKS").run_and_wait(**FAST)
    status = hook.get_testing_status("DEMO")
    assert status.nb_total_ran_scenarios == 2
    assert status.nb_scenarios_per_outcome.get("SUCCESS") == 1
    assert status.nb_scenarios_per_outcome.get("WARNING") == 1
    assert status.get_raw()["nbTotalRanScenarios"] == 2


def test_list_running_scenarios(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    assert hook.list_running_scenarios() == []
    dss_emulator.speed = 5
    run = hook.get_scenario("DEMO", "LONG_REFRESH").run().wait_for_scenario_run(**FAST)
    assert run is not None
    futures = hook.list_running_scenarios(all_users=True)
    assert len(futures) == 1
    assert futures[0]["jobId"] == run.get_info()["futureId"]
    assert run.abort() is True
    assert hook.list_running_scenarios() == []


def test_test_connection_success(hook: DSSHook, dss_emulator: DSSEmulator) -> None:
    ok, message = hook.test_connection()
    assert ok is True
    assert message == f"Connected to DSS at {dss_emulator.url}; the key can see 2 project(s)."
