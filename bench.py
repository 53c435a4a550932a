#!/usr/bin/env python3
"""Throughput of foundation.py on the origin document's benchmark, beside the other libraries.

    python bench.py                     # foundation and the standard library, a few minutes
    python bench.py --compare --check   # also every peer that is installed; exit 1 on a missed target
    python bench.py --scenario simple,fields5 --n 200000 --repeat 5
    python bench.py --json results.json

The scenarios are the document's ("Performance Testing" in performance-tuning.md),
call for call: ``log.info("test_message", index=i)``, five fields built per call,
and so on (listed below). Each run is a fresh interpreter that imports the
library, then times the whole life of a logging set-up as a program lives it:
the library's configuration for a real temporary file, the calls, the drain
(for a library that writes from a thread) and the shutdown that closes the
file. Every line is then read back: a run whose file does not hold exactly
one line per record, each with every field and each index once, is reported
as failed. Each library is set up as its documentation advises for a file.

Machines drift (a shared 2-core machine can run 20 % slower for a few
seconds), so runs are interleaved: each round runs every scenario once for
every library, a scenario's comparisons right after it. The rates shown are
medians over the rounds; a target's ratio is the median over the rounds of the
ratio within each round (so it may differ a little from the ratio of the two
medians shown beside it).

Also measured: the latency of one call while the sink is slow (20 µs a
write, ``overflow="drop"``), the memory growth of 1,000,000 records through
such a sink with the default queue, and what interning saves.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import dataclasses
import json
import logging
import logging.handlers
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
EVENT = "test_message"

# ---------------------------------------------------------------------------
# Scenarios: what is called, as the document writes it. One entry a scenario.
# ---------------------------------------------------------------------------

#: The document's "With fields": five values, three of them built per call.
FIVE = "index=i, user_id=f'usr_{i}', session_id=f'ses_{i}', timestamp=time.time(), status='active'"
#: "With 10 fields": the five, and five more of the kinds a request log has.
TEN = FIVE + ", method='GET', path=f'/api/items/{i % 50}', status_code=200, duration_ms=12.5, cached=False"
#: "With emoji processing": the domain/action/status fields foundation marks with emoji.
DAS = "index=i, domain='auth', action='login', status='success'"
#: "With context binding": three fields bound once, then every call adds ``index=i``.
BOUND = "request_id='req-42', tenant='acme', region='eu-west-1'"


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One row: the call's keyword arguments (source text, ``i`` the record's number) and its shape."""

    what: str
    call: str = "index=i"
    #: how the calls are made: one of SHAPES
    shape: str = "loop"
    #: "text" (each library's key=value or plain line), "json" or "logfmt"
    format: str = "text"
    #: foundation's configure() options; a scenario with some is foundation's alone
    options: dict = dataclasses.field(default_factory=dict)
    #: "all" lines written, "none", or "sampled" (RateSampler(0.01) decides)
    written: str = "all"
    #: how many times ``--n`` records a run logs, for every library
    scale: float = 1.0

    @property
    def foundation_only(self) -> bool:
        return bool(self.options) or self.shape == "batch"

    def field_names(self) -> list[str]:
        names = [name for name, _ in keywords(self.call)]
        return names + ([name for name, _ in keywords(BOUND)] if self.shape == "bound" else [])


SCENARIOS = {
    "simple": Scenario("Simple message: log.info('test_message', index=i)"),
    "fields5": Scenario("With 5 fields: " + FIVE, FIVE),
    "fields10": Scenario("With 10 fields: the five, and method, path, status_code, duration_ms, "
                         "cached", TEN),
    "json5": Scenario("The 5 fields, as one JSON object a line", FIVE, format="json"),
    "emoji": Scenario("With emoji processing: index=i, domain='auth', action='login', "
                      "status='success' (foundation marks them: its default in key_value)", DAS),
    "bound": Scenario("With context binding: bound = log.bind(" + BOUND + "), then "
                      "bound.info('test_message', index=i)", shape="bound"),
    "async_gather": Scenario("Async: await asyncio.gather(*[log.ainfo('test_message', index=i) "
                             "for i in range(n)]), n a fifth of --n", shape="gather", scale=0.2),
    "batch100": Scenario("Batch logging (100): log.batch(100) blocks of simple messages",
                         shape="batch"),
    "disabled": Scenario("log.debug('test_message', index=i) with the level at INFO: nothing "
                         "written; 10 times --n calls", shape="disabled", written="none", scale=10),
    # foundation's own rows, for the targets of earlier issues
    "sync_simple": Scenario("Simple, mode='sync': written in the caller's thread",
                            options={"mode": "sync"}),
    "sync_fields5": Scenario("With 5 fields, mode='sync'", FIVE, options={"mode": "sync"}),
    "logfmt5": Scenario("The 5 fields as logfmt", FIVE, format="logfmt", options={"format": "logfmt"}),
    "async_seq": Scenario("await log.ainfo('test_message', index=i), one after the other",
                          shape="sequence"),
    "sampled": Scenario("Simple, through RateSampler(0.01): 1 % written",
                        options={"samplers": "RateSampler(0.01)"}, written="sampled"),
    "ring_written": Scenario("Simple, with ring_buffer=10000: written and kept",
                             options={"ring_buffer": 10_000}),
    "ring_only": Scenario("log.debug('test_message', index=i) at INFO with ring_buffer=10000: "
                          "kept only", shape="disabled", options={"ring_buffer": 10_000},
                          written="none"),
}

#: How the calls are made, for any library: ``{args}`` is the library's form of the
#: scenario's arguments (event first), ``{bind}`` its way to bind BOUND.
SHAPES = {
    "loop": "for i in range(n):\n    log.info({args})",
    "disabled": "for i in range(n):\n    log.debug({args})",
    "bound": "bound = {bind}\nfor i in range(n):\n    bound.info({args})",
    "gather": ("async def main():\n    await asyncio.gather(*[log.ainfo({args}) for i in range(n)])\n"
               "asyncio.run(main())"),
    "sequence": "async def main():\n    for i in range(n):\n        await log.ainfo({args})\n"
                "asyncio.run(main())",
    "batch": ("for first in range(0, n, 100):\n    with log.batch(100) as batch:\n"
              "        for i in range(first, first + 100):\n            batch.info({args})"),
}


@dataclasses.dataclass(frozen=True)
class Target:
    """A promise: foundation's ``scenario`` runs at least ``minimum`` times ``library``'s ``reference``."""

    scenario: str
    library: str
    reference: str
    minimum: float

    def label(self) -> str:
        them = "our" if self.library == "foundation" else self.library
        return f"{self.scenario} vs {them} {self.reference}"


TARGETS = [
    Target("simple", "structlog", "simple", 2.5),
    Target("simple", "picologging", "simple", 1.3),
    Target("fields5", "structlog", "fields5", 2.0),
    Target("fields5", "picologging", "fields5", 1.0),
    Target("json5", "structlog", "json5", 1.6),
    Target("bound", "foundation", "simple", 0.95),
    Target("disabled", "stdlib", "disabled", 1.0),
    Target("batch100", "foundation", "simple", 1.3),
    Target("async_gather", "structlog", "async_gather", 5.0),
    # earlier issues' targets
    Target("sync_simple", "stdlib", "simple", 1.5),
    Target("sync_fields5", "stdlib", "fields5", 1.5),
    Target("sampled", "foundation", "simple", 4.0),  # a record a sampler drops costs a quarter
    Target("ring_only", "foundation", "ring_written", 3.0),  # a record only kept costs a third
    Target("async_seq", "foundation", "simple", 0.8),
]

LATENCY_P99_US = 10  # caller p99 with a slow sink must stay under this
MEMORY_MB = 50  # 1,000,000 records through a slow sink grow the peak RSS by less than this

#: The scenario whose ResourceMonitor snapshot (last round) the report shows.
MONITORED = "simple"
#: The seed of the "sampled" scenario's RateSampler, so that its written lines can be counted.
SAMPLER_SEED = 8


def keywords(call: str) -> list[tuple[str, str]]:
    """The (name, source of the value) pairs of a call's keyword arguments."""
    return [(k.arg, ast.unparse(k.value)) for k in ast.parse(f"f({call})").body[0].value.keywords]


# ---------------------------------------------------------------------------
# Libraries: each set up for a file as its documentation advises
# ---------------------------------------------------------------------------

class Library:
    """How a library is set up for a file, how it takes fields, and how it shuts down.

    ``start()`` and ``finish()`` are timed, with the calls between them; the
    import is not. ``arguments()`` turns a scenario's keywords into this
    library's call, which the scenario's shape is compiled with.
    """

    name = ""
    module = ""  # what must be importable
    shapes = ("loop", "disabled", "bound")
    formats = ("text", "json")
    #: fields the library writes its own value under, losing the call's (not checked)
    overwrites: tuple = ()
    #: the share of ``--n`` a run of it logs: the slowest run fewer records, so a round
    #: stays short; its set-up is under 2 % of such a run
    share = 1.0

    def runs(self, scenario: Scenario) -> bool:
        return (not scenario.foundation_only and scenario.shape in self.shapes
                and scenario.format in self.formats)

    def start(self, scenario: Scenario, path: str) -> Any:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError

    def arguments(self, call: str) -> str:
        """Fields as keyword arguments, as structlog, loguru and foundation take them."""
        return f"{EVENT!r}, {call}"

    def bind(self, fields: str) -> str:
        return f"log.bind({fields})"

    def namespace(self) -> dict:
        """Names the compiled calls may use, besides ``log`` and ``n``."""
        return {"time": time, "asyncio": asyncio}


class Foundation(Library):
    name = module = "foundation"
    shapes = tuple(SHAPES)
    formats = ("text", "json", "logfmt")

    def runs(self, scenario: Scenario) -> bool:
        return True

    def start(self, scenario: Scenario, path: str) -> Any:
        sys.path.insert(0, HERE)
        import foundation

        self.foundation = foundation
        options = dict(scenario.options)
        if "samplers" in options:
            options["samplers"] = {EVENT: foundation.RateSampler(0.01, seed=SAMPLER_SEED)}
        if scenario.format == "json":
            options["format"] = "json"
        foundation.configure(file=path, level="INFO", **options)
        self.monitor = foundation.ResourceMonitor()
        return foundation.get_logger("bench")

    def finish(self) -> None:
        if not self.foundation.flush(timeout=120):
            raise RuntimeError("flush() timed out")
        self.snapshot = self.monitor.snapshot()
        ring = self.foundation.get_ring_buffer()
        self.kept = None if ring is None else ring.total
        self.foundation.shutdown()


STD_FORMAT = "%(asctime)s [%(levelname)s] %(name)s: %(message)s"


class _JsonFormatter(logging.Formatter):
    """The cookbook's JSON formatter: the record's ``extra=`` attributes as keys."""

    standard = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}

    def format(self, record: logging.LogRecord) -> str:
        data = {"timestamp": self.formatTime(record), "level": record.levelname.lower(),
                "logger": record.name, "event": record.getMessage()}
        data.update((k, v) for k, v in record.__dict__.items() if k not in self.standard)
        return json.dumps(data)


class _MergingAdapter(logging.LoggerAdapter):
    """A LoggerAdapter that keeps the call's ``extra=`` (before 3.13 ``process()`` replaces it)."""

    def process(self, msg: Any, kwargs: Any) -> tuple:
        kwargs["extra"] = {**self.extra, **kwargs["extra"]} if "extra" in kwargs else self.extra
        return msg, kwargs


def _extra(call: str) -> str:
    """A call's keywords as the standard library's ``extra=`` dict."""
    return f"{EVENT!r}, extra={{" + ", ".join(f"{k!r}: {v}" for k, v in keywords(call)) + "}"


class Stdlib(Library):
    """``logging.basicConfig(filename=...)`` (the HOWTO's file set-up); fields through ``extra=``."""

    name, module = "stdlib", "logging"

    def start(self, scenario: Scenario, path: str) -> Any:
        self.handler = logging.FileHandler(path, encoding="utf-8")
        self.handler.setFormatter(self.formatter(scenario))
        logging.basicConfig(level=logging.INFO, handlers=[self.wrap(self.handler)], force=True)
        return logging.getLogger("bench")

    def formatter(self, scenario: Scenario) -> logging.Formatter:
        if scenario.format == "json":
            return _JsonFormatter()
        return logging.Formatter(STD_FORMAT + "".join(f" {k}=%({k})s" for k in scenario.field_names()))

    def wrap(self, handler: logging.Handler) -> logging.Handler:
        return handler

    def finish(self) -> None:
        logging.shutdown()

    arguments = staticmethod(_extra)

    def bind(self, fields: str) -> str:
        return f"_MergingAdapter(log, dict({fields}))"

    def namespace(self) -> dict:
        return {**super().namespace(), "_MergingAdapter": _MergingAdapter}


class StdlibQueue(Stdlib):
    """The cookbook's "Dealing with handlers that block": QueueHandler + QueueListener."""

    name = "stdlib queue"

    def wrap(self, handler: logging.Handler) -> logging.Handler:
        records: queue.Queue = queue.Queue(-1)
        self.listener = logging.handlers.QueueListener(records, handler, respect_handler_level=True)
        self.listener.start()
        return logging.handlers.QueueHandler(records)

    def finish(self) -> None:
        self.listener.stop()  # drains the queue
        logging.shutdown()


class Structlog(Library):
    """performance.md's production set-up: a filtering bound logger, WriteLoggerFactory, cached."""

    name = module = "structlog"
    shapes = ("loop", "disabled", "bound", "gather", "sequence")
    overwrites = ("timestamp",)  # its TimeStamper's

    def start(self, scenario: Scenario, path: str) -> Any:
        import structlog

        self.stream = open(path, "a", encoding="utf-8")
        renderer = (structlog.processors.JSONRenderer() if scenario.format == "json" else
                    structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]))
        structlog.configure(
            cache_logger_on_first_use=True,
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                        structlog.processors.format_exc_info,
                        structlog.processors.TimeStamper(fmt="iso", utc=True), renderer],
            logger_factory=structlog.WriteLoggerFactory(file=self.stream))
        return structlog.get_logger().bind()  # performance.md: bind once, call the bound logger

    def finish(self) -> None:
        self.stream.close()


class Loguru(Library):
    """The README's ``logger.add(path, ...)``; ``complete()`` drains, ``remove()`` closes."""

    name = module = "loguru"
    enqueue = False

    def start(self, scenario: Scenario, path: str) -> Any:
        from loguru import logger

        logger.remove()
        options: dict = {"enqueue": self.enqueue, "level": "INFO", "encoding": "utf-8"}
        if scenario.format == "json":
            options["serialize"] = True
        else:
            options["format"] = ("{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line}"
                                 " - {message} | {extra}")
        logger.add(path, **options)
        self.logger = logger
        return logger

    def finish(self) -> None:
        self.logger.complete()
        self.logger.remove()


class LoguruEnqueue(Loguru):
    name = "loguru enqueue"
    enqueue = True
    share = 0.2


class Picologging(Library):
    """A ``FileHandler`` as in logging. It drops ``extra=``: fields go in the message; a bound
    logger is a Filter that sets the bound attributes, written by the format."""

    name = module = "picologging"
    formats = ("text",)

    def start(self, scenario: Scenario, path: str) -> Any:
        import picologging

        self.handler = picologging.FileHandler(path, encoding="utf-8")
        bound = "".join(f" {k}=%({k})s" for k, _ in keywords(BOUND)) if scenario.shape == "bound" else ""
        self.handler.setFormatter(picologging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"
                                                        + bound))
        log = picologging.getLogger("bench")
        log.setLevel(picologging.INFO)
        log.propagate = False
        log.addHandler(self.handler)
        return log

    def finish(self) -> None:
        self.handler.close()

    def arguments(self, call: str) -> str:
        pairs = keywords(call)
        message = " ".join([EVENT] + [f"{k}=%s" for k, _ in pairs])
        return ", ".join([repr(message)] + [v for _, v in pairs])

    def bind(self, fields: str) -> str:
        return f"_bind_picologging(log, dict({fields}))"

    def namespace(self) -> dict:
        return {**super().namespace(), "_bind_picologging": _bind_picologging}


def _bind_picologging(log: Any, fields: dict) -> Any:
    """Add a filter to ``log`` that sets ``fields`` on each record; return ``log``."""
    import picologging

    class Bind(picologging.Filter):
        def filter(self, record: Any) -> bool:
            record.__dict__.update(fields)
            return True

    log.addFilter(Bind())
    return log


class Logbook(Library):
    """setups.rst: a ``FileHandler`` pushed for the application; fields through ``extra=``,
    written by the format string; a bound logger is a pushed ``Processor``."""

    name = module = "logbook"
    formats = ("text",)

    def __init__(self) -> None:
        self.pushed: list = []  # what start() and a bind pushed, popped by finish()

    def start(self, scenario: Scenario, path: str) -> Any:
        import logbook

        self.logbook = logbook
        fields = "".join(f" {k}={{record.extra[{k}]}}" for k in scenario.field_names())
        self.handler = logbook.FileHandler(
            path, level="INFO", encoding="utf-8", bubble=False,
            format_string="[{record.time:%Y-%m-%d %H:%M:%S.%f%z}] {record.level_name}: "
                          "{record.channel}: {record.message}" + fields)
        self.handler.push_application()
        self.pushed[:] = [self.handler]
        return logbook.Logger("bench", level=logbook.INFO)

    def finish(self) -> None:
        for pushed in reversed(self.pushed):
            pushed.pop_application()
        self.handler.close()

    arguments = staticmethod(_extra)

    def bind(self, fields: str) -> str:
        return f"_bind_logbook(log, dict({fields}), pushed)"

    def namespace(self) -> dict:
        return {**super().namespace(), "_bind_logbook": _bind_logbook, "pushed": self.pushed}


def _bind_logbook(log: Any, fields: dict, pushed: list) -> Any:
    """Push a Processor that adds ``fields`` to every record's extra; return ``log``."""
    import logbook

    processor = logbook.Processor(lambda record: record.extra.update(fields))
    processor.push_application()
    pushed.append(processor)
    return log


class ProvideFoundation(Library):
    """The document's own ``from provide.foundation import logger``, configured with a log file."""

    name, module = "provide.foundation", "provide.foundation"
    share = 0.2
    overwrites = ("timestamp",)  # its TimeStamper's, at the start of the line

    def start(self, scenario: Scenario, path: str) -> Any:
        from pathlib import Path

        from provide.foundation import LoggingConfig, TelemetryConfig, get_hub, logger

        get_hub().initialize_foundation(TelemetryConfig(service_name="bench", logging=LoggingConfig(
            default_level="INFO", console_formatter="json" if scenario.format == "json" else "key_value",
            log_file=Path(path))), force=True)
        return logger

    def finish(self) -> None:
        from provide.foundation import shutdown_foundation
        from provide.foundation.streams.file import close_log_streams

        asyncio.run(shutdown_foundation())  # flushes (a coroutine in 0.4)
        close_log_streams()


LIBRARIES = {library.name: library for library in (
    Foundation(), Stdlib(), StdlibQueue(), Structlog(), Loguru(), LoguruEnqueue(), Picologging(),
    Logbook(), ProvideFoundation())}
#: What runs without --compare: foundation, and the standard library every target needs.
ALWAYS = ("foundation", "stdlib")


# ---------------------------------------------------------------------------
# One run: in a fresh interpreter, timed, then every line checked
# ---------------------------------------------------------------------------

def compiled(library: Library, scenario: Scenario) -> Callable[[Any, int], None]:
    """The scenario's calls for ``library``, compiled as a function of ``(log, n)``."""
    body = SHAPES[scenario.shape].format(args=library.arguments(scenario.call), bind=library.bind(BOUND))
    source = "def calls(log, n):\n" + "".join(f"    {line}\n" for line in body.splitlines())
    namespace = library.namespace()
    exec(compile(source, f"<{library.name} {scenario.shape}>", "exec"), namespace)
    return namespace["calls"]


def run(library_name: str, scenario_name: str, n: int) -> dict:
    """Time one run of ``scenario_name`` for ``library_name`` in this interpreter, then check its file."""
    library, scenario = LIBRARIES[library_name], SCENARIOS[scenario_name]
    calls = compiled(library, scenario)
    if library.module != "logging":
        __import__(library.module)  # the import is not timed
    fd, path = tempfile.mkstemp(prefix="bench-", suffix=".log")
    os.close(fd)
    try:
        start = time.perf_counter()
        log = library.start(scenario, path)
        calls(log, n)
        library.finish()
        seconds = time.perf_counter() - start
        result = {"seconds": seconds, "problem": check_lines(path, scenario, n, library.overwrites)}
        if isinstance(library, Foundation):
            result["monitor"] = library.snapshot
            if library.kept is not None and library.kept != n:
                result["problem"] = f"the ring buffer kept {library.kept:,} records, not {n:,}"
        return result
    finally:
        os.unlink(path)


_INDEX = re.compile(r"index\W{1,3}(\d+)")


def _sampled_indexes(n: int) -> set:
    """The records the ``sampled`` scenario's sampler keeps: its decisions, replayed."""
    sys.path.insert(0, HERE)
    import foundation

    sampler = foundation.RateSampler(0.01, seed=SAMPLER_SEED)
    record = logging.makeLogRecord({"name": "bench", "msg": EVENT})
    return {i for i in range(n) if sampler.filter(record)}


def check_lines(path: str, scenario: Scenario, n: int, overwritten: tuple = ()) -> str | None:
    """What is wrong with the file: a line missing or twice, a field missing, a JSON line that is not."""
    with open(path, encoding="utf-8", errors="replace") as lines:
        found = [line for line in lines if EVENT in line]
    expected = {"all": set(range(n)), "none": set(), "sampled": None}[scenario.written]
    if expected is None:
        expected = _sampled_indexes(n)
    if len(found) != len(expected):
        return f"expected {len(expected):,} lines, found {len(found):,}"
    names = [name for name in scenario.field_names() if name not in overwritten]
    indexes = set()
    for line in found:
        missing = [name for name in names if name not in line]
        if missing:
            return f"a line lacks {', '.join(missing)}: {line[:120]!r}"
        if scenario.format == "json":
            try:
                json.loads(line)
            except ValueError:
                return f"a line is not JSON: {line[:120]!r}"
        match = _INDEX.search(line)
        if match:
            indexes.add(int(match.group(1)))
    if indexes != expected:
        return f"{len(expected - indexes):,} indexes missing or repeated"
    return None


# ---------------------------------------------------------------------------
# Caller latency, memory and interning, with a slow or held sink
# ---------------------------------------------------------------------------

class _SlowSink:
    """A sink that takes at least ``delay`` seconds a write (the GIL is released, as for real I/O)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lines = 0

    def write(self, text: str) -> None:
        self.lines += text.count("\n")
        time.sleep(self.delay)


def run_latency(n: int) -> dict:
    sys.path.insert(0, HERE)
    import foundation

    sink = _SlowSink(20e-6)
    foundation.configure(stream=sink, overflow="drop")
    log = foundation.get_logger("bench")
    clock = time.perf_counter_ns
    samples = []
    for i in range(n):
        start = clock()
        log.info(EVENT, index=i)
        samples.append(clock() - start)
    foundation.flush(timeout=60)
    stats = foundation.stats()
    samples.sort()
    return {"p50_us": samples[n // 2] / 1000, "p99_us": samples[int(n * 0.99)] / 1000,
            "max_us": samples[-1] / 1000, "dropped": stats["dropped"], "written": stats["written"],
            "emitted": stats["emitted"], "lines": sink.lines}


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, AttributeError):
        return None


def run_memory(n: int) -> dict:
    sys.path.insert(0, HERE)
    import resource

    import foundation

    sink = _SlowSink(20e-6)
    foundation.configure(stream=sink)  # default queue size, overflow="block"
    log = foundation.get_logger("bench")
    for i in range(10_000):  # warm up: caches, the writer thread, the allocator
        log.info(EVENT, index=i)
    foundation.flush()
    before, peak_before = _rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    for i in range(n):
        log.info(EVENT, index=i, user_id=f"usr_{i}")
    foundation.flush()
    elapsed = time.perf_counter() - start
    after, peak_after = _rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"records": n, "seconds": elapsed, "rss_before_mb": before, "rss_after_mb": after,
            "peak_growth_mb": peak_after - peak_before, "lines": sink.lines - 10_000,
            "dropped": foundation.stats()["dropped"]}


class _HeldSink:
    """A sink that holds its first write until released: the records behind it wait in the queue."""

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()

    def write(self, text: str) -> None:
        self.release.wait(120)


def run_interning(n: int) -> dict:
    """The memory ``n`` queued records take, their string values built per call (as f-strings
    are), with and without ``intern``: what interning saves."""
    sys.path.insert(0, HERE)
    import tracemalloc

    import foundation

    result: dict = {"records": n}
    for intern in (False, True):
        sink = _HeldSink()
        foundation.configure(stream=sink, queue_size=n + 10, intern=intern)
        log = foundation.get_logger("bench")
        log.info(EVENT)  # the writer takes it and is held in the sink's write()
        time.sleep(0.2)
        tracemalloc.start()
        for i in range(n):  # 100 users, 3 regions, 50 paths: values repeat, objects do not
            log.info(EVENT, user=f"usr_{i % 100}", region=f"eu-{i % 3}", path=f"/api/items/{i % 50}")
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        result["with_mb" if intern else "without_mb"] = held / 1e6
        sink.release.set()
        foundation.flush()
    result["stats"] = foundation.intern_stats()
    foundation.shutdown()
    return result


#: The measurements that are not a scenario: name -> (function, records)
EXTRAS = {"latency": (run_latency, 20_000), "memory": (run_memory, 1_000_000),
          "interning": (run_interning, 100_000)}


def worker(library: str, scenario: str, n: int) -> dict:
    if scenario in EXTRAS:
        return EXTRAS[scenario][0](n)
    return run(library, scenario, n)


def spawn(library: str, scenario: str, n: int) -> dict:
    """Run ``worker`` in a fresh interpreter and return its result."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", library, scenario, str(n)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["exit %d" % done.returncode])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# Main: the rounds, then the report
# ---------------------------------------------------------------------------

def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def plan_round(names: list[str], libraries: list[str]) -> list[tuple[str, str, str]]:
    """One round's runs, as (library, scenario, key of its result), comparisons right after
    their scenario; a target on our own reference scenario gets a run of it just before."""
    runs = []
    for name in names:
        for target in TARGETS:
            if target.scenario == name and target.library == "foundation":
                runs.append(("foundation", target.reference, f"foundation/{target.reference}@{name}"))
        runs.append(("foundation", name, f"foundation/{name}"))
        for library in libraries[1:]:
            if LIBRARIES[library].runs(SCENARIOS[name]):
                runs.append((library, name, f"{library}/{name}"))
    return runs


def target_keys(target: Target) -> tuple[str, str]:
    """The result keys of a target's two sides within a round."""
    ours = f"foundation/{target.scenario}"
    if target.library == "foundation":
        return ours, f"foundation/{target.reference}@{target.scenario}"
    return ours, f"{target.library}/{target.reference}"


def main(argv: list[str] | None = None) -> int:
    legend = "\n".join(f"  {name:<13} {s.what}" for name, s in SCENARIOS.items())
    promises = "\n".join(f"  {t.label():<38} at least {t.minimum:.2f}x" for t in TARGETS)
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]) + "\nscenarios:\n" + legend
        + "\n\ntargets (foundation's rate over the reference's):\n" + promises
        + f"\n  caller p99 with a slow sink under {LATENCY_P99_US} µs; RSS growth of 1,000,000 records "
          f"through it under {MEMORY_MB} MB")
    parser.add_argument("--n", type=int, default=100_000,
                        help="records a run (default 100,000, the document's iterations)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds; medians are shown")
    parser.add_argument("--scenario", help="comma-separated scenarios (default: all)")
    parser.add_argument("--compare", action="store_true",
                        help="also run the peers that are installed: "
                        + ", ".join(name for name in LIBRARIES if name not in ALWAYS))
    parser.add_argument("--peers", help="comma-separated peers for --compare (default: all installed)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a target is missed (or a run fails)")
    parser.add_argument("--json", metavar="FILE", help="write every result to FILE as JSON")
    parser.add_argument("--no-extras", action="store_true",
                        help="skip the latency, memory and interning measurements")
    parser.add_argument("--worker", nargs=3, metavar=("LIB", "SCENARIO", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        library, scenario, n = args.worker
        print(json.dumps(worker(library, scenario, int(n))))
        return 0

    names = list(SCENARIOS)
    if args.scenario:
        names = [name.strip() for name in args.scenario.split(",") if name.strip()]
        unknown = [name for name in names if name not in SCENARIOS]
        if unknown:
            parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    libraries = list(ALWAYS)
    if args.compare:
        wanted = [p.strip() for p in args.peers.split(",")] if args.peers else list(LIBRARIES)
        unknown = [p for p in wanted if p not in LIBRARIES]
        if unknown:
            parser.error(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(LIBRARIES)}")
        for peer in wanted:
            if peer in libraries:
                continue
            if _installed(LIBRARIES[peer].module):
                libraries.append(peer)
            else:
                print(f"  {peer}: not installed, skipped", file=sys.stderr)
    n, repeat = args.n, args.repeat
    runs = plan_round(names, libraries)
    results: dict = {"python": sys.version.split()[0], "n": n, "repeat": repeat, "libraries": libraries,
                     "scenarios": names, "rounds": [], "records": {}, "failures": {}}
    print(f"bench.py: Python {results['python']}, {n:,} records a run, {repeat} interleaved rounds, "
          f"{len(runs)} runs a round", file=sys.stderr)
    for number in range(1, repeat + 1):
        rates: dict = {}
        for library, scenario, key in runs:
            count = max(int(n * LIBRARIES[library].share * SCENARIOS[scenario].scale), 1000)
            results["records"][key] = count
            print(f"  round {number}/{repeat}  {library:<19} {scenario:<13}", end="", file=sys.stderr,
                  flush=True)
            outcome = spawn(library, scenario, count)
            problem = outcome.get("error") or outcome.get("problem")
            if problem:
                results["failures"][key] = problem
                print(f" FAILED: {problem}", file=sys.stderr)
                continue
            rates[key] = count / outcome["seconds"]
            if outcome.get("monitor") and key == f"foundation/{MONITORED}":
                results["monitor"] = outcome["monitor"]
            print(f" {rates[key]:>12,.0f} msg/s", file=sys.stderr)
        results["rounds"].append(rates)
    if not args.no_extras:
        for name, (_, count) in EXTRAS.items():
            print(f"  {name} ({count:,} records) ...", file=sys.stderr)
            results[name] = spawn("foundation", name, count)

    missed = report(results)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 1 if args.check and (missed or results["failures"]) else 0


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

def median_rate(results: dict, key: str) -> float | None:
    values = [rates[key] for rates in results["rounds"] if key in rates]
    return statistics.median(values) if values else None


def median_ratio(results: dict, ours: str, theirs: str) -> float | None:
    """The median over the rounds of rate(ours) / rate(theirs), both from the same round."""
    ratios = [rates[ours] / rates[theirs] for rates in results["rounds"] if ours in rates and theirs in rates]
    return statistics.median(ratios) if ratios else None


def _thousands(rate: float | None) -> str:
    return "-" if rate is None else f"{rate / 1000:,.0f}k"


def report(results: dict) -> int:
    """Print the tables; return how many targets were missed."""
    libraries, names = results["libraries"], results["scenarios"]
    print(f"\nfoundation.py, Python {results['python']}: thousands of records a second (k msg/s), "
          f"median of {results['repeat']} interleaved rounds of {results['n']:,} records a run; "
          f"configuration, drain and shutdown included, every line checked\n")
    width = max(len(name) for name in libraries) + 2
    print(f"{'scenario':<14}" + "".join(f"{name:>{width}}" for name in libraries))
    for name in names:
        cells = [_thousands(median_rate(results, f"{library}/{name}")) for library in libraries]
        print(f"{name:<14}" + "".join(f"{cell:>{width}}" for cell in cells))
    shares = [f"{library} ran {LIBRARIES[library].share:.0%} of the records" for library in libraries
              if LIBRARIES[library].share != 1]
    print("\n-: the library has no such API (batch, async, JSON), or the scenario is foundation's own."
          + (" " + "; ".join(shares) + "." if shares else ""))
    print("\nScenarios:")
    for name in names:
        print(f"  {name:<13} {SCENARIOS[name].what}")

    print("\nTargets: foundation's rate over the reference's; the ratio is the median of the "
          "rounds' ratios\n")
    missed = 0
    unmeasured = []
    for target in TARGETS:
        ours, theirs = target_keys(target)
        ratio = median_ratio(results, ours, theirs)
        if ratio is None:
            unmeasured.append(target.label())
            continue
        mark = "ok" if ratio >= target.minimum else "MISSED"
        missed += mark == "MISSED"
        print(f"  {target.label():<38} {_thousands(median_rate(results, ours)):>7} / "
              f"{_thousands(median_rate(results, theirs)):>6} = {ratio:5.2f}x   "
              f"(at least {target.minimum:.2f}x)  {mark}")
    latency = results.get("latency")
    if latency and "p99_us" in latency:
        mark = "ok" if latency["p99_us"] < LATENCY_P99_US else "MISSED"
        missed += mark == "MISSED"
        print(f"  {'caller p99, slow sink (20 µs a write)':<38} {latency['p99_us']:>16.1f} µs   "
              f"(under {LATENCY_P99_US} µs)  {mark}")
    memory = results.get("memory")
    if memory and "peak_growth_mb" in memory:
        mark = "ok" if memory["peak_growth_mb"] < MEMORY_MB else "MISSED"
        missed += mark == "MISSED"
        print(f"  {'RSS growth, 1,000,000 records, slow sink':<38} {memory['peak_growth_mb']:>16.1f} MB   "
              f"(under {MEMORY_MB} MB)  {mark}")

    if unmeasured:
        print(f"  not measured in this run (a scenario or peer not run, or failed): {'; '.join(unmeasured)}")

    if latency and "p50_us" in latency:
        print(f"\nCaller latency with a slow sink, overflow='drop': p50 {latency['p50_us']:.1f} µs, "
              f"p99 {latency['p99_us']:.1f} µs, max {latency['max_us']:.0f} µs; {latency['written']:,} "
              f"written + {latency['dropped']:,} dropped = {latency['emitted']:,}")
    if memory and "seconds" in memory:
        print(f"Memory: {memory['records']:,} records through the slow sink, default queue: "
              f"{memory['lines']:,} lines written, {memory['dropped']} dropped, {memory['seconds']:.1f} s")
    monitor = results.get("monitor")
    if monitor:
        print(f"Monitor, foundation {MONITORED}, last round (ResourceMonitor.snapshot() after the flush): "
              f"{monitor['logs_per_second']:,.0f} logs/s, {monitor['bytes_per_second'] / 1e6:.1f} MB/s "
              f"written, CPU {monitor['cpu_percent']}%, peak RSS {monitor['max_rss_mb']} MB, "
              f"RSS now {monitor['rss_mb']} MB, {monitor['thread_count']} threads")
    interning = results.get("interning")
    if interning and "with_mb" in interning:
        saved = 1 - interning["with_mb"] / interning["without_mb"]
        print(f"Interning, {interning['records']:,} queued records with 3 string values built per call "
              f"(100, 3 and 50 distinct): {interning['without_mb']:.1f} MB without, "
              f"{interning['with_mb']:.1f} MB with intern=True ({saved:.0%} less; hit rate "
              f"{interning['stats']['hit_rate']:.1%})")
    if results["failures"]:
        print("\nFailed runs:")
        for what, problem in results["failures"].items():
            print(f"  {what}: {problem}")
    return missed


if __name__ == "__main__":
    sys.exit(main())
