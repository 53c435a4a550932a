#!/usr/bin/env python3
"""Throughput of foundation.py, beside the standard library doing the same work.

    python bench.py                    # every scenario, about a minute
    python bench.py --compare          # also structlog, loguru, picologging,
                                       # provide.foundation when importable
    python bench.py --scenario simple,fields5 --n 200000 --repeat 7
    python bench.py --json results.json

Every measurement writes real lines to a real temporary file and counts them
afterwards: the time runs from the first call until the last line is on disk
(``flush()`` for foundation, the library's own drain for the others), and a
run whose file does not hold exactly the expected lines is reported as failed.
Each run is a fresh interpreter, so no configuration leaks from one to the
next. Machines drift (a shared 2-core machine can run 20 % slower for a few
seconds), so runs are interleaved: each round runs every library and scenario
once, a scenario right after its baseline, and a ratio is the median of the
ratios of the rounds. The rates shown are medians over ``--repeat`` rounds.
Progress goes to stderr, the table to stdout.

Also measured: the latency of one ``log.info`` call while the sink is slow
(20 µs a write, ``overflow="drop"``), and the memory growth of 1,000,000
records through such a sink with the default queue size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import logging
import logging.handlers
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EVENT = "user_login"
FIELDS5 = {"ip": "10.0.0.1", "method": "password", "ok": True, "ms": 12.5}  # + user_id=i
FIELDS10 = dict(FIELDS5, region="eu-west-1", attempt=1, agent="curl/8.5", path="/login",
                status_code=200)
BOUND = {"request_id": "req-42", "tenant": "acme"}
DAS = {"domain": "auth", "action": "login", "status": "success"}


# ---------------------------------------------------------------------------
# Scenarios: what foundation does, and what the standard library does for the
# same result (None where it has no equivalent; the row then compares with
# foundation's own "simple", as the targets do).
# ---------------------------------------------------------------------------

#: name -> (description, foundation configure() options, baseline library)
SCENARIOS = {
    "simple": ("info(event), queue mode", {}, "stdlib"),
    "simple_vs_queue": ("info(event) vs stdlib QueueHandler+QueueListener", {}, "stdlib queue"),
    "fields5": ("info(event, 5 fields)", {}, "stdlib"),
    "fields10": ("info(event, 10 fields)", {}, "stdlib"),
    "json5": ("JSON, 5 fields", {"format": "json"}, "stdlib"),
    "logfmt5": ("logfmt, 5 fields", {"format": "logfmt"}, "stdlib"),
    "emoji": ("domain/action/status emoji markers", {}, "stdlib"),
    "bound": ("bind(2 fields).info(event)", {}, "stdlib"),
    "context": ("bind_context(2 fields); info(event)", {}, "stdlib"),
    "disabled": ("debug(event) at INFO", {}, "stdlib"),
    "lazy": ("debug(event, x=lazy(f)) at INFO, f never called", {}, "stdlib"),
    "batch100": ("log.batch(100) blocks", {}, None),
    "indexed": ("info(event, index=i): the origin document's simple call", {}, None),
    "sampled": ("info(event, index=i) through RateSampler(0.01): 1% written", {}, None),
    "ring_written": ("info(event, index=i) with ring_buffer=10000: written and kept",
                     {"ring_buffer": 10_000}, None),
    "ring_only": ("debug(event, index=i) at INFO with ring_buffer=10000: kept only",
                  {"ring_buffer": 10_000}, None),
    "async_seq": ("await ainfo(event), in sequence", {}, None),
    "async_gather": ("gather of 100 ainfo() coroutines at a time", {}, None),
    "sync_simple": ("info(event), sync mode", {"mode": "sync"}, "stdlib"),
    "sync_fields5": ("info(event, 5 fields), sync mode", {"mode": "sync"}, "stdlib"),
}

#: The targets of the issues, as (scenario, reference, minimum ratio, reference scenario).
#: "ours" means foundation's own run of the reference scenario.
TARGETS = [
    ("sync_simple", "stdlib", 1.5, "sync_simple"),
    ("sync_fields5", "stdlib", 1.5, "sync_fields5"),
    ("simple", "structlog", 2.0, "simple"),
    ("simple", "picologging", 1.3, "simple"),
    ("fields5", "structlog", 2.0, "fields5"),
    ("json5", "structlog", 1.6, "json5"),
    ("bound", "ours", 0.95, "simple"),
    ("disabled", "stdlib", 1.0, "disabled"),
    ("batch100", "ours", 1.3, "simple"),
    ("sampled", "ours", 4.0, "indexed"),  # a record a sampler drops costs at most a quarter
    # in the flight recorder's set-up, a record only the ring keeps costs at most a third of a written one
    ("ring_only", "ours", 3.0, "ring_written"),
    ("async_seq", "ours", 0.8, "simple"),
    ("async_gather", "structlog", 5.0, "async_seq"),
]

#: The scenario whose ResourceMonitor snapshot (last round) the report shows.
MONITORED = "indexed"

#: The key under which our run of a scenario's reference (TARGETS; "simple" when it
#: has none there), made just before the scenario, is kept.
OUR_SIMPLE = "foundation simple"


def _our_reference(scenario: str) -> str:
    """The scenario of ours that ``scenario`` is compared with: its target's, or "simple"."""
    return next((t[3] for t in TARGETS if t[0] == scenario and t[1] == "ours"), "simple")

#: Scenarios a peer library can run (with --compare), each in its documented file set-up.
PEER_SCENARIOS = ("simple", "fields5", "json5", "bound", "async_seq")


#: The seed of the "sampled" scenario's RateSampler, so that its written lines can be counted.
SAMPLER_SEED = 8


def _expected_lines(scenario: str, n: int) -> int:
    if scenario == "sampled":  # the same sampler's decisions, replayed
        sys.path.insert(0, HERE)
        import foundation

        sampler = foundation.RateSampler(0.01, seed=SAMPLER_SEED)
        record = logging.makeLogRecord({"name": "bench", "msg": EVENT})
        return sum(sampler.filter(record) for _ in range(n))
    return 0 if scenario in ("disabled", "lazy", "ring_only") else n


# ---------------------------------------------------------------------------
# foundation
# ---------------------------------------------------------------------------

def run_foundation(scenario: str, n: int, path: str) -> tuple[float, dict]:
    """Log ``n`` records of ``scenario`` into ``path``; return the seconds until all are written,
    and the ResourceMonitor's snapshot (taken after the timed part)."""
    sys.path.insert(0, HERE)
    import foundation

    options = dict(SCENARIOS[scenario][1])
    if scenario == "sampled":
        options["samplers"] = {EVENT: foundation.RateSampler(0.01, seed=SAMPLER_SEED)}
    foundation.configure(file=path, level="INFO", **options)
    log = foundation.get_logger("bench")
    info = log.info
    monitor = foundation.ResourceMonitor()
    start = time.perf_counter()
    if scenario in ("simple", "simple_vs_queue", "sync_simple"):
        for _ in range(n):
            info(EVENT)
    elif scenario in ("indexed", "sampled", "ring_written"):
        for i in range(n):
            info(EVENT, index=i)
    elif scenario == "ring_only":
        debug = log.debug
        for i in range(n):
            debug(EVENT, index=i)
    elif scenario in ("fields5", "json5", "logfmt5", "sync_fields5"):
        ip, method, ok, ms = FIELDS5.values()
        for i in range(n):
            info(EVENT, user_id=i, ip=ip, method=method, ok=ok, ms=ms)
    elif scenario == "fields10":
        for i in range(n):
            info(EVENT, user_id=i, **FIELDS10)
    elif scenario == "emoji":
        for _ in range(n):
            info(EVENT, domain="auth", action="login", status="success")
    elif scenario == "bound":
        bound_info = log.bind(**BOUND).info
        for _ in range(n):
            bound_info(EVENT)
    elif scenario == "context":
        foundation.bind_context(**BOUND)
        for _ in range(n):
            info(EVENT)
        foundation.clear_context()
    elif scenario == "disabled":
        debug = log.debug
        for _ in range(n):
            debug(EVENT)
    elif scenario == "lazy":
        calls = []
        report = foundation.lazy(lambda: calls.append(1) or "expensive")
        debug = log.debug
        for _ in range(n):
            debug(EVENT, report=report)
        assert not calls, "a lazy field was evaluated for a disabled level"
    elif scenario == "batch100":
        for _ in range(n // 100):
            with log.batch(100) as batch:
                for _ in range(100):
                    batch.info(EVENT)
    elif scenario in ("async_seq", "async_gather"):
        async def timed() -> float:  # the event loop's start and close are not timed
            ainfo = log.ainfo
            begin = time.perf_counter()
            if scenario == "async_seq":
                for _ in range(n):
                    await ainfo(EVENT)
            else:
                for _ in range(n // 100):
                    await asyncio.gather(*[ainfo(EVENT) for _ in range(100)])
            foundation.flush(timeout=60)
            return time.perf_counter() - begin
        elapsed = asyncio.run(timed())
        snapshot = monitor.snapshot()
        foundation.shutdown()
        return elapsed, snapshot
    else:
        raise ValueError(scenario)
    if not foundation.flush(timeout=60):
        raise RuntimeError("flush() timed out")
    elapsed = time.perf_counter() - start
    snapshot = monitor.snapshot()
    if scenario.startswith("ring_") and foundation.get_ring_buffer().total != n:
        raise RuntimeError(f"the ring buffer kept {foundation.get_ring_buffer().total:,} records, not {n:,}")
    foundation.shutdown()
    return elapsed, snapshot


# ---------------------------------------------------------------------------
# The standard library, doing the same work the way its users do
# ---------------------------------------------------------------------------

STD_FORMAT = "%(asctime)s [%(levelname)s] %(name)s: %(message)s"


def _kv_format(keys) -> str:
    return STD_FORMAT + "".join(f" {k}=%({k})s" for k in keys)


class _JsonFormatter(logging.Formatter):
    """The usual hand-written JSON formatter: the record's extra attributes as keys."""

    standard = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        data = {"timestamp": self.formatTime(record), "level": record.levelname.lower(),
                "logger": record.name, "event": record.getMessage()}
        data.update((k, v) for k, v in record.__dict__.items() if k not in self.standard)
        return json.dumps(data)


_context_fields: contextvars.ContextVar[dict] = contextvars.ContextVar("bench_context", default={})


class _ContextFilter(logging.Filter):
    """How stdlib users add context: a filter copying context variables onto the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.update(_context_fields.get())
        return True


def run_stdlib(scenario: str, n: int, path: str, use_queue: bool = False) -> float:
    handler = logging.FileHandler(path, encoding="utf-8")
    keys = {"fields5": ["user_id", *FIELDS5], "sync_fields5": ["user_id", *FIELDS5],
            "logfmt5": ["user_id", *FIELDS5], "fields10": ["user_id", *FIELDS10],
            "emoji": list(DAS), "bound": list(BOUND), "context": list(BOUND)}.get(scenario)
    if scenario == "json5":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(_kv_format(keys or [])))
    log = logging.getLogger("bench")
    log.setLevel(logging.INFO)
    log.propagate = False
    listener = None
    if use_queue:
        records: queue.SimpleQueue = queue.SimpleQueue()
        listener = logging.handlers.QueueListener(records, handler)
        listener.start()
        log.addHandler(logging.handlers.QueueHandler(records))
    else:
        log.addHandler(handler)
    info = log.info
    if scenario == "context":
        log.addFilter(_ContextFilter())
        _context_fields.set(dict(BOUND))
    start = time.perf_counter()
    if scenario in ("simple", "simple_vs_queue", "sync_simple"):
        for _ in range(n):
            info(EVENT)
    elif scenario in ("fields5", "json5", "logfmt5", "sync_fields5"):
        ip, method, ok, ms = FIELDS5.values()
        for i in range(n):
            info(EVENT, extra={"user_id": i, "ip": ip, "method": method, "ok": ok, "ms": ms})
    elif scenario == "fields10":
        for i in range(n):
            info(EVENT, extra=dict(FIELDS10, user_id=i))
    elif scenario == "emoji":
        for _ in range(n):
            info(EVENT, extra=DAS)
    elif scenario == "bound":
        adapter_info = logging.LoggerAdapter(log, BOUND).info
        for _ in range(n):
            adapter_info(EVENT)
    elif scenario == "context":
        for _ in range(n):
            info(EVENT)
    elif scenario == "disabled":
        debug = log.debug
        for _ in range(n):
            debug(EVENT)
    elif scenario == "lazy":
        debug = log.debug
        report = object()
        for _ in range(n):
            debug("user_login %s", report)
    else:
        raise ValueError(scenario)
    if listener is not None:
        listener.stop()
    handler.flush()
    elapsed = time.perf_counter() - start
    handler.close()
    return elapsed


# ---------------------------------------------------------------------------
# Peer libraries (--compare), each set up for a file as its documentation advises
# ---------------------------------------------------------------------------

def run_peer(library: str, scenario: str, n: int, path: str) -> float:
    """Run a peer library's version of ``scenario``; every import happens here.

    Returns the seconds from the first call until the library's own drain returns.
    """
    ip, method, ok, ms = FIELDS5.values()
    if library == "structlog":
        import structlog

        stream = open(path, "a", encoding="utf-8")
        renderer = (structlog.processors.JSONRenderer() if scenario == "json5" else
                    structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]))
        structlog.configure(  # the documented production set-up, without orjson
            cache_logger_on_first_use=True,
            wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
            processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                        structlog.processors.format_exc_info,
                        structlog.processors.TimeStamper(fmt="iso", utc=True), renderer],
            logger_factory=structlog.WriteLoggerFactory(file=stream))
        log = structlog.get_logger().bind()
        start = time.perf_counter()
        _peer_calls(log, scenario, n)
        stream.flush()
        elapsed = time.perf_counter() - start
        stream.close()
    elif library in ("loguru", "loguru enqueue"):
        from loguru import logger

        logger.remove()
        options = {"enqueue": library == "loguru enqueue", "level": "INFO", "encoding": "utf-8"}
        if scenario == "json5":
            options["serialize"] = True
        else:
            options["format"] = ("{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{function}:{line}"
                                 " - {message}" + ("" if scenario == "simple" else " | {extra}"))
        logger.add(path, **options)
        start = time.perf_counter()
        _peer_calls(logger, scenario, n)
        logger.complete()
        elapsed = time.perf_counter() - start
        logger.remove()
    elif library == "picologging":
        import picologging

        handler = picologging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(picologging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                                   datefmt="%Y-%m-%d %H:%M:%S"))
        log = picologging.getLogger("bench")
        log.setLevel(picologging.INFO)
        log.propagate = False
        log.addHandler(handler)
        start = time.perf_counter()
        if scenario == "simple":
            for _ in range(n):
                log.info(EVENT)
        elif scenario == "fields5":  # picologging drops extra=: the fields go in the message
            for i in range(n):
                log.info("user_login user_id=%s ip=%s method=%s ok=%s ms=%s", i, ip, method, ok, ms)
        else:
            raise ValueError(scenario)
        handler.flush()
        elapsed = time.perf_counter() - start
        handler.close()
    elif library == "provide.foundation":
        from pathlib import Path

        from provide.foundation import LoggingConfig, TelemetryConfig, get_hub, get_logger
        from provide.foundation.streams.file import flush_log_streams

        get_hub().initialize_foundation(TelemetryConfig(service_name="bench", logging=LoggingConfig(
            default_level="INFO", console_formatter="json" if scenario == "json5" else "key_value",
            log_file=Path(path))), force=True)
        log = get_logger("bench")
        start = time.perf_counter()
        _peer_calls(log, scenario, n)
        flush_log_streams()
        elapsed = time.perf_counter() - start
    else:
        raise ValueError(library)
    return elapsed


def _peer_calls(log: object, scenario: str, n: int) -> None:
    ip, method, ok, ms = FIELDS5.values()
    if scenario == "simple":
        for _ in range(n):
            log.info(EVENT)
    elif scenario in ("fields5", "json5"):
        for i in range(n):
            log.info(EVENT, user_id=i, ip=ip, method=method, ok=ok, ms=ms)
    elif scenario == "bound":
        bound = log.bind(**BOUND)
        for _ in range(n):
            bound.info(EVENT)
    elif scenario == "async_seq" and hasattr(log, "ainfo"):
        async def sequence() -> None:  # the loop's start is timed here: a few ms of seconds
            for _ in range(n):
                await log.ainfo(EVENT)
        asyncio.run(sequence())
    else:
        raise NotImplementedError(scenario)


#: Peer -> (module to find, scenarios it supports)
PEERS = {
    "structlog": ("structlog", ("simple", "fields5", "json5", "bound", "async_seq")),
    "picologging": ("picologging", ("simple", "fields5")),
    "loguru": ("loguru", ("simple", "fields5", "json5", "bound")),
    "loguru enqueue": ("loguru", ("simple", "fields5", "json5", "bound")),
    "provide.foundation": ("provide.foundation", ("simple", "fields5", "json5", "bound")),
}


# ---------------------------------------------------------------------------
# Caller latency and memory, with a slow sink
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
        log.info(EVENT, i=i)
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
        log.info(EVENT, user_id=i)
    foundation.flush()
    before, peak_before = _rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    for i in range(n):
        log.info(EVENT, user_id=i, ip="10.0.0.1")
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

    result = {"records": n}
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


# ---------------------------------------------------------------------------
# Worker: one library and scenario in this (fresh) interpreter
# ---------------------------------------------------------------------------

def worker(library: str, scenario: str, n: int) -> dict:
    """Run one timed run in this interpreter; return its time and line check as a dict."""
    if scenario == "latency":
        return run_latency(n)
    if scenario == "memory":
        return run_memory(n)
    if scenario == "interning":
        return run_interning(n)
    fd, path = tempfile.mkstemp(prefix="bench-", suffix=".log")
    os.close(fd)
    try:
        snapshot = None
        if library == "foundation":
            seconds, snapshot = run_foundation(scenario, n, path)
        elif library in ("stdlib", "stdlib queue"):
            seconds = run_stdlib(scenario, n, path, use_queue=library == "stdlib queue")
        else:
            seconds = run_peer(library, scenario, n, path)
        return {"seconds": seconds, "problem": verify(path, scenario, n), "monitor": snapshot}
    finally:
        os.unlink(path)


def verify(path: str, scenario: str, n: int) -> str | None:
    """Check the file holds exactly the expected lines of the event (set-up lines aside)."""
    expected = _expected_lines(scenario, n)
    with open(path, encoding="utf-8", errors="replace") as lines:
        found = [line for line in lines if EVENT in line]
    if len(found) != expected:
        return f"expected {expected:,} lines, found {len(found):,}"
    if scenario == "json5":
        for line in found:
            try:
                json.loads(line)
            except ValueError:
                return f"a line is not JSON: {line[:80]!r}"
    return None


def spawn(library: str, scenario: str, n: int) -> dict:
    """Run ``worker`` in a fresh interpreter and return its result."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", library, scenario, str(n)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["exit %d" % done.returncode])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# Main: run, then print the tables
# ---------------------------------------------------------------------------

def _peer_available(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000, help="records per run (default 50,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is shown")
    parser.add_argument("--scenario", help="comma-separated scenarios (default: all): " + ", ".join(SCENARIOS))
    parser.add_argument("--compare", action="store_true", help="also run the peer libraries that are installed")
    parser.add_argument("--json", metavar="FILE", help="write every result to FILE as JSON")
    parser.add_argument("--no-latency", action="store_true", help="skip the latency and memory checks")
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
    n, repeat = args.n, args.repeat
    # (library, scenario, records, saved as) in the order of one round. A scenario
    # compared with our own "simple" gets a run of "simple" right before it, so
    # that the two are measured seconds apart, not half a round.
    ours = {t[0] for t in TARGETS if t[1] == "ours"} | {s for s in names if not SCENARIOS[s][2]}
    runs = []
    for scenario in names:
        if scenario in ours and scenario != "simple":
            runs.append(("foundation", _our_reference(scenario), n, (scenario, OUR_SIMPLE)))
        runs.append(("foundation", scenario, n, (scenario, "foundation")))
        if SCENARIOS[scenario][2]:
            runs.append((SCENARIOS[scenario][2], scenario, n, (scenario, SCENARIOS[scenario][2])))
    peers = []
    if args.compare:
        for peer, (module, supported) in PEERS.items():
            if not _peer_available(module):
                print(f"  {peer}: not installed, skipped", file=sys.stderr)
                continue
            peers.append(peer)
            slow = peer in ("provide.foundation", "loguru enqueue")
            for scenario in supported:  # structlog's ainfo is also the reference of async_gather
                if scenario in names or (scenario == "async_seq" and "async_gather" in names):
                    runs.append((peer, scenario, max(n // 5, 1000) if slow else n, (scenario, peer)))
    results: dict = {"python": sys.version.split()[0], "n": n, "repeat": repeat,
                     "rounds": [], "failures": {}}
    print(f"bench.py: Python {results['python']}, {n:,} records a run, {repeat} interleaved rounds",
          file=sys.stderr)
    for round_number in range(1, repeat + 1):
        rates: dict = {}
        for library, scenario, count, (saved, as_library) in runs:
            print(f"  round {round_number}/{repeat}  {library:<20} {scenario:<16}", end="",
                  file=sys.stderr, flush=True)
            outcome = spawn(library, scenario, count)
            problem = outcome.get("error") or outcome.get("problem")
            if problem:
                results["failures"][f"{library}/{scenario}"] = problem
                print(f" FAILED: {problem}", file=sys.stderr)
                continue
            rate = count / outcome["seconds"] if outcome["seconds"] > 0 else float("inf")
            if outcome.get("monitor") and (library, scenario) == ("foundation", MONITORED):
                results["monitor"] = outcome["monitor"]
            rates.setdefault(saved, {})[as_library] = rate
            print(f" {rate:>12,.0f} msg/s", file=sys.stderr)
        results["rounds"].append(rates)
    if not args.no_latency:
        print("  latency with a slow sink ...", file=sys.stderr)
        results["latency"] = spawn("foundation", "latency", 20_000)
        print("  memory, 1,000,000 records through a slow sink ...", file=sys.stderr)
        results["memory"] = spawn("foundation", "memory", 1_000_000)
        print("  interning, 100,000 queued records ...", file=sys.stderr)
        results["interning"] = spawn("foundation", "interning", 100_000)

    print_report(results, names, peers)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 1 if results["failures"] else 0


def _median_rate(results: dict, scenario: str, library: str) -> float | None:
    values = [r[scenario][library] for r in results["rounds"] if library in r.get(scenario, {})]
    return statistics.median(values) if values else None


def _median_ratio(results: dict, a: tuple[str, str], b: tuple[str, str]) -> float | None:
    """The median over rounds of rate(a) / rate(b), each pair from the same round."""
    ratios = [r[a[0]][a[1]] / r[b[0]][b[1]] for r in results["rounds"]
              if a[1] in r.get(a[0], {}) and b[1] in r.get(b[0], {})]
    return statistics.median(ratios) if ratios else None


def print_report(results: dict, names: list[str], peers: list[str]) -> None:
    rates = {scenario: {library: _median_rate(results, scenario, library)
                        for library in {lib for r in results["rounds"] for lib in r.get(scenario, {})}}
             for scenario in {s for r in results["rounds"] for s in r}}
    results["rates"] = rates
    print(f"\nfoundation.py throughput, Python {results['python']}: {results['n']:,} records a run, "
          f"median of {results['repeat']} interleaved rounds, every line counted\n")
    header = f"{'scenario':<16} {'msg/s':>11} {'µs/msg':>8}   {'baseline':<13} {'msg/s':>11} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for scenario in names:
        ours = rates.get(scenario, {}).get("foundation")
        baseline = SCENARIOS[scenario][2]
        other = rates.get(scenario, {}).get(baseline or OUR_SIMPLE)
        label = baseline or f"our {_our_reference(scenario)}"
        if ours is None:
            print(f"{scenario:<16} {'failed':>11}")
            continue
        reference = (scenario, baseline) if baseline else (scenario, OUR_SIMPLE)
        paired = _median_ratio(results, (scenario, "foundation"), reference)
        ratio = f"{paired:6.2f}x" if paired else "      -"
        other_text = f"{other:>11,.0f}" if other else f"{'-':>11}"
        print(f"{scenario:<16} {ours:>11,.0f} {1e6 / ours:>8.2f}   {label:<13} {other_text} {ratio}")
    if peers:
        print("\nPeers, same records, each in its documented file set-up (msg/s; ratio = foundation / peer)\n")
        print(f"{'scenario':<12}" + "".join(f"{p:>21}" for p in peers))
        for scenario in PEER_SCENARIOS:
            if "foundation" not in rates.get(scenario, {}):
                continue
            cells = []
            for peer in peers:
                rate = rates[scenario].get(peer)
                paired = _median_ratio(results, (scenario, "foundation"), (scenario, peer))
                cells.append(f"{rate:>11,.0f} ({paired:5.1f}x)" if rate and paired else f"{'-':>21}")
            print(f"{scenario:<12}" + "".join(f"{c:>21}" for c in cells))
    print("\nTargets (the issues' ratios, measured in this run)\n")
    shown = 0
    for scenario, reference, minimum, ref_scenario in TARGETS:
        if reference == "ours":  # the run of simple made right before this scenario
            ratio = _median_ratio(results, (scenario, "foundation"), (scenario, OUR_SIMPLE))
        else:
            ratio = _median_ratio(results, (scenario, "foundation"), (ref_scenario, reference))
        if ratio is None:
            continue
        shown += 1
        mark = "ok" if ratio >= minimum else "MISSED"
        what = f"{reference} {ref_scenario}" if reference != "ours" else f"our {ref_scenario}"
        print(f"  {scenario:<14} >= {minimum:<4} x {what:<24} {ratio:6.2f}x  {mark}")
    if not shown:
        print("  (none among the scenarios run; the peers' targets need --compare)")
    latency = results.get("latency")
    if latency and "p50_us" in latency:
        print(f"\nCaller latency, slow sink (20 µs a write), overflow='drop': p50 {latency['p50_us']:.1f} µs, "
              f"p99 {latency['p99_us']:.1f} µs (target < 10), max {latency['max_us']:.0f} µs; "
              f"{latency['written']:,} written + {latency['dropped']:,} dropped = {latency['emitted']:,}")
    memory = results.get("memory")
    if memory and "seconds" in memory:
        print(f"Memory, {memory['records']:,} records through a slow sink, default queue: peak RSS grew "
              f"{memory['peak_growth_mb']:.1f} MB (target < 50), {memory['lines']:,} lines written, "
              f"{memory['dropped']} dropped, {memory['seconds']:.1f} s")
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


if __name__ == "__main__":
    sys.exit(main())
