"""The sample service's image, built from app/Dockerfile and run for real."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.stack import poll
from tests.support.ndjson_listener import NdjsonListener

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # the first test pays for the build


@pytest.fixture(scope="module")
def app_container():
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.image import DockerImage

    listener = NdjsonListener(host="0.0.0.0").start()
    with DockerImage(path=str(REPO_ROOT / "app"), tag="flask-elk-app:e2e") as image:
        container = (
            DockerContainer(str(image))
            .with_exposed_ports(8000)
            .with_env("LOGSTASH_HOST", "host.docker.internal")
            .with_env("LOGSTASH_PORT", str(listener.port))
            .with_env("SERVICE_NAME", "e2e-app")
            .with_kwargs(extra_hosts={"host.docker.internal": "host-gateway"})
        )
        with container:
            base = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(8000)}"
            try:
                poll(lambda: urllib.request.urlopen(base + "/healthz", timeout=2).status == 200,
                     60, "the app's /healthz", interval=0.5)
            except AssertionError:
                print(container.get_logs())
                raise
            yield container, base, listener
    listener.stop()


def test_image_runs_as_non_root(app_container):
    container, _, _ = app_container
    code, output = container.exec(["id", "-u"])
    assert code == 0
    assert output.decode().strip() != "0"


def test_image_declares_a_healthcheck_that_turns_healthy(app_container):
    container, _, _ = app_container

    def health():
        container.get_wrapped_container().reload()
        return container.get_wrapped_container().attrs["State"].get("Health", {})

    poll(lambda: health().get("Status") == "healthy", 60, "a healthy container", interval=1)


def test_events_from_the_container_reach_logstash(app_container):
    _, base, listener = app_container
    req = urllib.request.Request(base + "/api/items", headers={"X-Request-ID": "e2e-image-1"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read())["items"]
    events = listener.wait_for(
        lambda evs: any(e.get("http", {}).get("request", {}).get("id") == "e2e-image-1"
                        and e["event"]["dataset"] == "flask.access" for e in evs),
        timeout=30,
    )
    (access,) = [e for e in events if e.get("http", {}).get("request", {}).get("id")
                 == "e2e-image-1" and e["event"]["dataset"] == "flask.access"]
    assert access["service"]["name"] == "e2e-app"
    assert access["http"]["response"]["status_code"] == 200
