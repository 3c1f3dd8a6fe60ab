"""`docker compose up -d --wait` is deterministic: it returns 0 only after every one-shot job
has exited 0, and fails naming the job otherwise.

Compose's rule (docker/compose pkg/compose/start.go, v2.40): a service that another service
depends on with `service_completed_successfully` must exit 0; every other service must be
running (healthy, if it has a healthcheck). An exited container that nothing adopted fails
`--wait`, or is not awaited at all when it is still running (docker/compose#10596).
"""

import copy

import pytest

from tests.support.compose_cli import long_running, one_shot_jobs

COMPLETED = "service_completed_successfully"


def unadopted_jobs(model):
    adopted = {dep for service in model["services"].values()
               for dep, spec in (service.get("depends_on") or {}).items()
               if spec["condition"] == COMPLETED}
    return sorted(one_shot_jobs(model) - adopted)


def awaited_as_jobs(model):
    """Long-running services something waits on to *exit*: `up` would never get there."""
    return sorted({dep for service in model["services"].values()
                   for dep, spec in (service.get("depends_on") or {}).items()
                   if spec["condition"] == COMPLETED} & long_running(model))


def test_the_stack_has_the_one_shot_jobs_it_documents(stack):
    assert one_shot_jobs(stack) == {"setup", "provision-es", "provision-kibana"}


def test_every_one_shot_job_is_adopted(model):
    assert unadopted_jobs(model) == []


def test_no_long_running_service_is_awaited_as_a_job(model):
    assert awaited_as_jobs(model) == []


def test_the_adoption_check_sees_an_unadopted_job(stack):
    broken = copy.deepcopy(stack)
    for service in broken["services"].values():
        (service.get("depends_on") or {}).pop("provision-kibana", None)
    assert unadopted_jobs(broken) == ["provision-kibana"]


def test_kibana_objects_are_awaited_by_a_long_running_service(model):
    """`--wait` returning 0 must mean the saved objects exist: a service that stays up waits
    for provision-kibana, so its failure fails `up` with the job's name."""
    adopters = [name for name, service in model["services"].items()
                if (service.get("depends_on") or {}).get("provision-kibana", {})
                .get("condition") == COMPLETED]
    assert set(adopters) & long_running(model)


def test_every_long_running_service_has_a_bounded_healthcheck(model):
    for name in long_running(model):
        check = model["services"][name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        # A finite budget: --wait fails instead of hanging when a service never gets healthy.
        assert check.get("retries", 0) > 0, name
        assert check.get("interval"), name


def test_dependencies_on_long_running_services_wait_for_health(model):
    for name, service in model["services"].items():
        for dep, spec in (service.get("depends_on") or {}).items():
            if dep in long_running(model):
                assert spec["condition"] == "service_healthy", f"{name} -> {dep}"
                assert spec.get("required", True), f"{name} -> {dep}"


def test_jobs_never_restart_and_services_always_do(model):
    for name, service in model["services"].items():
        expected = "no" if name in one_shot_jobs(model) else "unless-stopped"
        assert service.get("restart", "no") == expected, name


@pytest.mark.parametrize("job", ["setup", "provision-es", "provision-kibana"])
def test_a_job_failure_stops_what_depends_on_it(stack, job):
    """Adopted with required: true, so a non-zero exit fails `up` naming the job."""
    specs = [service["depends_on"][job] for service in stack["services"].values()
             if job in (service.get("depends_on") or {})]
    assert specs
    assert all(spec["condition"] == COMPLETED and spec.get("required", True) for spec in specs)
