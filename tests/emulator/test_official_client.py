"""Fidelity: the official client (dataikuapi 15.2.0) drives the emulator end to end."""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections.abc import Iterator

import pytest

dataikuapi = pytest.importorskip("dataikuapi")
from dataikuapi.utils import DataikuException  # noqa: E402

from dss_provider.emulator.server import DSSEmulator  # noqa: E402


@pytest.fixture(scope="module")
def dss_emulator_server() -> Iterator[DSSEmulator]:
    """This module's own emulator (speed 50) behind the ``dss_emulator`` fixture (reset per test)."""
    with DSSEmulator(speed=50) as emulator:
        yield emulator


@pytest.fixture
def client(dss_emulator: DSSEmulator) -> dataikuapi.DSSClient:
    return dataikuapi.DSSClient(dss_emulator.url, dss_emulator.api_key)


@pytest.fixture
def demo(client: dataikuapi.DSSClient) -> object:
    return client.get_project("DEMO")


def test_run_and_wait_outcomes(demo: object) -> None:
    run = demo.get_scenario("BUILD_SALES").run_and_wait()
    assert run.outcome == "SUCCESS" and not run.running and run.duration > 0
    assert run.trigger["id"] == "manual" and run.end_time > run.start_time
    with pytest.raises(DataikuException, match="Scenario run returned status WARNING"):
        demo.get_scenario("QUALITY_CHECKS").run_and_wait()
    assert demo.get_scenario("QUALITY_CHECKS").run_and_wait(no_fail=True).outcome == "WARNING"
    failed = demo.get_scenario("NIGHTLY_EXPORT").run_and_wait(no_fail=True)
    assert failed.outcome == "FAILED"
    details = failed.get_details()
    assert "access denied" in details.first_error_details["message"]
    assert [s.outcome for s in details.steps] == ["FAILED", "SUCCESS"]
    assert details.last_step.outcome == "SUCCESS"
    with pytest.raises(DataikuException, match="FAILED"):
        demo.get_scenario("NIGHTLY_EXPORT").run_and_wait()


def test_trigger_fire_and_run_handles(demo: object) -> None:
    sc = demo.get_scenario("BUILD_SALES")
    fire = sc.run(params={"source": "test"})
    assert fire.get_raw()["params"] == {"source": "test"} and not fire.is_cancelled()
    run = fire.wait_for_scenario_run()
    assert fire.get_scenario_run().id == run.id
    run.wait_for_completion()
    run.refresh()
    assert run.outcome == "SUCCESS"
    details = run.get_details()
    assert len(details.steps) == 3 and details.first_error_details is None
    assert details.steps[0].job_ids and details.steps[0].job_ids[0].startswith("Build_SALES_PREPARED")
    assert "SALES_PREPARED" in run.get_log()
    assert "Compute metrics" in run.get_log(step_id="comp_metrics_d_SALES_BY_REGION")
    with pytest.raises(DataikuException):
        run.get_report()  # not marked as test: the client refuses
    got = sc.get_run(run.id)
    assert got.id == run.id and got.outcome == "SUCCESS"
    same = sc.get_trigger_fire("manual", fire.get_raw()["runId"])
    assert same.get_raw()["runId"] == fire.get_raw()["runId"]


def test_cancelled_fire(demo: object, dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 5
    sc = demo.get_scenario("LONG_REFRESH")
    sc.run().wait_for_scenario_run()
    second = sc.run()
    time.sleep(0.15)
    assert second.is_cancelled(refresh=True) is True
    assert second.get_scenario_run() is None
    with pytest.raises(DataikuException, match="cancelled"):
        second.wait_for_scenario_run()
    assert second.wait_for_scenario_run(no_fail=True) is None
    sc.abort()


def test_runs_listing(demo: object, dss_emulator: DSSEmulator) -> None:
    sc = demo.get_scenario("TESTS_SMOKE")
    with pytest.raises(ValueError):
        sc.get_last_finished_run()
    assert sc.get_current_run() is None and sc.get_average_duration() is None
    runs = [sc.run_and_wait() for _ in range(3)]
    last = sc.get_last_runs(limit=2)
    assert [r.id for r in last] == [runs[2].id, runs[1].id]
    assert sc.get_last_finished_run().id == runs[2].id
    assert sc.get_last_successful_run().id == runs[2].id
    assert [
        r.id
        for r in sc.get_runs_by_date(
            dt.date.today() - dt.timedelta(days=1), dt.datetime.now() + dt.timedelta(days=2)
        )
    ] == [r.id for r in runs[::-1]]
    avg = sc.get_average_duration(limit=3)
    assert avg is not None and 0 < avg < 5
    report = runs[0].get_report()
    assert b"<testsuite" in report.content
    assert runs[0].get_step_run_report("smoke_api").content.count(b"<testcase") == 1
    dss_emulator.speed = 5
    long = demo.get_scenario("LONG_REFRESH")
    run = long.run().wait_for_scenario_run()
    current = long.get_current_run()
    assert current is not None and current.id == run.id and current.running
    status = long.get_status()
    assert status.running is True and status.get_raw()["start"] > 0
    long.abort()
    run.refresh()
    while run.running:
        time.sleep(0.02)
        run.refresh()
    assert run.outcome == "ABORTED"
    assert long.get_status().running is False


def test_status_settings_payload_definition(demo: object) -> None:
    nightly = demo.get_scenario("NIGHTLY_EXPORT")
    assert nightly.get_status().next_run is not None
    assert demo.get_scenario("BUILD_SALES").get_status().next_run is None
    settings = demo.get_scenario("BUILD_SALES").get_settings()
    assert settings.raw_steps[0]["id"] == "build_0_true_d_SALES_PREPARED"
    assert settings.active is True and settings.effective_run_as == "admin"
    py = demo.get_scenario("PY_SCORING").get_settings()
    assert "build_dataset" in py.code
    py.code = "print('hello')"
    py.save()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        sc = demo.get_scenario("PY_SCORING")
        assert sc.get_payload() == "print('hello')"
        sc.set_payload("x = 2")
        assert sc.get_payload() == "x = 2"
        definition = sc.get_definition(with_status=False)
        assert definition["type"] == "custom_python"
        light = sc.get_definition()
        light["shortDesc"] = "scoring"
        sc.set_definition(light)
        assert sc.get_definition()["shortDesc"] == "scoring"
        definition["name"] = "Renamed"
        sc.set_definition(definition, with_status=False)
        assert sc.get_definition(with_status=False)["name"] == "Renamed"


def test_triggers_builders(demo: object) -> None:
    sc = demo.get_scenario("BUILD_SALES")
    settings = sc.get_settings()
    settings.add_periodic_trigger(every_minutes=10)
    settings.add_hourly_trigger(minute_of_hour=7)
    settings.add_daily_trigger(hour=3, minute=30)
    settings.add_daily_trigger(hour=4, days=["Monday", "Friday"])
    settings.add_monthly_trigger(day=15, hour=1, timezone="Europe/Paris")
    settings.active = True
    settings.save()
    saved = sc.get_settings().raw_triggers
    assert [t["params"]["frequency"] for t in saved] == ["Minutely", "Hourly", "Daily", "Weekly", "Monthly"]
    assert all(t["id"] and "name" in t for t in saved)
    next_run = sc.get_status().next_run
    assert next_run is not None
    now = dt.datetime.now(dt.timezone.utc)
    assert now < next_run <= now + dt.timedelta(minutes=11)


def test_create_list_delete(client: dataikuapi.DSSClient) -> None:
    project = client.create_project("NEWPROJ", "New project", "admin", description="d")
    assert "NEWPROJ" in [p["projectKey"] for p in client.list_projects()]
    sc = project.create_scenario(
        "Nightly build",
        "step_based",
        definition={
            "params": {
                "steps": [{"id": "s1", "type": "build_flowitem", "params": {"emulator": {"duration": 0.5}}}]
            }
        },
    )
    assert sc.id == "NIGHTLY_BUILD"
    py = project.create_scenario("Py", "custom_python")
    assert py.get_settings().code == ""
    items = project.list_scenarios()
    assert {i.to_scenario().id for i in items} == {"NIGHTLY_BUILD", "PY"}
    assert all(not i.running for i in items)
    assert [s.id for s in project.list_scenarios(as_type="objects")] == ["NIGHTLY_BUILD", "PY"]
    assert sc.run_and_wait().get_details().steps[0].job_ids
    assert client.get_project("DEMO").list_test_scenarios()
    sc.delete()
    with pytest.raises(DataikuException, match=r"Scenario does not exist: NEWPROJ\.NIGHTLY_BUILD"):
        sc.get_status()


def test_discussions(demo: object) -> None:
    discussions = demo.get_scenario("BUILD_SALES").get_object_discussions()
    d = discussions.create_discussion("Slow build", "Why is it slow?")
    assert [x.discussion_id for x in discussions.list_discussions()] == [d.discussion_id]
    d.add_reply("Fixed now")
    got = discussions.get_discussion(d.discussion_id)
    assert [r.get_text() for r in got.get_replies()] == ["Why is it slow?", "Fixed now"]
    assert got.get_replies()[0].get_author() and got.get_replies()[0].get_timestamp() > 0
    meta = got.get_metadata()
    meta["topic"] = "Was slow"
    got.set_metadata(meta)
    assert discussions.get_discussion(d.discussion_id).get_metadata()["topic"] == "Was slow"


def test_testing_status(demo: object) -> None:
    assert demo.get_testing_status().nb_total_ran_scenarios == 0
    demo.get_scenario("TESTS_SMOKE").run_and_wait()
    demo.get_scenario("QUALITY_CHECKS").run_and_wait(no_fail=True)
    status = demo.get_testing_status()
    assert status.nb_total_ran_scenarios == 2
    assert status.nb_scenarios_per_outcome["WARNING"] == 1
    assert b"<testsuites" in demo.get_last_test_scenario_runs_report().content


def test_futures(client: dataikuapi.DSSClient, demo: object, dss_emulator: DSSEmulator) -> None:
    dss_emulator.speed = 5
    run_a = demo.get_scenario("LONG_REFRESH").run().wait_for_scenario_run()
    run_b = demo.get_scenario("BUILD_SALES").run().wait_for_scenario_run()
    running = client.list_running_scenarios()
    assert {f["payload"]["runId"] for f in running} == {run_a.id, run_b.id}
    assert client.list_futures() == []
    job = next(f["jobId"] for f in running if f["payload"]["scenarioId"] == "LONG_REFRESH")
    client.get_future(job).abort()
    run_a.refresh()
    assert run_a.outcome == "ABORTED"
    run_b.refresh()
    assert run_b.running
    demo.get_scenario("BUILD_SALES").abort()


def test_errors(client: dataikuapi.DSSClient, dss_emulator: DSSEmulator) -> None:
    with pytest.raises(DataikuException, match=r"NotFoundException: Scenario does not exist: DEMO.NOPE"):
        client.get_project("DEMO").get_scenario("NOPE").get_status()
    with pytest.raises(DataikuException, match="Project does not exist: NOPE"):
        client.get_project("NOPE").list_scenarios()
    bad = dataikuapi.DSSClient(dss_emulator.url, "wrong-key")
    with pytest.raises(DataikuException, match="NotAuthenticatedException: Unknown API Key"):
        bad.get_project("DEMO").get_scenario("BUILD_SALES").get_status()
    scoped = dataikuapi.DSSClient(dss_emulator.url, "other-project-only-key")
    with pytest.raises(DataikuException, match="UnauthorizedException: Failed to read project permissions"):
        scoped.get_project("DEMO").list_scenarios()
    assert scoped.get_project("OTHER").get_scenario("REFRESH").run_and_wait().outcome == "SUCCESS"
