"""Redaction benchmark. Run by hand; prints a table; asserts nothing.

    .venv/bin/python bench/redaction_bench.py [--before REV] [--quick]

Compares the redactor of this checkout with the one at REV (default f929cc0, the last
commit before issue 13's rework; read with `git show`, so run it inside the repository):
  1. leaks on the secret corpus and false positives on the benign corpus (tests/corpus/);
  2. redaction cost per event: the formatter's whole event build (to_event) and the
     redaction walk alone, for a typical request event and an access event;
  3. the request thread's cost per log call (the <= 15 us target): redaction is not on it;
  4. time per character of hostile inputs as they grow (linear and capped vs. not).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import subprocess
import sys
import time
import types
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "app"), str(ROOT), str(ROOT / "bench")]

from logging_bench import bench_calling_thread  # noqa: E402

from flask_logstash.captured import CAPTURED  # noqa: E402
from flask_logstash.ecs_formatter import EcsEventFormatter  # noqa: E402
from flask_logstash.redaction import Redactor  # noqa: E402
from flask_logstash.settings import LoggingSettings  # noqa: E402
from tests.corpus import (  # noqa: E402
    EXTRA_KEYS,
    benign_values,
    known_false_positives,
    leaks,
    secret_shapes,
)


def old_redactor_class(rev: str) -> type:
    source = subprocess.run(
        ["git", "show", f"{rev}:app/flask_logstash/redaction.py"], cwd=ROOT, check=True,
        capture_output=True, text=True,
    ).stdout
    module = types.ModuleType("redaction_before")
    exec(compile(source, f"{rev}:redaction.py", "exec"), module.__dict__)
    return module.Redactor


def corpus_rows(redactor) -> list[str]:
    shapes = secret_shapes()
    leaked_shapes = 0
    for shape in shapes:
        forms = [shape.text, f"note: {shape.text} (retry)", {"q": shape.raw_query}]
        if shape.name:
            forms.append({shape.name: shape.dict_value})
        if any(leaks(shape, json.dumps(redactor.redact(form), ensure_ascii=False))
               for form in forms):
            leaked_shapes += 1
    benign = benign_values()
    altered = [v for v in benign if redactor.redact_text(v) != v
               or redactor.redact({"note": v}) != {"note": v}]
    hard = known_false_positives()
    hard_altered = [v for v in hard if redactor.redact_text(v) != v]
    total = len(benign) + len(hard)
    return [
        f"secret shapes leaking in some position: {leaked_shapes} of {len(shapes)}",
        f"benign corpus altered: {len(altered)} of {len(benign)} {altered}",
        f"known hard cases altered: {len(hard_altered)} of {len(hard)}",
        f"false-positive rate, benign + hard cases: "
        f"{(len(altered) + len(hard_altered)) / total:.1%} of {total}",
    ]


def generated_benign_rows(redactor, count: int) -> list[str]:
    """False positives on generated values of kinds events are full of."""
    rng = random.Random(13)
    kinds = {
        "hex ids (32)": lambda: f"{rng.getrandbits(128):032x}",
        "UUIDs": lambda: str(uuid.UUID(int=rng.getrandbits(128))),
        "decimal ids (6-12 digits)": lambda: str(rng.randrange(10**5, 10**12)),
        "epoch milliseconds": lambda: str(rng.randrange(10**12, 2 * 10**12)),
        "prices": lambda: f"{rng.randrange(0, 10**6) / 100:.2f} EUR",
        "IPv4 addresses": lambda: ".".join(str(rng.randrange(256)) for _ in range(4)),
        "digit runs of 13-19 (order and tracking numbers)": lambda: str(
            rng.randrange(10**12, 10**19)),
    }
    rows = []
    for label, make in kinds.items():
        values = [make() for _ in range(count)]
        altered = sum(redactor.redact_text(v) != v for v in values)
        rows.append(f"generated {label}: {altered} of {count} altered ({altered / count:.2%})")
    return rows


def typical_record() -> logging.LogRecord:
    record = logging.LogRecord("orders.api", logging.INFO, __file__, 10,
                               "created order %d for %s", (4711, "alice"), None)
    record.event_id = "0" * 32
    record.request_context = {
        "http": {"request": {"id": "9c176797908372251769bd478648f6a2", "method": "POST"}},
        "url": {"path": "/api/orders", "query": "page=2&sort=asc"},
        "flask": {"route": "/api/orders"},
        "client": {"ip": "10.0.0.7", "address": "10.0.0.7"},
        "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101"
                                   " Firefox/133.0"},
    }
    record.order = {"id": 4711, "items": 3, "total_cents": 12990, "currency": "EUR",
                    "note": "leave at the door"}
    return record


def access_record() -> logging.LogRecord:
    record = logging.LogRecord("flask_logstash.access", logging.INFO, __file__, 10,
                               "%s %s %s %.1fms", ("GET", "/api/items", 200, 1.5), None)
    record.event_id = "1" * 32
    record.request_context = typical_record().request_context
    record.ecs = {"event": {"dataset": "flask.access", "duration": 1500000,
                            "category": ["web"], "type": ["access"], "outcome": "success"},
                  "http": {"response": {"status_code": 200, "body": {"bytes": 512}}}}
    return record


def per_event_us(func, n: int) -> float:
    samples = []
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(n):
            func()
        samples.append((time.perf_counter_ns() - start) / n / 1000)
    return statistics.median(samples)


def clean_cache_of(redactor) -> set[str] | None:
    """The set of texts a redactor remembers as clean, or None for one without it (a
    `--before` revision older than the cache). Named `known_clean` on the Redactor since
    3d8d16f; `_text._clean` before it."""
    cache = getattr(redactor, "known_clean", None)
    if cache is None:
        cache = getattr(getattr(redactor, "_text", None), "_clean", None)
    return cache


def cost_rows(redactor_class, n: int) -> list[str]:
    formatter = EcsEventFormatter(LoggingSettings(logstash_port=1))
    formatter._redactor = redactor_class(EXTRA_KEYS)
    redactor = formatter._redactor
    clean_cache = clean_cache_of(redactor)
    rows = []
    for label, record in (("app event", typical_record()), ("access event", access_record())):
        context, counter = record.request_context, iter(range(10**9))
        message, args = record.msg, record.args

        def build(record=record, context=context, counter=counter, cold=False,
                  message=message, args=args):
            # A new context dict and new numbers in the message and query per event: the
            # formatter caches a request's redacted context and the redactor remembers
            # clean strings, so repeating one event would measure the caches. Formatting
            # freezes the message (args become None) and keeps what it captured on the
            # record, so each event starts from the call's own message and arguments.
            number = next(counter)
            record.msg, record.args = message, (number, *args[1:])
            record.__dict__.pop(CAPTURED, None)
            record.request_context = {**context, "url": {"path": context["url"]["path"],
                                                         "query": f"page={number}&sort=asc"}}
            if cold and clean_cache is not None:
                clean_cache.clear()
            formatter.to_event(record)

        rows.append(f"{label}: to_event {per_event_us(build, n):.1f} us")
        if clean_cache is not None:
            rows.append(f"{label}: to_event, no string remembered "
                        f"{per_event_us(lambda b=build: b(cold=True), n):.1f} us")
        supplied = {"message": record.getMessage(), **record.request_context,
                    "flask": {"extra": getattr(record, "order", {})},
                    **getattr(record, "ecs", {})}

        def walk(supplied=supplied):
            if clean_cache is not None:
                clean_cache.clear()
            redactor.redact_into({}, supplied)

        rows.append(f"{label}: redaction walk alone, nothing remembered "
                    f"{per_event_us(walk, n):.1f} us")
    return rows


HOSTILE = {
    "jwt-like 'eyJ-' runs": lambda n: "eyJ-" * (n // 4),
    "digits": lambda n: "4" * n,
    "'password=' repeated": lambda n: "password=" * (n // 9),
    "'a=' repeated": lambda n: "a=" * (n // 2),
    "Cookie header lines": lambda n: "Cookie: x\n" * (n // 10),
}


def hostile_rows(redactor, sizes: list[int]) -> list[str]:
    rows = []
    for label, make in HOSTILE.items():
        cells = []
        for size in sizes:
            text = make(size)
            start = time.perf_counter()
            redactor.redact_text(text)
            elapsed = time.perf_counter() - start
            cells.append(f"{size // 1000}K: {elapsed * 1e3:.1f} ms")
        rows.append(f"{label}: " + ", ".join(cells))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", default="f929cc0")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 2000 if args.quick else 20000
    before = old_redactor_class(args.before)
    print(f"== corpus (before = {args.before}) ==")
    for name, redactor in (("before", before(EXTRA_KEYS)), ("after", Redactor(EXTRA_KEYS))):
        for row in corpus_rows(redactor) + generated_benign_rows(redactor, n):
            print(f"{name:6} {row}")
    print("== redaction cost per event (delivery thread) ==")
    for name, cls in (("before", before), ("after", Redactor)):
        for row in cost_rows(cls, n):
            print(f"{name:6} {row}")
    print("== request thread, per log call (target <= 15 us) ==")
    for label, value in bench_calling_thread(n):
        print(f"after  {label}: {value}")
    print("== hostile input, time for one string ==")
    for row in hostile_rows(Redactor(), [10_000, 100_000, 1_000_000]):
        print(f"after  {row}")
    for row in hostile_rows(before(), [5_000, 10_000, 20_000]):
        print(f"before {row}")


if __name__ == "__main__":
    main()
