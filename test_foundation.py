# SPDX-License-Identifier: MIT
"""Tests for foundation.py: each one holds a promise of DESIGN.md.

One class per section of foundation.py, in the file's order. Output is captured
with ``configure(stream=io.StringIO())`` (or a file) and read after
``foundation.flush()``. Threads are synchronised with ``flush()`` and Events;
a timeout only bounds a failure, except where a test checks that something
does *not* happen (a blocked producer, a flush that cannot finish), and says so.
Process-level promises (exit, fork, broken pipe, import) run in a subprocess.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import copy
import datetime
import decimal
import enum
import errno
import inspect
import io
import itertools
import json
import logging
import logging.config
import logging.handlers
import math
import os
import pathlib
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import uuid

import pytest

import foundation

HERE = pathlib.Path(__file__).resolve().parent
WAIT = 10.0  #: seconds: bounds a wait that only runs out when the library is broken
HOLD = 30.0  #: seconds a GateSink holds the writer at most (longer than WAIT on purpose)
SHORT = 0.2  #: seconds: used only to show that something does NOT happen

#: Every character that must never reach the output raw from user data.
UNSAFE = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]))
UNSAFE_RE = re.compile("[%s]" % re.escape(UNSAFE))

DAS_TABLE = [  # the built-in emoji set as DESIGN.md fixes it
    ("domain", "auth", "🔑"), ("domain", "database", "🗄️"), ("domain", "network", "🌐"),
    ("domain", "system", "⚙️"), ("domain", "no-such-domain", "❓"),
    ("action", "login", "➡️"), ("action", "query", "🔍"), ("action", "connect", "🔗"),
    ("action", "start", "🚀"), ("action", "stop", "🛑"), ("action", "no-such-action", "❓"),
    ("status", "success", "✅"), ("status", "complete", "🏁"), ("status", "error", "🔥"),
    ("status", "failure", "❌"), ("status", "retry", "🔁"), ("status", "timeout", "⏱️"),
    ("status", "no-such-status", "➡️"),
]

FORMATS = ["key_value", "json", "logfmt"]
MODES = ["queue", "sync"]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def level_id(value):
    """A stable test id for a level value (no memory addresses)."""
    return "object()" if type(value) is object else repr(value)


def _no_constant(name):
    raise ValueError(f"non-strict JSON token {name}")


def loads(line):
    """Parse one JSON line strictly: NaN and Infinity tokens are errors."""
    return json.loads(line, parse_constant=_no_constant)


def split_lines(text):
    """Split output on ``\\n`` only (str.splitlines would also split on U+2028, \\x85, ...)."""
    assert text == "" or text.endswith("\n"), f"output does not end with a newline: {text[-80:]!r}"
    return text.split("\n")[:-1]


class Capture:
    """Output of a configured logger: read only after ``foundation.flush()``."""

    def __init__(self, stream):
        self.stream = stream

    def text(self):
        assert foundation.flush(WAIT) is True, "flush() did not finish"
        return self.stream.getvalue()

    def lines(self):
        return split_lines(self.text())

    def records(self):
        return [loads(line) for line in self.lines()]

    def record(self):
        records = self.records()
        assert len(records) == 1, records
        return records[0]


def capture(**options):
    """Configure foundation to write to a fresh StringIO (JSON unless told otherwise)."""
    options.setdefault("format", "json")
    stream = options.pop("stream", None) or io.StringIO()
    foundation.configure(stream=stream, **options)
    return Capture(stream)


def json_of(value, **options):
    """Log one record with field ``v=value`` as JSON; return the parsed ``v``."""
    out = capture(**options)
    foundation.get_logger("app").info("value", v=value)
    return out.record()["v"]


_KV_TOKEN = re.compile(r'(?:^| )([^\s="]+|"(?:[^"\\]|\\.)*")=("(?:[^"\\]|\\.)*"|[^\s"]*)')


def unquote(token):
    """Undo the quoting of a key_value/logfmt token (only ``\\"`` and ``\\\\``)."""
    if token.startswith('"'):
        return re.sub(r'\\(["\\])', r"\1", token[1:-1])
    return token


def text_fields(line):
    """The ``key=value`` pairs of a key_value or logfmt line, as raw tokens."""
    return [(unquote(k), v) for k, v in _KV_TOKEN.findall(line)]


def text_field(line, key):
    """The raw value token of ``key`` in a key_value/logfmt line (the last one)."""
    values = [v for k, v in text_fields(line) if k == key]
    assert values, f"no {key}= in {line!r}"
    return values[-1]


def field_of(fmt, line, key):
    """The value of ``key`` in ``line`` of format ``fmt``, as text."""
    if fmt == "json":
        value = loads(line)[key]
        return value if isinstance(value, str) else json.dumps(value)
    return unquote(text_field(line, key))


def assert_clean(text, records):
    """``text`` holds exactly ``records`` physical lines and no raw control character."""
    assert text.count("\n") == records, text
    assert text.endswith("\n")
    for line in split_lines(text):
        bad = UNSAFE_RE.search(line)
        assert bad is None, f"raw {bad.group()!r} in {line!r}"


class GateSink:
    """A stream whose ``write()`` waits at a gate: holds the writer thread while closed."""

    def __init__(self):
        self.entered = threading.Event()  # set once a write() has started
        self.gate = threading.Event()  # open it to let writes through
        self.chunks = []
        self._lock = threading.Lock()

    def write(self, text):
        self.entered.set()
        self.gate.wait(HOLD)
        with self._lock:
            self.chunks.append(text)

    def flush(self):
        pass

    def text(self):
        with self._lock:
            return "".join(self.chunks)

    def lines(self):
        return split_lines(self.text())

    def records(self):
        return [loads(line) for line in self.lines()]


class RecordingSink:
    """A stream that remembers each ``write()`` and ``flush()`` call, in order."""

    def __init__(self):
        self.calls = []
        self._lock = threading.Lock()

    def write(self, text):
        with self._lock:
            self.calls.append(("write", text))

    def flush(self):
        with self._lock:
            self.calls.append(("flush", None))

    def writes(self):
        with self._lock:
            return [text for kind, text in self.calls if kind == "write"]

    def text(self):
        return "".join(self.writes())


class BrokenSink:
    """A stream whose ``write()`` raises ``exc`` (the first ``times`` calls; None: always)."""

    def __init__(self, exc, times=None):
        self.exc = exc
        self.times = times
        self.calls = 0
        self.good = []

    def write(self, text):
        self.calls += 1
        if self.times is None or self.calls <= self.times:
            raise self.exc
        self.good.append(text)

    def flush(self):
        pass

    def text(self):
        return "".join(self.good)


class TTYStream(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self):
        return True


def own_handlers():
    """The handlers foundation has on the root logger."""
    return [h for h in logging.getLogger().handlers if type(h).__module__ == foundation.__name__]


def wait_writer_held(sink):
    """Log one record and wait until the writer thread is inside the sink's write()."""
    foundation.get_logger("app").error("gate")  # ERROR: the writer need not wait for a batch
    assert sink.entered.wait(WAIT), "the writer never started writing"


async def waits_on_the_loop(awaitable, gate, ticks=20):
    """Run ``awaitable`` as a task: True if it still waits after the loop ran ``ticks`` steps of
    this coroutine (so it waits without blocking the loop); then open ``gate`` and let it end."""
    task = asyncio.ensure_future(awaitable)
    for _ in range(ticks):
        await asyncio.sleep(0)
    waiting = not task.done()
    gate.gate.set()
    await asyncio.wait_for(task, WAIT)
    return waiting


def clean_env(**extra):
    """The environment for a subprocess: ours, without any logging configuration."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FOUNDATION_LOG_", "PROVIDE_LOG_"))
           and k not in ("NO_COLOR", "FORCE_COLOR", "PYTHONUNBUFFERED")}  # buffered stdio, as users have it
    env["PYTHONPATH"] = str(HERE)
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def run_python(code, *args, env=None, timeout=60):
    """Run ``code`` in a fresh interpreter (this one), importing foundation from this folder."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                          cwd=str(HERE), env=clean_env(**(env or {})), capture_output=True,
                          encoding="utf-8", errors="backslashreplace", timeout=timeout)


def read_json_lines(path):
    """The JSON records of a log file, which must be valid UTF-8."""
    return [loads(line) for line in split_lines(pathlib.Path(path).read_bytes().decode("utf-8"))]


def read_lines_of(stream):
    """The JSON records written so far to a StringIO (in sync mode, without a flush())."""
    return [loads(line) for line in split_lines(stream.getvalue())]


def wait_until(predicate, what):
    """Wait until ``predicate()`` holds, bounded by WAIT: for a state change no Event announces."""
    deadline = time.monotonic() + WAIT
    tick = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        tick.wait(0.001)


def interrupt_at_each_line(call, interrupt, before=None, after=None):
    """Run ``call()`` once per line it executes, each time running ``interrupt()`` at that line.

    A stand-in for a signal handler, which Python runs between two bytecodes of
    whatever the main thread is doing. Run k interrupts ``call()`` at its k-th
    line event, in any function it calls (the interrupt itself is not traced), so
    every point of the call is tried once, deterministically. ``before()`` and
    ``after()`` run around each run. Returns how many interrupts ran.
    """
    fired = []

    def run(fire_at):
        if before is not None:
            before()
        seen = [0]

        def local(frame, event, arg):
            if event == "line":
                seen[0] += 1
                if seen[0] == fire_at:
                    fired.append(fire_at)
                    interrupt()
            return local

        sys.settrace(lambda frame, event, arg: local)
        try:
            call()
        finally:
            sys.settrace(None)
        if after is not None:
            after()
        return seen[0]

    points = run(0)  # counts the lines of an undisturbed call
    for fire_at in range(1, points + 1):
        run(fire_at)
    return len(fired)


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def restore_logging(monkeypatch):
    """Give each test a clean environment; afterwards undo what foundation did to logging."""
    for name in list(os.environ):
        if name.startswith(("FOUNDATION_LOG_", "PROVIDE_LOG_")) or name in ("NO_COLOR", "FORCE_COLOR"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    root_level = root.level
    levels = {name: lg.level for name, lg in logging.Logger.manager.loggerDict.items()
              if isinstance(lg, logging.Logger)}
    foundation.clear_context()
    yield
    foundation.shutdown()
    foundation._LEDGER.reset(reports=True)  # a drop this test left unreported is not the next one's
    for handler in own_handlers():
        root.removeHandler(handler)
    for handler in foundation._handlers():  # Handlers made outside configure() (dictConfig, tests)
        if handler is not foundation._state.handler:
            handler.close()
    root.setLevel(root_level)
    for name, lg in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger) and lg.level != levels.get(name, logging.NOTSET):
            lg.setLevel(levels.get(name, logging.NOTSET))
    foundation.clear_context()


@pytest.fixture
def gate():
    """A GateSink, opened at teardown so that no writer stays held."""
    sink = GateSink()
    yield sink
    sink.gate.set()


@pytest.fixture
def log():
    """A facade over the logger ``app``."""
    return foundation.get_logger("app")


# ---------------------------------------------------------------------------
# Helpers for the boundary with logging and for the edge cases
# ---------------------------------------------------------------------------

#: The attributes of every LogRecord: what an error reporter leaves out of its "extra" data.
STD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

#: A call with secrets at the top level and nested, and what every handler must receive.
SECRETS = {"password": "hunter2", "api_key": "k-123", "card": {"token": "t", "n": 1}}
REDACTED = {"password": "[REDACTED]", "api_key": "[REDACTED]", "card": {"token": "[REDACTED]", "n": 1}}


class Keep(logging.Handler):
    """A plain handler that keeps the records it receives, and what ``read(record)`` returns."""

    def __init__(self, read=None):
        super().__init__()
        self.records = []
        self.seen = []
        self.read = read

    def emit(self, record):
        self.records.append(record)
        if self.read is not None:
            self.seen.append(self.read(record))


def sentry_extra(record):
    """The extra data Sentry's logging integration sends: ``vars(record)`` minus the standard attributes."""
    return {k: v for k, v in vars(record).items() if k not in STD_ATTRS}


def otel_attributes(record):
    """The attributes OpenTelemetry's LoggingHandler sends: ``record.__dict__`` minus the standard ones."""
    return {k: v for k, v in record.__dict__.items() if k not in STD_ATTRS}


def without_timestamp(record):
    """A JSON record without its timestamp, which must be RFC 3339 UTC."""
    assert re.fullmatch(RFC3339_UTC, record["timestamp"]), record
    return {k: v for k, v in record.items() if k != "timestamp"}


@pytest.fixture
def attach():
    """``attach(handler, name=None)`` adds a handler to a logger until the test ends, then closes it."""
    added = []

    def attach(handler, name=None):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        added.append((logger, handler))
        return handler

    yield attach
    for logger, handler in reversed(added):
        logger.removeHandler(handler)
        handler.close()


@pytest.fixture
def root_handlers():
    """Let a test replace the root's handlers (dictConfig does); afterwards put the old ones back.

    Foundation's own handlers are left to ``restore_logging``, which shuts them down.
    """
    root = logging.getLogger()
    before = list(root.handlers)
    yield root
    for handler in list(root.handlers):
        if handler not in before and type(handler).__module__ != foundation.__name__:
            root.removeHandler(handler)
            handler.close()
    for handler in before:
        if handler not in root.handlers:
            root.addHandler(handler)


def vendor_copy(tmp_path):
    """Copy foundation.py to ``tmp_path/myapp/_vendor/foundation.py``; return the PYTHONPATH for both."""
    package = tmp_path / "myapp" / "_vendor"
    package.mkdir(parents=True)
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "foundation.py").write_bytes(pathlib.Path(foundation.__file__).read_bytes())
    return os.pathsep.join([str(tmp_path), str(HERE)])


def read_pty(master, proc):
    """Read the master side of a pty until the child has closed the slave side."""
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], WAIT)
        assert ready, f"no output and no end of file within {WAIT}s: {b''.join(chunks)!r}"
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: Linux's end of file on a pty master
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(WAIT) == 0
    return b"".join(chunks).decode("utf-8", "backslashreplace")


def next_line():
    """The number of the line after the one that calls this: where the log call under test is."""
    return inspect.currentframe().f_back.f_lineno + 1


def site(line):
    """The ``callsite`` text of ``line`` of this file, as ``file.py:42``."""
    return f"{os.path.basename(__file__)}:{line}"


_LOGFMT_PAIR = re.compile(r'([^\x00-\x20="]+)=("(?:[^"\\\x00-\x1f]|\\.)*"|[^\x00-\x20="]*)(?: |$)')


def logfmt_pairs(line):
    """Read a logfmt line as go-logfmt's decoder does: (key, value) pairs, values unescaped.

    Keys are runs of characters above space other than ``=`` and ``"``; a quoted value takes
    go-logfmt's escapes, which are JSON's (``\\"``, ``\\\\``, ``\\n``, ``\\t``, ``\\u001b``, ...),
    so ``json.loads`` unquotes it, and rejects a raw control character inside the quotes.
    """
    pairs, pos = [], 0
    while pos < len(line):
        match = _LOGFMT_PAIR.match(line, pos)
        assert match, f"not logfmt at {pos}: {line[pos:pos + 40]!r} in {line!r}"
        key, raw = match.groups()
        pairs.append((key, json.loads(raw) if raw.startswith('"') else raw))
        pos = match.end()
    return pairs


#: The modules ``import foundation`` must not import (unless the baseline already does).
LAZY_MODULES = ("asyncio", "uuid", "decimal", "pathlib")
_PRINT_LOADED = f"import sys; print(' '.join(m for m in {LAZY_MODULES!r} if m in sys.modules))"


def baseline_modules():
    """Which of LAZY_MODULES a fresh interpreter has after ``import logging.handlers, json``."""
    result = run_python("import logging.handlers, json\n" + _PRINT_LOADED)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


# ---------------------------------------------------------------------------
# Levels and constants
# ---------------------------------------------------------------------------

class TestLevels:
    LEVEL_NAMES = [
        ("TRACE", 5), ("trace", 5), (" Debug ", logging.DEBUG), ("info", logging.INFO),
        ("WARNING", logging.WARNING), ("warn", logging.WARNING), (" Warn", logging.WARNING),
        ("error", logging.ERROR), ("Critical", logging.CRITICAL), ("FATAL", logging.CRITICAL),
        ("fatal ", logging.CRITICAL), (30, 30), (15, 15),
    ]
    BAD_LEVELS = ["LOUD", "", "  ", "infoo", "5", 3.5, None, b"INFO", [20], object()]

    def test_level_constants_alias_logging(self):
        """TRACE is 5 and the other constants are logging's own values."""
        assert foundation.TRACE == 5
        assert (foundation.DEBUG, foundation.INFO, foundation.WARNING, foundation.ERROR,
                foundation.CRITICAL) == (logging.DEBUG, logging.INFO, logging.WARNING,
                                         logging.ERROR, logging.CRITICAL)

    def test_trace_is_registered_with_logging(self):
        """TRACE is known to logging by name in both directions."""
        assert logging.getLevelName(5) == "TRACE"
        assert logging.getLevelName("TRACE") == 5

    def test_import_does_not_monkeypatch_logging(self):
        """Importing, configuring and logging leave logging's classes and factories as they were."""
        result = run_python("""
            import logging, sys
            def snapshot():
                return (logging.getLoggerClass(), logging.getLogRecordFactory(),
                        {k: id(v) for k, v in vars(logging.Logger).items()},
                        {k: id(v) for k, v in vars(logging.LogRecord).items()},
                        {k: id(v) for k, v in vars(logging.Handler).items()},
                        {k: id(v) for k, v in vars(logging.Formatter).items()},
                        logging.setLoggerClass, logging.makeLogRecord, logging.getLogger)
            before = snapshot()
            import foundation
            foundation.configure(stream=sys.stdout, mode="sync")
            foundation.get_logger("x").info("hello")
            logging.getLogger("y").warning("plain")
            assert snapshot() == before, "logging was patched"
            print("ok")
        """)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == "ok"

    @pytest.mark.parametrize("name,value", LEVEL_NAMES)
    def test_configure_level_takes_names_and_ints(self, name, value):
        """configure(level=...) takes an int or a name in any case, spaces trimmed."""
        capture(level=name)
        assert logging.getLogger().level == value

    @pytest.mark.parametrize("name,value", LEVEL_NAMES)
    def test_log_takes_names_and_ints(self, name, value, log):
        """log(level, ...) takes an int or a name in any case, spaces trimmed."""
        out = capture(level=1)
        log.log(name, "event")
        record = out.record()
        assert record["event"] == "event"
        if value in (5, 10, 20, 30, 40, 50):
            expected = {5: "trace", 10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}
            assert record["level"] == expected[value]

    @pytest.mark.parametrize("name,value", LEVEL_NAMES)
    def test_is_enabled_for_takes_names_and_ints(self, name, value, log):
        """is_enabled_for() takes the same spellings and compares with the configured level."""
        capture(level=value)
        assert log.is_enabled_for(name) is True
        capture(level=value + 1)
        assert log.is_enabled_for(name) is False

    @pytest.mark.parametrize("bad", BAD_LEVELS, ids=level_id)
    def test_log_with_bad_level_raises_naming_value_and_choices(self, bad, log):
        """log() with a bad level raises ValueError/TypeError naming the value and the valid names."""
        capture()
        with pytest.raises((ValueError, TypeError)) as info:
            log.log(bad, "event")
        message = str(info.value)
        assert repr(bad) in message or str(bad) in message
        assert "DEBUG" in message and "CRITICAL" in message

    @pytest.mark.parametrize("bad", BAD_LEVELS, ids=level_id)
    def test_log_with_bad_level_raises_even_when_nothing_would_be_written(self, bad, log):
        """A bad level is a programming error and raises at once, whatever the configured level."""
        capture(level="CRITICAL")
        with pytest.raises((ValueError, TypeError)):
            log.log(bad, "event")

    @pytest.mark.parametrize("bad", BAD_LEVELS, ids=level_id)
    def test_other_places_reject_bad_levels(self, bad, log):
        """configure(level=), module_levels, is_enabled_for() and alog() reject bad levels."""
        capture()
        for call in (lambda: foundation.configure(level=bad, stream=io.StringIO()),
                     lambda: foundation.configure(module_levels={"m": bad}, stream=io.StringIO()),
                     lambda: log.is_enabled_for(bad),
                     lambda: asyncio.run(log.alog(bad, "event"))):
            with pytest.raises((ValueError, TypeError)) as info:
                call()
            message = str(info.value)
            assert repr(bad) in message or str(bad) in message, message
            assert "DEBUG" in message and "CRITICAL" in message, message

    def test_level_filters_records(self, log):
        """Records below the configured level are not written; the rest are, with their level name."""
        out = capture(level="WARNING")
        log.trace("t")
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        log.critical("c")
        records = out.records()
        assert [(r["event"], r["level"]) for r in records] == [
            ("w", "warning"), ("e", "error"), ("c", "critical")]

    def test_trace_level_is_written_when_enabled(self, log):
        """At level TRACE, trace records are written with the level name "trace"."""
        out = capture(level="TRACE")
        log.trace("t")
        assert out.record()["level"] == "trace"

    def test_disabled_level_evaluates_nothing(self, log):
        """A disabled call touches no field value: no lazy call, no repr()."""
        touched = []

        class Spy:
            def __repr__(self):
                touched.append("repr")
                return "spy"

        out = capture(level="INFO")
        log.debug("hidden", spy=Spy(), lazy=foundation.lazy(lambda: touched.append("lazy")))
        log.trace("hidden", spy=Spy())
        assert out.lines() == []
        assert touched == []

    def test_std_setlevel_changes_what_the_facade_writes(self, log):
        """logging.getLogger(name).setLevel() at any time changes what the facade writes."""
        out = capture(level="INFO")
        log.debug("before")
        logging.getLogger("app").setLevel(logging.DEBUG)
        log.debug("lowered")
        logging.getLogger("app").setLevel(logging.ERROR)
        log.warning("raised")
        log.error("error")
        assert [r["event"] for r in out.records()] == ["lowered", "error"]

    def test_is_debug_and_trace_enabled(self, log):
        """is_debug_enabled() and is_trace_enabled() follow the configured level."""
        capture(level="DEBUG")
        assert log.is_debug_enabled() is True
        assert log.is_trace_enabled() is False
        capture(level="TRACE")
        assert log.is_trace_enabled() is True
        capture(level="INFO")
        assert log.is_debug_enabled() is False

    def test_int_enum_levels_are_accepted(self, log):
        """log(), configure(level=) and module_levels take an IntEnum level: it is an int."""

        class AppLevel(enum.IntEnum):
            AUDIT = 25

        out = capture(level=AppLevel.AUDIT, module_levels={"app.db": AppLevel.AUDIT})
        assert logging.getLogger().level == 25
        assert logging.getLogger("app.db").level == 25
        log.info("hidden")
        log.log(AppLevel.AUDIT, "audited")
        assert log.is_enabled_for(AppLevel.AUDIT) is True
        (record,) = out.records()
        assert record["event"] == "audited"


# ---------------------------------------------------------------------------
# Errors and counters
# ---------------------------------------------------------------------------

class TestErrors:
    @pytest.mark.parametrize("mode", MODES)
    def test_code_that_logs_itself_while_being_written(self, mode, log):
        """A __repr__, a __str__ event and a lazy field that log: both records written, nothing raised."""
        out = capture(mode=mode)

        class Loud:
            def __repr__(self):
                log.info("inside_repr", me=self)
                return "Loud()"

        class LoudEvent:
            def __str__(self):
                log.info(self, n=1)
                return "loud_event"

        log.info("outer", obj=Loud())
        log.info(LoudEvent())
        log.info("lazy", v=foundation.lazy(lambda: log.info("inside_lazy", obj=Loud()) or 7))
        assert foundation.flush(WAIT)
        assert [(r["event"], r.get("me") or r.get("obj") or r.get("v") or r.get("n"))
                for r in out.records()] == [
            ("inside_repr", "<Loud>"), ("outer", "Loud()"),
            ("<LoudEvent>", 1), ("loud_event", None),
            ("inside_lazy", "<Loud>"), ("lazy", 7)]
        assert foundation.stats()["errors"] == 0

    def test_inner_call_formats_plain_args_and_hides_url_passwords(self, log):
        """A log call inside a __repr__: its plain %-args are formatted and a URL password is hidden."""
        out = capture(mode="sync")

        class Obj:
            def __repr__(self):
                log.info("inner postgres://app:hunter2@db/x n=%s", 1, me=self)
                return "Obj"

        log.info("outer", obj=Obj())
        inner, outer = out.records()
        assert (inner["event"], inner["me"]) == ("inner postgres://app:[REDACTED]@db/x n=1", "<Obj>")
        assert outer["obj"] == "Obj"

    SINK_ERRORS = [
        OSError(errno.ENOSPC, "No space left on device"),
        ValueError("I/O operation on closed file."),
        RuntimeError("sink exploded"),
        UnicodeEncodeError("ascii", "é", 0, 1, "ordinal not in range"),
    ]

    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("exc", SINK_ERRORS, ids=lambda e: type(e).__name__)
    def test_broken_sink_never_raises_and_counts(self, mode, exc, log):
        """A sink that always fails: calls return normally, errors are counted, every record is dropped."""
        sink = BrokenSink(exc)
        foundation.configure(stream=sink, mode=mode, format="json")
        for i in range(10):
            log.info("event", i=i)
            log.error("bad", i=i)
        assert foundation.flush(WAIT) is True
        stats = foundation.stats()
        assert stats["errors"] >= 1
        assert stats["written"] == 0
        assert stats["emitted"] == 20
        assert stats["dropped"] == stats["emitted"]

    @pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
    @pytest.mark.parametrize("mode", MODES)
    def test_full_disk_never_raises(self, mode, log):
        """A file on a full disk (/dev/full): calls return normally, errors counted, records dropped."""
        foundation.configure(file="/dev/full", mode=mode, format="json")
        for i in range(50):
            log.info("event", seq=i)
        assert foundation.flush(WAIT) is True
        stats = foundation.stats()
        assert stats["errors"] >= 1
        assert stats["written"] == 0
        assert stats["dropped"] == stats["emitted"] == 50

    @pytest.mark.parametrize("mode", MODES)
    def test_closed_stream_never_raises(self, mode, log):
        """Logging to a stream the application has closed never raises; the loss is counted."""
        stream = io.StringIO()
        foundation.configure(stream=stream, mode=mode)
        stream.close()
        log.info("after close", n=1)
        assert foundation.flush(WAIT) is True
        stats = foundation.stats()
        assert stats["errors"] >= 1
        assert stats["written"] + stats["dropped"] == stats["emitted"] == 1

    def test_one_bad_record_costs_only_itself(self, log):
        """A sink that rejects 1 record in 1,000: the other 999 of each batch are written, the bad ones counted."""

        class Picky(io.StringIO):
            def write(self, text):
                if '"i":' in text and any(f'"i":{n},' in text for n in (500, 1500, 2500)):
                    raise ValueError("rejected")
                return super().write(text)

        sink = Picky()
        foundation.configure(stream=sink, format="json", batch_size=1000, flush_interval=60)
        for i in range(3000):
            log.info("r", i=i, pad="x")
        assert foundation.flush(WAIT)
        log.info("after")  # carries the drop report
        assert foundation.flush(WAIT)
        records = [loads(line) for line in sink.getvalue().splitlines()]
        written = [r["i"] for r in records if r["event"] == "r"]
        assert written == [i for i in range(3000) if i not in (500, 1500, 2500)]
        assert sum(r["count"] for r in records if r["event"] == "logs_dropped") == 3
        stats = foundation.stats()
        assert (stats["dropped"], stats["errors"]) == (3, 3)

    def test_sink_failing_every_write_is_not_tried_line_by_line_for_long(self, log):
        """A sink that fails every write: a failed batch is retried one line at a time a few times only."""
        calls = []

        class Dead:
            def write(self, text):
                calls.append(text.count("\n"))
                raise OSError(errno.EIO, "I/O error")

        foundation.configure(stream=Dead(), format="json", batch_size=500, flush_interval=60)
        for i in range(500):
            log.info("r", i=i)
        foundation.flush(WAIT)
        # The batch, eight single lines, then at most the flush's try at the drop report.
        assert calls[:9] == [500] + [1] * 8 and calls[9:] in ([], [1])
        stats = foundation.stats()
        assert (stats["written"], stats["dropped"], stats["emitted"]) == (0, 500, 500)

    def test_sink_errors_reported_on_stderr_once_a_second_with_suppressed_count(self):
        """Sink errors give one stderr line per second; the next line says how many were suppressed."""
        result = run_python("""
            import threading, time
            now = [1000.0]
            time.monotonic = lambda: now[0]  # a clock the test moves: no sleeping
            import foundation

            class Full:
                def write(self, text):
                    raise OSError(28, "No space left on device")

            foundation.configure(stream=Full(), mode="sync")
            log = foundation.get_logger("app")
            for i in range(100):
                log.info("event", i=i)
            now[0] += 1.5
            log.info("later")
            print(foundation.stats()["errors"])
        """)
        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 2, lines
        assert "No space left on device" in lines[0]
        assert "99" in lines[1], lines[1]
        assert result.stdout.split() == ["101"]

    def test_bad_value_in_field_never_raises(self, log):
        """A field whose repr() raises, or a non-str event whose str() raises, still gives a line."""

        class Bad:
            def __repr__(self):
                raise RuntimeError("no repr")

            def __str__(self):
                raise RuntimeError("no str")

        for mode in MODES:
            out = capture(mode=mode)
            log.info(Bad(), v=Bad(), nested=[Bad(), {"k": Bad()}])
            assert len(out.lines()) == 1
            assert foundation.stats()["written"] == 1

    def test_keyboard_interrupt_from_lazy_field_is_not_swallowed(self, log):
        """KeyboardInterrupt raised while building a record reaches the application."""
        capture()

        def interrupt():
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            log.info("event", v=foundation.lazy(interrupt))

    def test_errors_count_resets_on_configure(self, log):
        """stats()["errors"] counts since the last configure()."""
        foundation.configure(stream=BrokenSink(RuntimeError("x")), mode="sync")
        log.info("event")
        assert foundation.stats()["errors"] >= 1
        capture()
        assert foundation.stats()["errors"] == 0

    def test_stats_the_monitor_and_the_drop_report_read_one_count(self, gate, log):
        """A full queue drops: stats(), a ResourceMonitor and the logs_dropped record give the same numbers."""
        foundation.configure(stream=gate, format="json", overflow="drop", queue_size=5)
        monitor = foundation.ResourceMonitor(usage=lambda: None, rss=lambda: None)
        wait_writer_held(gate)
        for i in range(50):
            log.info("event", seq=i)
        held, seen = foundation.stats(), monitor.snapshot()  # the writer is held: nothing moves
        assert held["dropped"] > 0 and held["queue_depth"] == 5
        assert (seen["dropped"], seen["queue_depth"], seen["total_logs"]) == (
            held["dropped"], held["queue_depth"], held["emitted"])
        gate.gate.set()
        assert foundation.flush(WAIT)
        stats, seen = foundation.stats(), monitor.snapshot()
        reported = sum(r["count"] for r in gate.records() if r["event"] == "logs_dropped")
        assert reported == stats["dropped"] == seen["dropped"] == held["dropped"]
        assert (seen["total_logs"], seen["bytes_logged"]) == (stats["emitted"], stats["bytes_written"])
        assert stats["written"] + stats["dropped"] == stats["emitted"] == 51 + 1

    @pytest.mark.parametrize("forget", [False, True])
    def test_reset_starts_the_counts_again_and_keeps_the_report_unless_told(self, forget, gate, log):
        """_LEDGER.reset() (configure()'s, and the tests'): every count from zero; the drops still
        to report are reported by the next write, or forgotten with reports=True."""
        foundation.configure(stream=gate, format="json", overflow="drop", queue_size=5)
        wait_writer_held(gate)
        for i in range(20):
            log.info("event", seq=i)
        dropped = foundation.stats()["dropped"]
        assert dropped > 0
        foundation._LEDGER.reset(reports=forget)
        stats = foundation.stats()
        assert stats == {"emitted": 5, "written": 0, "dropped": 0, "sampled_out": 0, "errors": 0,
                         "queue_depth": 5, "bytes_written": 0}  # the queued records count as emitted
        gate.gate.set()
        assert foundation.flush(WAIT)
        reports = [r["count"] for r in gate.records() if r["event"] == "logs_dropped"]
        assert reports == ([] if forget else [dropped])
        stats = foundation.stats()
        assert stats["written"] == 1 + 5 + len(reports)  # the held one, the queued ones, the report
        assert stats["written"] + stats["dropped"] == stats["emitted"] and stats["dropped"] == 0

    def test_every_handler_counts_in_stats_and_any_next_write_reports_a_drop(self, gate, log):
        """Two foundation Handlers: stats() counts both, and a drop in one is reported by the
        next write of either (one report for the process, as stats() has one count)."""
        out = capture(mode="sync")
        other = foundation.Handler(stream=gate, format="json", overflow="drop", queue_size=2)
        side = logging.getLogger("side")
        side.addHandler(other)
        side.propagate = False
        try:
            side.error("gate")
            assert gate.entered.wait(WAIT)
            for i in range(10):
                side.info("side_event")
            held = foundation.stats()
            assert (held["dropped"], held["queue_depth"]) == (10 - 2, 2)
            log.info("main")
            written = [loads(line) for line in split_lines(out.stream.getvalue())]  # sync: written already
            assert [(r["event"], r.get("count")) for r in written] == [("logs_dropped", 8), ("main", None)]
            gate.gate.set()
            assert foundation.flush(WAIT)
            assert [r["event"] for r in gate.records()] == ["gate", "side_event", "side_event"]
            stats = foundation.stats()
            assert (stats["written"], stats["dropped"], stats["emitted"]) == (2 + 3, 8, 2 + 3 + 8)
        finally:
            side.removeHandler(other)
            side.propagate = True
            other.close()

    def test_counts_stay_exact_with_eight_threads_and_a_reset_between(self):
        """Adds from 8 threads at once are all counted; a reset() in between starts them again."""
        ledger = foundation._Ledger()

        def add():
            for _ in range(2000):
                ledger.wrote(1, 10)
                ledger.dropped(1)
                ledger.add_sampled_out()
                ledger.add_error()

        def run():
            threads = [threading.Thread(target=add) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(WAIT)
                assert not thread.is_alive()

        run()
        assert ledger.snapshot() == {"emitted": 32000, "written": 16000, "dropped": 16000, "sampled_out": 16000,
                                     "errors": 16000, "queue_depth": 0, "bytes_written": 160000}
        assert ledger.take_unreported() == 16000 and ledger.take_unreported() == 0
        ledger.dropped(3)
        ledger.reset()
        assert set(ledger.snapshot().values()) == {0} and ledger.resets == 1
        run()
        assert ledger.snapshot()["emitted"] == 32000 and ledger.take_unreported() == 16000 + 3

    def test_a_replaced_handler_stuck_in_a_write_leaves_the_counts_balanced(self, gate, log):
        """configure() replaces a handler whose writer is stuck with records queued: they are the old
        handler's, not queued in stats(), and after flush() written + dropped == emitted."""
        foundation.configure(stream=gate, format="json", shutdown_timeout=0.2)
        wait_writer_held(gate)
        for _ in range(10):
            log.info("queued")
        out = capture(mode="sync")
        log.info("new")
        assert foundation.flush(WAIT)
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"], stats["queue_depth"]) == (1, 1, 0, 0)
        assert [r["event"] for r in out.records()] == ["new"]

    def test_stats_never_count_a_record_twice_while_the_writer_takes_it(self):
        """stats() while one thread logs and the writer writes: emitted never passes what was logged
        (a record is read as written or as queued, not both); at most the one call under way."""
        foundation.configure(stream=io.StringIO(), format="json", batch_size=50, flush_interval=0.001)
        log = foundation.get_logger("app")
        logged = [0]

        def produce():
            for i in range(50_000):
                log.info("x")
                logged[0] = i + 1

        thread = threading.Thread(target=produce)
        thread.start()
        excess = 0
        while thread.is_alive():
            emitted = foundation.stats()["emitted"]
            excess = max(excess, emitted - logged[0])
        thread.join(WAIT)
        assert not thread.is_alive()
        assert excess <= 1
        assert foundation.flush(WAIT) and foundation.stats()["emitted"] == 50_000

    @pytest.mark.skipif(sys.platform == "win32", reason="needs resource.RLIMIT_FSIZE")
    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("room", [60, 96])  # bytes left: 96 cuts the line inside a two-byte "é"
    def test_disk_full_halfway_through_a_line_leaves_no_broken_line(self, mode, room, tmp_path):
        """A write cut short by a full disk leaves no half line and no half character in the file."""
        path = tmp_path / "full.log"
        result = run_python("""
            import json, os, resource, signal, sys, foundation
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit, write() fails with EFBIG
            path, mode, room = sys.argv[1], sys.argv[2], int(sys.argv[3])
            foundation.configure(file=path, format="json", mode=mode)
            log = foundation.get_logger("app")
            log.info("first", v="é" * 10)
            assert foundation.flush()
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) + room, hard))  # the disk fills up
            log.info("second", v="é" * 100)
            assert foundation.flush()
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space is freed again
            log.info("third")
            assert foundation.flush()
            print(json.dumps(foundation.stats()))
        """, path, mode, room)
        assert result.returncode == 0, result.stderr
        records = read_json_lines(path)  # valid UTF-8, and every line parses
        assert [r["event"] for r in records] == ["first", "logs_dropped", "third"]
        assert records[1]["count"] == 1
        stats = json.loads(result.stdout)
        assert (stats["emitted"], stats["written"], stats["dropped"]) == (4, 3, 1)
        assert stats["bytes_written"] == path.stat().st_size


# ---------------------------------------------------------------------------
# Lazy fields
# ---------------------------------------------------------------------------

class TestLazyFields:
    def test_lazy_returns_a_lazy_field(self):
        """lazy(f) returns a LazyField."""
        assert isinstance(foundation.lazy(lambda: 1), foundation.LazyField)

    @pytest.mark.parametrize("mode", MODES)
    def test_lazy_value_is_written(self, mode, log):
        """A lazy field is written as the value its function returns."""
        out = capture(mode=mode)
        log.info("event", n=foundation.lazy(lambda: 42), d=foundation.lazy(lambda: {"a": [1, 2]}))
        record = out.record()
        assert record["n"] == 42
        assert record["d"] == {"a": [1, 2]}

    def test_lazy_not_called_below_level(self, log):
        """The function is not called when the record's level is disabled."""
        calls = []
        out = capture(level="WARNING")
        log.info("hidden", v=foundation.lazy(lambda: calls.append(1)))
        log.debug("hidden", v=foundation.lazy(lambda: calls.append(1)))
        assert out.lines() == []
        assert calls == []

    @pytest.mark.parametrize("mode", MODES)
    def test_lazy_called_once_on_callers_thread(self, mode, log):
        """The function runs exactly once per record, on the thread that logged."""
        calls = []

        def compute():
            calls.append(threading.get_ident())
            return "computed"

        out = capture(mode=mode)
        second = logging.Handler()  # a second handler reads the same record
        second.emit = lambda record: None
        logging.getLogger("app").addHandler(second)
        try:
            log.info("event", v=foundation.lazy(compute))
            assert out.record()["v"] == "computed"
        finally:
            logging.getLogger("app").removeHandler(second)
        assert calls == [threading.get_ident()]

    def test_lazy_error_is_written_in_place(self, log):
        """A function that raises gives "<lazy error: ExcType: message>" and the record is written."""
        out = capture()

        def boom():
            raise ValueError("no value here")

        log.info("event", v=foundation.lazy(boom), other=1)
        record = out.record()
        assert record["v"] == "<lazy error: ValueError: no value here>"
        assert record["other"] == 1
        assert foundation.stats()["written"] == 1

    def test_bound_and_context_lazy_fields_are_computed_per_record(self, log):
        """A lazy field bound to a logger or the context is computed for each record."""
        counter = iter(range(100))
        out = capture()
        bound = log.bind(b=foundation.lazy(lambda: next(counter)))
        with foundation.context(c=foundation.lazy(lambda: "ctx")):
            bound.info("one")
            bound.info("two")
        records = out.records()
        assert [r["b"] for r in records] == [0, 1]
        assert [r["c"] for r in records] == ["ctx", "ctx"]

    def test_lazy_field_in_batch_is_computed_on_callers_thread(self, log):
        """In a batch, a lazy field is computed when the call passes the level check."""
        calls = []
        out = capture()
        with log.batch() as batch:
            batch.info("kept", v=foundation.lazy(lambda: calls.append("info") or 1))
            batch.debug("dropped", v=foundation.lazy(lambda: calls.append("debug") or 2))
        assert calls == ["info"]
        assert [r["v"] for r in out.records()] == [1]


# ---------------------------------------------------------------------------
# Context
# ---------------------------------------------------------------------------

class TestContext:
    def test_bind_context_adds_fields_to_every_logger(self):
        """Context fields appear on the records of every logger."""
        out = capture()
        foundation.bind_context(request_id="r1", user=7)
        foundation.get_logger("a").info("one")
        foundation.get_logger("b").bind(x=1).info("two")
        records = out.records()
        assert len(records) == 2
        for record in records:
            assert record["request_id"] == "r1" and record["user"] == 7, record

    def test_get_context_returns_a_copy(self):
        """get_context() returns the fields; changing the returned dict changes nothing."""
        foundation.bind_context(a=1)
        ctx = foundation.get_context()
        assert ctx == {"a": 1}
        ctx["b"] = 2
        assert foundation.get_context() == {"a": 1}

    def test_unbind_and_clear_context(self):
        """unbind_context() removes keys (missing ones ignored); clear_context() removes all."""
        foundation.bind_context(a=1, b=2, c=3)
        foundation.unbind_context("a", "missing")
        assert foundation.get_context() == {"b": 2, "c": 3}
        foundation.clear_context()
        assert foundation.get_context() == {}

    def test_context_manager_restores_on_exit_and_on_error(self, log):
        """context(**fields) binds for the block and restores the outer fields, even if it raises."""
        out = capture()
        foundation.bind_context(outer=1, shared="outer")
        with foundation.context(inner=2, shared="inner"):
            log.info("inside")
            assert foundation.get_context() == {"outer": 1, "shared": "inner", "inner": 2}
        with pytest.raises(ZeroDivisionError):
            with foundation.context(temp=1):
                1 / 0
        log.info("outside")
        inside, outside = out.records()
        assert (inside["outer"], inside["inner"], inside["shared"]) == (1, 2, "inner")
        assert outside["shared"] == "outer" and "inner" not in outside and "temp" not in outside
        assert foundation.get_context() == {"outer": 1, "shared": "outer"}

    def test_precedence_context_then_bound_then_call(self, log):
        """When names repeat, bound fields beat context fields and call fields beat both."""
        out = capture()
        foundation.bind_context(k="context", c_only=1)
        bound = log.bind(k="bound", b_only=2)
        bound.info("bound wins")
        bound.info("call wins", k="call")
        first, second = out.records()
        assert first["k"] == "bound" and second["k"] == "call"
        assert first["c_only"] == 1 and first["b_only"] == 2

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_field_order_is_context_bound_call(self, fmt, log):
        """Fields follow the library's keys in insertion order: context, bound, call; never sorted."""
        out = capture(format=fmt, emoji=False)
        foundation.bind_context(zc=1, ac=2)
        log.bind(mb=3, bb=4).info("event", zz=5, aa=6, mm=7)
        (line,) = out.lines()
        if fmt == "json":
            keys = list(json.loads(line))
            assert keys == ["timestamp", "level", "logger", "event", "zc", "ac", "mb", "bb", "zz", "aa", "mm"]
        else:
            keys = [k for k, _ in text_fields(line)]
            if fmt == "logfmt":
                assert keys[:4] == ["timestamp", "level", "logger", "event"]
                keys = keys[4:]
            assert keys == ["zc", "ac", "mb", "bb", "zz", "aa", "mm"]

    def test_new_thread_starts_without_the_callers_context(self, log):
        """Context belongs to one thread: a new thread does not see the main thread's fields."""
        out = capture()
        foundation.bind_context(main_only=1)
        thread = threading.Thread(target=lambda: log.info("from thread"))
        thread.start()
        thread.join(WAIT)
        assert "main_only" not in out.record()

    def test_sixteen_threads_each_keep_their_context(self, log):
        """16 threads logging at once: every line carries its own thread's context."""
        out = capture(format="json")
        barrier = threading.Barrier(16)
        errors = []

        def work(n):
            try:
                foundation.bind_context(worker=n, name=f"w{n}")
                barrier.wait(WAIT)
                for i in range(200):
                    with foundation.context(step=i):
                        log.info("tick", expect=n, seq=i)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert errors == []
        records = out.records()
        assert len(records) == 16 * 200
        seqs = {}
        for record in records:
            assert record["worker"] == record["expect"], record
            assert record["name"] == "w%d" % record["expect"]
            assert record["step"] == record["seq"]
            seqs.setdefault(record["worker"], []).append(record["seq"])
        assert all(seq == list(range(200)) for seq in seqs.values())  # order kept per thread
        assert foundation.get_context() == {}

    def test_thousand_asyncio_tasks_each_keep_their_context(self, log):
        """1,000 asyncio tasks interleaving: every line carries its own task's context."""
        out = capture(format="json")

        async def task(n):
            foundation.bind_context(task_id=n)
            await asyncio.sleep(0)
            log.info("sync", expect=n)
            await log.ainfo("async", expect=n)
            with foundation.context(phase="inner"):
                await asyncio.sleep(0)
                await log.ainfo("inner", expect=n)
            await asyncio.sleep(0)
            await log.awarning("after", expect=n)

        async def main():
            foundation.bind_context(parent="main")
            await asyncio.gather(*(task(n) for n in range(1000)))
            return foundation.get_context()

        assert asyncio.run(main()) == {"parent": "main"}
        records = out.records()
        assert len(records) == 4000
        for record in records:
            assert record["task_id"] == record["expect"], record
            assert record["parent"] == "main"
            assert ("phase" in record) == (record["event"] == "inner"), record
        assert foundation.get_context() == {}

    def test_child_task_changes_do_not_leak_to_parent(self):
        """A task gets a copy of its creator's context; what it binds stays in the task."""

        async def child():
            foundation.bind_context(child=1)
            return foundation.get_context()

        async def main():
            foundation.bind_context(parent=1)
            seen = await asyncio.create_task(child())
            return seen, foundation.get_context()

        seen, after = asyncio.run(main())
        assert seen == {"parent": 1, "child": 1}
        assert after == {"parent": 1}


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------

class attached:
    """Attach a standard handler to a logger for the duration of a ``with`` block."""

    def __init__(self, name, formatter="%(levelname)s|%(name)s|%(message)s"):
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logging.Formatter(formatter))
        self.logger = logging.getLogger(name)

    def __enter__(self):
        self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self.handler)

    def lines(self):
        return self.stream.getvalue().splitlines()


class TestRecords:
    def test_pytest_caplog_sees_our_records(self, tmp_path):
        """pytest's caplog gets our records: event is getMessage(), fields are record.fields, secrets redacted."""
        (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
        (tmp_path / "test_caplog.py").write_text(textwrap.dedent('''
            import io, logging
            import foundation

            def test_event_and_fields(caplog):
                foundation.configure(stream=io.StringIO(), format="json")
                foundation.bind_context(ctx=1)
                foundation.get_logger("app").bind(bound=2).info("user_login", user_id=42)
                foundation.clear_context()
                (record,) = [r for r in caplog.records if r.name == "app"]
                assert record.getMessage() == "user_login"
                assert record.levelno == logging.INFO and record.levelname == "INFO"
                assert record.fields == {"ctx": 1, "bound": 2, "user_id": 42}
                assert list(record.fields) == ["ctx", "bound", "user_id"]
                assert "user_login" in caplog.text
                assert caplog.messages == ["user_login"]

            def test_secrets_are_redacted(caplog):
                foundation.configure(stream=io.StringIO(), format="json")
                foundation.get_logger("app").error("payment_failed", password="hunter2",
                                                   card={"token": "t-1", "n": 1})
                (record,) = [r for r in caplog.records if r.name == "app"]
                assert record.fields == {"password": "[REDACTED]", "card": {"token": "[REDACTED]", "n": 1}}
                assert record.password == "[REDACTED]"
                assert "hunter2" not in caplog.text and "t-1" not in caplog.text

            def test_exception(caplog):
                foundation.configure(stream=io.StringIO(), format="json")
                try:
                    raise ValueError("boom")
                except ValueError:
                    foundation.get_logger("app").exception("failed")
                (record,) = [r for r in caplog.records if r.name == "app"]
                assert record.levelno == logging.ERROR
                assert record.exc_info is not None and record.exc_info[0] is ValueError
                assert "ValueError: boom" in caplog.text
        '''))
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "test_caplog.py"], cwd=str(tmp_path), env=clean_env(),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "3 passed" in result.stdout

    def test_standard_formatter_reads_our_records(self, log):
        """A standard handler and Formatter format our records with every usual attribute."""
        capture()
        fmt = ("%(asctime)s|%(levelname)s|%(levelno)d|%(name)s|%(message)s|%(threadName)s|%(thread)d"
               "|%(process)d|%(processName)s|%(msecs)d|%(relativeCreated)d|%(created)f"
               "|%(filename)s|%(lineno)d|%(funcName)s|%(module)s|%(pathname)s|%(fields)s")
        result = {}
        with attached("app", fmt) as std:
            def work():
                log.warning("user %s", "bob", user_id=42)
                result["ident"] = threading.get_ident()
            thread = threading.Thread(target=work, name="worker-7")
            thread.start()
            thread.join(WAIT)
        (line,) = std.lines()
        parts = line.split("|")
        assert parts[1:5] == ["WARNING", "30", "app", "user bob"]
        assert parts[5] == "worker-7"
        assert parts[6] == str(result["ident"])
        assert parts[7] == str(os.getpid())
        assert 0 <= int(parts[9]) < 1000
        assert abs(float(parts[11]) - time.time()) < 60
        assert parts[-1] == "{'user_id': 42}"

    def test_standard_formatter_shows_exception_and_stack(self, log):
        """A standard Formatter shows the traceback and stack_info of our records."""
        capture()
        with attached("app", "%(message)s") as std:
            try:
                raise KeyError("missing")
            except KeyError:
                log.error("failed", exc_info=True, stack_info=True)
        text = std.stream.getvalue()
        assert text.startswith("failed\n")
        assert "Traceback (most recent call last)" in text and "KeyError: 'missing'" in text
        assert "Stack (most recent call last)" in text

    def test_get_message_applies_args(self, log):
        """%-style args are merged into the event, as logging does; getMessage() returns it."""
        out = capture()
        seen = []

        class Keep(logging.Handler):
            def emit(self, record):
                seen.append(record.getMessage())

        keep = Keep()
        logging.getLogger("app").addHandler(keep)
        try:
            log.info("user %s has %d items", "bob", 3)
            log.info("%(name)s=%(n)d", {"name": "x", "n": 5})
        finally:
            logging.getLogger("app").removeHandler(keep)
        assert [r["event"] for r in out.records()] == ["user bob has 3 items", "x=5"]
        assert seen == ["user bob has 3 items", "x=5"]

    @pytest.mark.parametrize("event,args,must_hold", [
        ("x %d", ("not a number",), ["x %d", "not a number"]),
        ("%s and %s", (1,), ["%s and %s", "1"]),
        ("no placeholders", (5,), ["no placeholders", "5"]),
        ("%(missing)s", ({"other": "kept"},), ["%(missing)s", "kept"]),
    ])
    def test_bad_format_never_raises_and_keeps_args(self, event, args, must_hold, log):
        """A bad %-format never raises: the event is kept with the args appended."""
        out = capture()
        log.info(event, *args)
        written = out.record()["event"]
        assert written.startswith(event)
        for part in must_hold:
            assert part in written

    def test_plain_logging_extras_become_fields(self):
        """extra= of a plain logging call comes out as fields, with the formatted message as event."""
        out = capture()
        logging.getLogger("thirdparty").warning("hello %s", "world", extra={"user_id": 7, "tags": ["a"]})
        record = out.record()
        assert record["event"] == "hello world"
        assert record["logger"] == "thirdparty"
        assert record["level"] == "warning"
        assert record["user_id"] == 7 and record["tags"] == ["a"]

    def test_plain_logging_extra_named_like_a_library_key_is_renamed(self):
        """extra={"timestamp": ...} from plain logging is kept as timestamp_, never overwriting."""
        out = capture()
        logging.getLogger("thirdparty").warning("hi", extra={"timestamp": "mine", "level": 3})
        record = out.record()
        assert record["timestamp_"] == "mine" and record["level_"] == 3
        assert record["level"] == "warning" and record["timestamp"].endswith("Z")

    def test_plain_logging_exception_and_stack(self):
        """exc_info and stack_info of plain logging calls become the exception and stack fields."""
        out = capture()
        try:
            raise ValueError("plain boom")
        except ValueError:
            logging.getLogger("thirdparty").exception("failed")
        logging.getLogger("thirdparty").warning("where", stack_info=True)
        failed, where = out.records()
        assert "ValueError: plain boom" in failed["exception"]
        assert failed["level"] == "error"
        assert where["stack"].startswith("Stack (most recent call last)")
        assert "test_plain_logging_exception_and_stack" in where["stack"]

    def test_plain_logging_mutable_extra_written_as_at_call_time(self, gate):
        """A mutable extra changed after the plain logging call is written as it was at the call."""
        foundation.configure(stream=gate, format="json")
        wait_writer_held(gate)
        items = [1]
        logging.getLogger("thirdparty").warning("snap", extra={"items": items})
        items.append(2)
        gate.gate.set()
        assert foundation.flush(WAIT) is True
        assert gate.records()[-1]["items"] == [1]

    def test_non_str_event_is_written_as_str(self, log):
        """A non-str event is written as str(event)."""

        class Named:
            def __str__(self):
                return "custom event"

        events = [42, None, 3.5, b"raw", Named(), ("a", 1), ValueError("err")]
        out = capture()
        for event in events:
            log.info(event)
        assert [r["event"] for r in out.records()] == [str(e) for e in events]

    def test_plain_record_without_extras_has_only_library_keys(self):
        """A plain logging record without extras is written with the library's keys only."""
        out = capture()
        logging.getLogger("thirdparty").info("plain")
        record = out.record()
        assert list(record) == ["timestamp", "level", "logger", "event"]


class TestBoundary:
    # -- redaction before the first handler ------------------------------------
    def test_other_handlers_receive_redacted_fields(self, attach, log):
        """Another handler gets secrets redacted, top-level and nested; the caller's objects are unchanged."""
        out = capture()
        keep = attach(Keep(), "app")
        call = copy.deepcopy(SECRETS)
        card = call["card"]
        log.error("payment_failed", **call)
        (record,) = keep.records
        assert record.fields == REDACTED
        assert list(record.fields) == ["password", "api_key", "card"]
        assert call == SECRETS and call["card"] is card
        assert without_timestamp(out.record()) == {
            "level": "error", "logger": "app", "event": "payment_failed", **REDACTED}

    def test_bound_and_context_fields_are_redacted_before_handlers(self, attach, log):
        """Secrets in context fields and bound fields reach other handlers redacted too."""
        capture()
        keep = attach(Keep(), "app")
        foundation.bind_context(secret="s")
        with foundation.context(session_token="c"):
            log.bind(token="x").info("step", user="ada")
        (record,) = keep.records
        assert record.fields == {"secret": "[REDACTED]", "session_token": "[REDACTED]",
                                 "token": "[REDACTED]", "user": "ada"}
        assert list(record.fields) == ["secret", "session_token", "token", "user"]

    @pytest.mark.parametrize("read", [sentry_extra, otel_attributes], ids=["sentry_vars", "otel_dict"])
    def test_integrations_reading_record_dict_see_redacted_flat_fields(self, read, attach, log):
        """A root handler added before configure() reads redacted fields as attributes, and no private ones."""
        reporter = attach(Keep(read))
        out = capture()
        log.error("payment_failed", **SECRETS)
        (extra,) = reporter.seen
        assert [key for key in extra if key.startswith("_")] == []
        assert extra["password"] == "[REDACTED]"
        assert extra == {"fields": REDACTED, **REDACTED}
        assert out.record()["password"] == "[REDACTED]"

    def test_configure_redact_changes_what_handlers_receive(self, attach, log):
        """configure(redact=[...]) sets what is redacted before the handlers: only the names given."""
        out = capture(redact=["card_number"])
        keep = attach(Keep(), "app")
        log.error("payment", password="hunter2", card_number="4111", card={"card_number": "4111", "n": 1})
        expected = {"password": "hunter2", "card_number": "[REDACTED]",
                    "card": {"card_number": "[REDACTED]", "n": 1}}
        (record,) = keep.records
        assert record.fields == expected
        assert without_timestamp(out.record()) == {
            "level": "error", "logger": "app", "event": "payment", **expected}

    # -- fields as attributes ---------------------------------------------------
    def test_fields_are_record_attributes(self, attach, log):
        """Fields are attributes as extra= values are; LogRecord attributes are never overwritten."""
        capture()
        keep = attach(Keep(), "app")
        log.info("order", order_id=7, name="x", msg="y")
        (record,) = keep.records
        assert record.order_id == 7
        assert getattr(record, "order_id") == 7
        assert record.__dict__["order_id"] == 7
        assert (record.name, record.msg, record.getMessage()) == ("app", "order", "order")
        assert record.fields == {"order_id": 7, "name": "x", "msg": "y"}
        assert list(record.fields) == ["order_id", "name", "msg"]
        assert getattr(record, "nope", None) is None
        assert [key for key in record.__dict__ if key.startswith("_")] == []

    def test_standard_formatter_reads_fields_by_name(self, log):
        """A standard Formatter can name a field: %(order_id)s."""
        capture()
        with attached("app", "%(levelname)s %(message)s %(order_id)s") as std:
            log.info("order", order_id=7)
        assert std.stream.getvalue() == "INFO order 7\n"

    # -- public Formatter and Handler ---------------------------------------------
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_formatter_renders_our_records_as_configure_does(self, fmt, attach, log):
        """Formatter(fmt).format(record) is the line configure(format=fmt) writes, without its newline."""
        out = capture(format=fmt)
        keep = attach(Keep(), "app")
        log.info("order", order_id=7)
        (record,) = keep.records
        (written,) = out.lines()
        formatter = foundation.Formatter(fmt)
        assert isinstance(formatter, logging.Formatter)
        assert formatter.format(record) == written
        assert field_of(fmt, written, "order_id") == "7"

    def test_formatter_defaults_to_key_value(self, attach, log):
        """foundation.Formatter() renders key_value; Formatter("json") gives the JSON record."""
        capture()
        keep = attach(Keep(), "app")
        log.info("order", order_id=7)
        (record,) = keep.records
        assert foundation.Formatter().format(record) == foundation.Formatter("key_value").format(record)
        assert re.match(KV_STAMP + r" \[info    \] order .*order_id=7$", foundation.Formatter().format(record))
        assert without_timestamp(loads(foundation.Formatter("json").format(record))) == {
            "level": "info", "logger": "app", "event": "order", "order_id": 7}

    def test_formatter_formats_plain_records_with_extras_as_fields(self, attach):
        """foundation.Formatter on a standard handler writes a plain record's extra= values as fields."""
        stream = io.StringIO()
        handler = attach(logging.StreamHandler(stream), "lib")
        handler.setFormatter(foundation.Formatter("json"))
        logging.getLogger("lib").warning("w %s", 1, extra={"attempt": 2, "password": "p"})
        (line,) = split_lines(stream.getvalue())
        assert without_timestamp(loads(line)) == {
            "level": "warning", "logger": "lib", "event": "w 1", "attempt": 2, "password": "[REDACTED]"}

    def test_formatter_redact_option(self):
        """Formatter(redact=[...]) replaces the list of redacted names."""
        record = logging.makeLogRecord({"name": "lib", "levelno": logging.INFO, "levelname": "INFO",
                                        "msg": "m", "password": "p", "pin": "1234"})
        default = loads(foundation.Formatter("json").format(record))
        chosen = loads(foundation.Formatter("json", redact=["pin"]).format(record))
        assert (default["password"], default["pin"]) == ("[REDACTED]", "1234")
        assert (chosen["password"], chosen["pin"]) == ("p", "[REDACTED]")

    def test_dictconfig_with_our_formatter(self, root_handlers, log):
        """dictConfig can use {"()": "foundation.Formatter"}: a JSON line per record, ours and plain."""
        stream = io.StringIO()
        logging.config.dictConfig({
            "version": 1, "disable_existing_loggers": False,
            "formatters": {"f": {"()": "foundation.Formatter", "format": "json"}},
            "handlers": {"h": {"class": "logging.StreamHandler", "stream": stream, "formatter": "f"}},
            "root": {"handlers": ["h"], "level": "INFO"},
        })
        log.info("order", order_id=7, password="p")
        logging.getLogger("lib").warning("w %s", 1, extra={"attempt": 2})
        (handler,) = logging.getLogger().handlers  # foundation added none of its own
        assert isinstance(handler.formatter, foundation.Formatter)
        assert [without_timestamp(loads(line)) for line in split_lines(stream.getvalue())] == [
            {"level": "info", "logger": "app", "event": "order", "order_id": 7, "password": "[REDACTED]"},
            {"level": "warning", "logger": "lib", "event": "w 1", "attempt": 2},
        ]

    def test_dictconfig_with_our_handler(self, root_handlers, log):
        """dictConfig can install {"()": "foundation.Handler"}; flush() waits for it too."""
        stream = io.StringIO()
        logging.config.dictConfig({
            "version": 1, "disable_existing_loggers": False,
            "handlers": {"h": {"()": "foundation.Handler", "format": "json", "stream": stream}},
            "root": {"handlers": ["h"], "level": "INFO"},
        })
        (handler,) = logging.getLogger().handlers
        assert isinstance(handler, foundation.Handler)
        log.info("order", order_id=7)
        logging.getLogger("lib").warning("w %s", 1, extra={"attempt": 2})
        assert foundation.flush(WAIT) is True
        assert [without_timestamp(loads(line)) for line in split_lines(stream.getvalue())] == [
            {"level": "info", "logger": "app", "event": "order", "order_id": 7},
            {"level": "warning", "logger": "lib", "event": "w 1", "attempt": 2},
        ]

    def test_rotating_file_handler_with_our_formatter(self, tmp_path, attach, log):
        """RotatingFileHandler with our Formatter rotates by size; every file holds whole JSON lines."""
        path = tmp_path / "app.log"
        handler = attach(logging.handlers.RotatingFileHandler(path, maxBytes=250, backupCount=2,
                                                              encoding="utf-8"), "app")
        handler.setFormatter(foundation.Formatter("json"))
        logging.getLogger("app").setLevel(logging.INFO)
        for i in range(10):
            log.info("tick", i=i)
        handler.close()
        files = [tmp_path / "app.log.2", tmp_path / "app.log.1", path]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["app.log", "app.log.1", "app.log.2"]
        records = []
        for file in files:
            assert 0 < file.stat().st_size <= 250, file
            records += [loads(line) for line in split_lines(file.read_text(encoding="utf-8"))]
        kept = len(records)
        assert kept >= 3
        assert [without_timestamp(r) for r in records] == [
            {"level": "info", "logger": "app", "event": "tick", "i": i} for i in range(10 - kept, 10)]

    def test_syslog_handler_with_our_formatter(self, attach, log):
        """SysLogHandler with our Formatter sends the JSON line, fields redacted, in one UDP datagram."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
            server.bind(("127.0.0.1", 0))
            server.settimeout(WAIT)
            handler = attach(logging.handlers.SysLogHandler(address=server.getsockname()), "app")
            handler.setFormatter(foundation.Formatter("json"))
            logging.getLogger("app").setLevel(logging.INFO)
            log.info("order", order_id=7, password="p")
            datagram = server.recv(65536).decode("utf-8")
        match = re.fullmatch(r"<14>(.*)\x00", datagram)  # facility user (1) * 8 + info (6)
        assert match, datagram
        assert without_timestamp(loads(match.group(1))) == {
            "level": "info", "logger": "app", "event": "order", "order_id": 7, "password": "[REDACTED]"}

    # -- etiquette ----------------------------------------------------------------
    def test_no_auto_configuration_when_root_has_handlers(self):
        """After logging.basicConfig(), the first log call goes to its handler; foundation adds none."""
        result = run_python("""
            import logging, sys
            logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
            import foundation
            foundation.get_logger("app").info("hello", a=1)
            assert len(logging.getLogger().handlers) == 1, logging.getLogger().handlers
        """)
        assert (result.returncode, result.stdout, result.stderr) == (0, "hello\n", "")

    @pytest.mark.parametrize("setup", ["none", "installed_first", "vendored_first"])
    def test_two_copies_give_one_line_per_record(self, setup, tmp_path):
        """An installed and a vendored copy: each record written once, with its fields, by either's handler."""
        result = run_python("""
            import logging, sys
            import foundation
            import myapp._vendor.foundation as vendored
            assert vendored is not foundation
            setup = sys.argv[1]
            if setup == "installed_first":
                foundation.configure(stream=sys.stdout)
                vendored.configure(stream=sys.stdout)
            elif setup == "vendored_first":
                vendored.configure(stream=sys.stdout)
                foundation.configure(stream=sys.stdout)
            foundation.get_logger("a").info("from_installed", i=1)
            vendored.get_logger("v").info("from_vendored", k=1)
            logging.getLogger("plain").warning("from_plain", extra={"p": 3})
            foundation.flush(10)
            vendored.flush(10)
        """, setup, env={"PYTHONPATH": vendor_copy(tmp_path)})
        assert result.returncode == 0, result.stderr
        written, other = (result.stderr, result.stdout) if setup == "none" else (result.stdout, result.stderr)
        assert other == ""
        lines = split_lines(written)
        assert len(lines) == 3, written
        for line, (event, field) in zip(lines, [("from_installed", "i=1"), ("from_vendored", "k=1"),
                                                ("from_plain", "p=3")]):
            assert f" {event} " in line and line.endswith(" " + field), written

    def test_configure_keeps_other_handlers_and_loggers(self, attach, log):
        """configure() keeps handlers it did not install, never duplicates its own, and disables no logger."""
        existing = logging.getLogger("existing.lib")
        keep = attach(Keep())
        capture()
        out = capture()
        assert keep in logging.getLogger().handlers
        assert len(own_handlers()) == 1
        assert existing.disabled is False
        log.info("after", n=1)
        existing.info("lib_line")
        assert [r.getMessage() for r in keep.records] == ["after", "lib_line"]
        assert [r["event"] for r in out.records()] == ["after", "lib_line"]

    # -- who a record reaches ------------------------------------------------------
    def test_handler_above_the_level_sees_only_its_records(self, attach, log):
        """A handler at ERROR beside ours receives the ERROR record (redacted), not the INFO one."""
        keep = attach(Keep(read=sentry_extra))
        keep.setLevel(logging.ERROR)
        out = capture()
        log.info("routine", password="hunter2")
        log.error("failed", password="hunter2", n=1)
        assert [r.getMessage() for r in keep.records] == ["failed"]
        fields = {"password": "[REDACTED]", "n": 1}
        assert keep.seen == [{"fields": fields, **fields}]
        assert [(r["event"], r["password"]) for r in out.records()] == [
            ("routine", "[REDACTED]"), ("failed", "[REDACTED]")]

    def test_listeners_added_later_see_later_records(self, attach, log):
        """A handler or a logger filter added after records were written sees the records after it."""
        out = capture()
        log.info("before")
        keep = attach(Keep(), "app")
        log.info("with_handler", n=1)
        seen = []
        log_filter = lambda record: seen.append(record.getMessage()) or True  # noqa: E731
        logging.getLogger("app").addFilter(log_filter)
        try:
            log.info("with_filter")
        finally:
            logging.getLogger("app").removeFilter(log_filter)
        keep.setLevel(logging.WARNING)
        log.info("handler_raised")
        assert [r.getMessage() for r in keep.records] == ["with_handler", "with_filter"]
        assert keep.records[0].n == 1
        assert seen == ["with_filter"]
        assert [r["event"] for r in out.records()] == [
            "before", "with_handler", "with_filter", "handler_raised"]

    def test_our_handler_level_applies(self, log):
        """Our Handler's own level (setLevel) drops lower records whatever the logger's level."""
        out = capture()
        own_handlers()[0].setLevel(logging.WARNING)
        log.info("dropped")
        log.warning("kept")
        assert [r["event"] for r in out.records()] == ["kept"]

    def test_propagate_false_stops_at_the_logger(self, attach, log):
        """A logger that does not propagate reaches only its own handlers, as in logging."""
        capture()
        keep = attach(Keep(), "app")
        logging.getLogger("app").propagate = False
        try:
            log.info("local")
        finally:
            logging.getLogger("app").propagate = True
        assert [r.getMessage() for r in keep.records] == ["local"]
        assert foundation.stats()["written"] == 0

    # -- batches --------------------------------------------------------------------
    @staticmethod
    def wrap_logger_method(monkeypatch, method):
        """Install a wrapper around ``logging.Logger.<method>`` as integrations do; return what it sees."""
        seen = []
        original = getattr(logging.Logger, method)

        def wrapper(self, record):
            seen.append((self.name, record.getMessage()))
            return original(self, record)

        monkeypatch.setattr(logging.Logger, method, wrapper)
        return seen

    @pytest.mark.parametrize("method", ["callHandlers", "handle"])
    def test_records_reach_logger_method_wrappers(self, method, monkeypatch, log):
        """A wrapper installed around Logger.callHandlers or Logger.handle sees each ordinary call's record."""
        seen = self.wrap_logger_method(monkeypatch, method)
        out = capture()
        log.info("call")
        assert seen == [("app", "call")]
        assert [r["event"] for r in out.records()] == ["call"]

    @pytest.mark.parametrize("method", ["callHandlers", "handle"])
    def test_batched_records_reach_logger_method_wrappers(self, method, monkeypatch, log):
        """A wrapper installed around Logger.callHandlers or Logger.handle sees every batched record, in order."""
        seen = self.wrap_logger_method(monkeypatch, method)
        out = capture()
        with log.batch() as b:
            b.error("e1")
            b.info("i1")
        assert seen == [("app", "e1"), ("app", "i1")]
        assert [r["event"] for r in out.records()] == ["e1", "i1"]

    def test_batched_records_pass_filters_of_other_handlers(self, attach, log):
        """A filter on another root handler sees every batched record, in order."""
        seen = []

        class Remember(logging.Filter):
            def filter(self, record):
                seen.append(record.getMessage())
                return True

        keep = attach(Keep())
        keep.addFilter(Remember())
        out = capture()
        with log.batch() as b:
            b.error("e1")
            b.info("i1")
        assert seen == ["e1", "i1"]
        assert [r.getMessage() for r in keep.records] == ["e1", "i1"]
        assert [r["event"] for r in out.records()] == ["e1", "i1"]

    # -- streams ----------------------------------------------------------------------
    @pytest.mark.parametrize("mode", MODES)
    def test_default_stream_is_stderr_at_write_time(self, mode, log):
        """Without stream=, lines go to sys.stderr as it is when written: redirect_stderr receives them."""
        foundation.configure(format="json", mode=mode)
        buffer = io.StringIO()
        with contextlib.redirect_stderr(buffer):
            log.info("redirected", n=1)
            assert foundation.flush(WAIT) is True
        assert [(r["event"], r["n"]) for r in map(loads, split_lines(buffer.getvalue()))] == [
            ("redirected", 1)]

    def test_pytest_capture_receives_lines_configured_before_it(self, tmp_path):
        """configure() at import; each test's capsys gets that test's lines, and no closed-file error."""
        (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings =\n    error\n")
        (tmp_path / "test_capture.py").write_text(textwrap.dedent('''
            import json
            import foundation

            foundation.configure(format="json")  # before any test's capture exists

            def events(capsys):
                assert foundation.flush(10) is True
                return [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()]

            def test_first(capsys):
                foundation.get_logger("app").info("first")
                assert events(capsys) == ["first"]

            def test_second(capsys):
                foundation.get_logger("app").info("second")
                assert events(capsys) == ["second"]
        '''))
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 "test_capture.py"], cwd=str(tmp_path), env=clean_env(),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert "2 passed" in result.stdout
        assert "I/O operation on closed file" not in result.stdout + result.stderr

    @pytest.mark.parametrize("restore", [False, True], ids=["left_in_place", "restored_first"])
    def test_closed_capture_stream_is_never_written(self, restore):
        """A record logged after sys.stderr's capture object is closed goes to the real stderr; exit is clean."""
        result = run_python("""
            import io, sys
            import foundation
            captured = io.StringIO()
            sys.stderr = captured
            foundation.configure(format="json")
            log = foundation.get_logger("app")
            log.info("captured", n=1)
            assert foundation.flush(10) is True
            sys.stdout.write(captured.getvalue())
            if sys.argv[1] == "True":
                sys.stderr = sys.__stderr__
            captured.close()
            log.info("after_close", n=2)
        """, restore)
        assert result.returncode == 0, result.stderr
        assert "closed file" not in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert [(r["event"], r["n"]) for r in map(loads, split_lines(result.stdout))] == [("captured", 1)]
        assert [(r["event"], r["n"]) for r in map(loads, split_lines(result.stderr))] == [("after_close", 2)]

    @pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
    def test_terminal_lines_appear_before_the_call_returns(self):
        """On a terminal, log lines and the program's own output appear in the order they happened."""
        import pty

        master, slave = pty.openpty()
        proc = None
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent("""
                    import os
                    import foundation
                    log = foundation.get_logger("app")
                    log.info("first_line")
                    os.write(2, b"SECOND\\n")
                    log.info("third_line")
                    print("FOURTH", flush=True)
                """)],
                stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, cwd=str(HERE), env=clean_env())
            os.close(slave)
            slave = None
            text = read_pty(master, proc)
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(WAIT)
        markers = ["first_line", "SECOND", "third_line", "FOURTH"]
        assert [text.count(marker) for marker in markers] == [1, 1, 1, 1], text
        assert sorted(markers, key=text.index) == markers, text


class TestRecordsEdges:
    def test_callsite_in_json_right_after_event(self, log):
        """callsite=True: the JSON key callsite is file.py:line of the call, right after event."""
        out = capture(callsite=True)
        line = next_line()
        log.info("here", k=1)
        record = out.record()
        assert record["callsite"] == site(line)
        assert list(record) == ["timestamp", "level", "logger", "event", "callsite", "k"]

    @pytest.mark.parametrize("fmt", ["key_value", "logfmt"])
    def test_callsite_in_text_formats(self, fmt, log):
        """callsite=True: key_value and logfmt lines hold callsite=file.py:line before the fields."""
        out = capture(format=fmt, callsite=True)
        line = next_line()
        log.info("here", k=1)
        (text,) = out.lines()
        assert text.endswith(f" callsite={site(line)} k=1"), text
        if fmt == "logfmt":
            assert f" event=here callsite={site(line)} k=1" in text, text

    def test_callsite_on_the_record_for_other_handlers(self, log):
        """callsite=True: a handler on the root sees the caller's pathname, lineno and funcName."""
        capture(callsite=True)
        function = inspect.currentframe().f_code.co_name
        with attached("", "%(pathname)s|%(filename)s|%(module)s|%(lineno)d|%(funcName)s") as seen:
            line = next_line()
            log.info("here")
        filename = os.path.basename(__file__)
        assert seen.lines() == [
            f"{__file__}|{filename}|{os.path.splitext(filename)[0]}|{line}|{function}"]

    def test_callsite_through_a_bound_logger(self, log):
        """callsite=True: a bound logger's call gives the caller's line; context and bound fields follow."""
        out = capture(callsite=True)
        bound = log.bind(b=2)
        with foundation.context(ctx=1):
            line = next_line()
            bound.info("here", k=3)
        record = out.record()
        assert record["callsite"] == site(line)
        assert list(record) == ["timestamp", "level", "logger", "event", "callsite", "ctx", "b", "k"]

    def test_callsite_through_a_batch(self, log):
        """callsite=True: each call inside log.batch() gives its own line."""
        out = capture(callsite=True)
        with log.batch() as batch:
            first = next_line()
            batch.info("one")
            batch.info("two")
        assert [(r["event"], r["callsite"]) for r in out.records()] == [
            ("one", site(first)), ("two", site(first + 1))]

    def test_callsite_through_an_async_call(self, log):
        """callsite=True: await log.ainfo() gives the line of the await, not one inside foundation."""
        out = capture(callsite=True)

        async def main():
            line = next_line()
            await log.ainfo("here")
            return line

        line = asyncio.run(main())
        assert out.record()["callsite"] == site(line)

    def test_callsite_of_a_plain_logging_call(self):
        """callsite=True: a record from plain logging.getLogger() gets the callsite key too."""
        out = capture(callsite=True)
        line = next_line()
        logging.getLogger("lib").warning("here")
        record = out.record()
        assert record["callsite"] == site(line)
        assert list(record) == ["timestamp", "level", "logger", "event", "callsite"]

    def test_callsite_field_of_the_user_is_renamed(self, log):
        """callsite=True: a user field named callsite is kept as callsite_, never overwriting the key."""
        out = capture(callsite=True)
        line = next_line()
        log.info("here", callsite="mine")
        record = out.record()
        assert (record["callsite"], record["callsite_"]) == (site(line), "mine")

    def test_no_callsite_by_default(self, log):
        """Without callsite=True no callsite key is written, and record.lineno stays 0."""
        out = capture()
        with attached("", "%(lineno)d") as seen:
            log.info("here", k=1)
        assert list(out.record()) == ["timestamp", "level", "logger", "event", "k"]
        assert seen.lines() == ["0"]

    @pytest.mark.parametrize("facade", [False, True], ids=["logging", "foundation"])
    def test_mapping_args_format_the_event(self, facade):
        """warning("user %(user)s", {"user": "ada"}) writes "user ada", as logging does; no error."""
        out = capture()
        lib = foundation.get_logger("lib") if facade else logging.getLogger("lib")
        lib.warning("user %(user)s", {"user": "ada"})
        record = out.record()
        assert list(record) == ["timestamp", "level", "logger", "event"]
        assert (record["level"], record["logger"], record["event"]) == ("warning", "lib", "user ada")
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"], stats["errors"]) == (1, 1, 0, 0)


LOGFMT_HEAD = r"timestamp=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z level=info logger=app "


# ---------------------------------------------------------------------------
# Rendering: values, escaping, redaction, emoji, line formats
# ---------------------------------------------------------------------------

class Color(enum.Enum):
    RED = "red"


class Priority(enum.IntEnum):
    HIGH = 3


class Thing:
    def __repr__(self):
        return "<Thing 7>"


class ReprRaises:
    def __repr__(self):
        raise RuntimeError("repr failed")


class ReprNotStr:
    def __repr__(self):
        return 5


def nested_lists(depth, inner=0):
    """``inner`` wrapped in ``depth`` lists."""
    value = inner
    for _ in range(depth):
        value = [value]
    return value


KV_STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}"
RFC3339_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
TRUNCATED = re.compile(r"(?s)(.*)…\[truncated (\d+) chars\]")


class TestRendering:
    # -- layouts -------------------------------------------------------------
    @pytest.mark.parametrize("value", ["x y", "a=b", 'say "hi"', "", "end="])
    def test_one_value_to_quote_in_a_batch(self, value):
        """Lines written together are checked together: one value that needs quoting is
        quoted, the others are not, and every line reads back, in order."""
        sink = GateSink()
        foundation.configure(stream=sink, format="key_value")
        wait_writer_held(sink)
        log = foundation.get_logger("app")
        for i in range(20):
            log.info("e", i=i, v=value if i == 7 else f"ok{i}", w=1)
        sink.gate.set()
        assert foundation.flush(WAIT) is True
        lines = sink.lines()[1:]
        assert [[(k, unquote(v)) for k, v in text_fields(line)] for line in lines] == [
            [("i", str(i)), ("v", value if i == 7 else f"ok{i}"), ("w", "1")] for i in range(20)]
        assert [line.count('"') for line in lines] == [0] * 7 + [lines[7].count('"')] + [0] * 12
        assert lines[7].count('"') >= 2

    def test_key_value_layout(self):
        """key_value: local time with milliseconds, level padded to 8, event, then key=value."""
        out = capture(format="key_value")
        foundation.logger.info("user_login", user_id=42, name="bob")
        (line,) = out.lines()
        assert re.fullmatch(KV_STAMP + r" \[info    \] user_login user_id=42 name=bob", line), line

    def test_key_value_shows_logger_name_unless_root(self):
        """key_value shows the logger name when it is not the root."""
        out = capture(format="key_value")
        foundation.logger.info("top_event")
        foundation.get_logger("app.db").info("from_app")
        root_line, app_line = out.lines()
        assert "root" not in root_line
        assert re.match(KV_STAMP + r" \[info    \] from_app", app_line)
        assert "app.db" in app_line

    @pytest.mark.parametrize("method,label", [
        ("trace", "trace"), ("debug", "debug"), ("info", "info"), ("warning", "warning"),
        ("error", "error"), ("critical", "critical")])
    def test_key_value_level_padded_to_eight(self, method, label, log):
        """The key_value level is the lower-case name padded to 8 in brackets."""
        out = capture(format="key_value", level="TRACE")
        getattr(log, method)("event")
        (line,) = out.lines()
        assert re.match(KV_STAMP + r" \[(.{8})\] event", line).group(1) == label.ljust(8)

    @pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset()")
    def test_key_value_uses_local_time_json_uses_utc(self, log):
        """key_value stamps are local time; JSON and logfmt stamps are UTC with microseconds and Z."""
        old = os.environ.get("TZ")
        os.environ["TZ"] = "IST-05:30"  # far from UTC, with a half-hour offset
        time.tzset()
        try:
            kv = capture(format="key_value")
            log.info("event")
            kv_line = kv.lines()[0]
            js = capture(format="json")
            log.info("event")
            js_stamp = js.record()["timestamp"]
            lf = capture(format="logfmt")
            log.info("event")
            lf_stamp = text_field(lf.lines()[0], "timestamp")
            now_local = datetime.datetime.now()
            now_utc = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        finally:
            if old is None:
                del os.environ["TZ"]
            else:
                os.environ["TZ"] = old
            time.tzset()
        local = datetime.datetime.strptime(kv_line[:23], "%Y-%m-%d %H:%M:%S.%f")
        assert abs((now_local - local).total_seconds()) < 30
        for stamp in (js_stamp, lf_stamp):
            assert re.fullmatch(RFC3339_UTC, stamp), stamp
            utc = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
            assert abs((now_utc - utc).total_seconds()) < 30

    def test_json_layout(self):
        """JSON: timestamp, level, logger, event first, then the fields; one object a line."""
        out = capture(format="json")
        foundation.get_logger("app").warning("user_login", user_id=42, ok=True, none=None)
        (line,) = out.lines()
        record = loads(line)
        assert list(record) == ["timestamp", "level", "logger", "event", "user_id", "ok", "none"]
        assert re.fullmatch(RFC3339_UTC, record["timestamp"])
        assert (record["level"], record["logger"], record["event"]) == ("warning", "app", "user_login")
        assert (record["user_id"], record["ok"], record["none"]) == (42, True, None)

    def test_logfmt_layout(self):
        """logfmt: timestamp=... level=info logger=name event=... key=value."""
        out = capture(format="logfmt")
        foundation.get_logger("app").info("user_login", user_id=42, name="bob")
        (line,) = out.lines()
        assert re.fullmatch(r"timestamp=(\S+) level=info logger=app event=user_login user_id=42 name=bob",
                            line), line

    @pytest.mark.parametrize("fmt", ["key_value", "logfmt"])
    @pytest.mark.parametrize("value,quoted", [
        ("plain", False), ("a b", True), ('say "hi"', True), ("a=b", True), ("", True)])
    def test_text_formats_quote_when_needed(self, fmt, value, quoted, log):
        """Strings are quoted when they hold a space, a quote or =, or are empty; quotes are escaped."""
        out = capture(format=fmt)
        log.info("event", v=value, after=1)
        (line,) = out.lines()
        token = text_field(line, "v")
        assert token.startswith('"') is quoted, token
        assert unquote(token) == value
        assert text_field(line, "after") == "1"

    # -- control characters and escapes ------------------------------------------
    @pytest.mark.parametrize("fmt", FORMATS)
    @pytest.mark.parametrize("place", ["event", "key", "value", "nested", "logger", "bound",
                                       "context", "exception", "extra"])
    def test_control_characters_never_reach_the_output(self, fmt, place):
        """No raw control character, DEL, C1, U+2028/9 from user data; JSON parses back exactly."""
        nasty = "a" + UNSAFE + "z"
        out = capture(format=fmt)
        name = nasty if place == "logger" else "app"
        log = foundation.get_logger(name)
        if place == "event":
            log.info(nasty)
        elif place == "key":
            log.info("event", **{nasty: 1})
        elif place == "value":
            log.info("event", v=nasty)
        elif place == "nested":
            log.info("event", v={"k": [nasty], nasty: (nasty,)})
        elif place == "logger":
            log.info("event")
        elif place == "bound":
            log.bind(v=nasty).info("event")
        elif place == "context":
            with foundation.context(v=nasty):
                log.info("event")
        elif place == "exception":
            try:
                raise ValueError(nasty)
            except ValueError:
                log.exception("event")
        else:
            logging.getLogger(name).warning("%s", nasty, extra={"v": nasty})
        text = out.text()
        assert_clean(text, 1)
        if fmt != "json":
            return
        record = loads(text)
        expected = {
            "event": ("event", nasty), "key": (nasty, 1), "value": ("v", nasty),
            "nested": ("v", {"k": [nasty], nasty: [nasty]}), "logger": ("logger", nasty),
            "bound": ("v", nasty), "context": ("v", nasty), "extra": ("v", nasty),
        }
        if place == "exception":
            assert ("ValueError: " + nasty) in record["exception"]
        else:
            key, value = expected[place]
            assert record[key] == value
        if place == "extra":
            assert record["event"] == nasty

    def test_json_uses_json_escapes(self, log):
        """JSON writes newline as \\n, ESC as \\u001b, U+2028 as \\u2028."""
        out = capture(format="json")
        log.info("event", v="a\nb\x1bc\u2028d")
        (line,) = out.lines()
        assert re.search(r'"v":"a\\nb\\u001[bB]c\\u2028d"', line), line

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_exception_is_one_escaped_line(self, fmt, log):
        """A multi-line traceback is written on the record's one line, escaped."""
        out = capture(format=fmt)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
        text = out.text()
        assert_clean(text, 1)
        value = field_of(fmt, split_lines(text)[0], "exception")
        assert value.startswith("Traceback (most recent call last)")
        assert "ValueError: boom" in value
        if fmt == "json":
            assert "\n" in value  # escaped in the line, restored by the parser

    def test_lone_surrogates_appear_escaped_and_lines_stay_utf8(self, log):
        """A lone surrogate is written as the escape \\udc80; every line is valid UTF-8."""
        for fmt in FORMATS:
            out = capture(format=fmt)
            log.info("e\udc80", **{"k\udc80": "v\udc80"})
            (line,) = out.lines()
            line.encode("utf-8")  # raises on a raw surrogate
            # logfmt keys are never quoted: the surrogate in the key becomes "_" there
            assert line.count("\\udc80") == (2 if fmt == "logfmt" else 3), (fmt, line)
            if fmt == "json":
                record = loads(line)
                assert record["event"] == "e\udc80" and record["k\udc80"] == "v\udc80"

    def test_file_output_is_valid_utf8(self, tmp_path, log):
        """A file gets valid UTF-8 even for surrogates, undecodable bytes and emoji."""
        path = tmp_path / "out.log"
        foundation.configure(file=path, format="key_value")
        log.info("e\udc80", v="\ud800", b=b"\xff\xfe", domain="auth", s="é😀")
        assert foundation.flush(WAIT) is True
        text = path.read_bytes().decode("utf-8")  # strict
        assert_clean(text, 1)
        assert "[🔑]" in text and "é😀" in text

    # -- values ---------------------------------------------------------------------
    @pytest.mark.parametrize("value,expected", [
        (b"caf\xc3\xa9 \xff!", "café \\xff!"),
        (bytearray(b"ab\xfe"), "ab\\xfe"),
        (datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc),
         "2024-01-02T03:04:05.678901+00:00"),
        (datetime.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (datetime.date(2024, 1, 2), "2024-01-02"),
        (datetime.time(3, 4, 5, 6), "03:04:05.000006"),
        (decimal.Decimal("1.10"), "1.10"),
        (decimal.Decimal("NaN"), "NaN"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (pathlib.PurePosixPath("/tmp/x y"), "/tmp/x y"),
        (Color.RED, str(Color.RED)),
        (Priority.HIGH, str(Priority.HIGH)),
        ((1, "a", None), [1, "a", None]),
        (frozenset({2}), [2]),
        ({"t": (1, 2), "when": datetime.date(2024, 1, 2)}, {"t": [1, 2], "when": "2024-01-02"}),
        (Thing(), "<Thing 7>"),
        (ReprRaises(), "<unrepresentable ReprRaises>"),
        (ReprNotStr(), "<unrepresentable ReprNotStr>"),
        ([ReprRaises(), Thing()], ["<unrepresentable ReprRaises>", "<Thing 7>"]),
    ], ids=lambda v: type(v).__name__)
    def test_value_rendering_in_json(self, value, expected):
        """bytes escaped, dates by isoformat(), Decimal/UUID/Path/Enum by str(), tuples as lists, repr()."""
        assert json_of(value) == expected

    def test_sets_become_lists(self):
        """A set is written as a list of its items."""
        assert sorted(json_of({3, 1, 2})) == [1, 2, 3]

    @pytest.mark.parametrize("value,expected", [
        (datetime.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (decimal.Decimal("1.10"), "1.10"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (pathlib.PurePosixPath("/tmp/x y"), "/tmp/x y"),
        (Color.RED, str(Color.RED)),
        (b"ab\xff", "ab\\xff"),
        (Thing(), "<Thing 7>"),
        (ReprRaises(), "<unrepresentable ReprRaises>"),
    ], ids=lambda v: type(v).__name__)
    @pytest.mark.parametrize("fmt", ["key_value", "logfmt"])
    def test_value_rendering_in_text_formats(self, fmt, value, expected, log):
        """The text formats render special values by the same rules."""
        out = capture(format=fmt)
        log.info("event", v=value)
        (line,) = out.lines()
        assert unquote(text_field(line, "v")) == expected

    def test_dict_with_odd_keys_is_written(self, log):
        """A dict with non-str keys is written with the keys as text."""
        value = json_of({1: "one", (2, 3): "pair", None: 0})
        assert value == {"1": "one", "(2, 3)": "pair", "None": 0}

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_recursive_values_become_recursion_marker(self, fmt, log):
        """A cycle becomes "<recursion>" in every format; shared, acyclic parts are kept."""
        cyclic_list = [1]
        cyclic_list.append(cyclic_list)
        cyclic_dict = {"a": 1}
        cyclic_dict["me"] = cyclic_dict
        shared = [1]
        out = capture(format=fmt)
        log.info("event", l=cyclic_list, d=cyclic_dict, s=[shared, shared])
        (line,) = out.lines()
        assert line.count("<recursion>") == 2
        if fmt == "json":
            record = loads(line)
            assert record["l"] == [1, "<recursion>"]
            assert record["d"] == {"a": 1, "me": "<recursion>"}
            assert record["s"] == [[1], [1]]

    def test_max_depth_default_is_ten(self):
        """Ten levels of nesting are kept; the eleventh becomes "<max depth>"."""
        assert json_of(nested_lists(10)) == nested_lists(10)
        assert json_of(nested_lists(11)) == nested_lists(10, "<max depth>")

    def test_max_depth_option(self):
        """configure(max_depth=3) keeps three levels of nesting."""
        assert json_of({"a": {"b": {"c": 1}}}, max_depth=3) == {"a": {"b": {"c": 1}}}
        assert json_of({"a": {"b": {"c": {"d": 1}}}}, max_depth=3) == {"a": {"b": {"c": "<max depth>"}}}

    def test_nan_and_infinities_are_strings_in_json(self, log):
        """NaN and the infinities are the strings "NaN", "Infinity", "-Infinity" in strict JSON."""
        out = capture(format="json")
        nan, inf = float("nan"), float("inf")
        log.info("event", nan=nan, inf=inf, ninf=-inf, nested=[nan, 1.5, {"x": -inf}])
        (line,) = out.lines()
        record = loads(line)  # strict: a NaN token fails here
        assert (record["nan"], record["inf"], record["ninf"]) == ("NaN", "Infinity", "-Infinity")
        assert record["nested"] == ["NaN", 1.5, {"x": "-Infinity"}]

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_ints_beyond_digit_limit_are_written(self, fmt, log):
        """An int with more digits than Python's int-to-str limit is still written in full."""
        digits = "1" + "0" * 4995 + "12345"  # 10**5000 + 12345: 5001 digits
        value = 10 ** 5000 + 12345
        out = capture(format=fmt)
        log.info("event", big=value, neg=-value, after="kept")
        (line,) = out.lines()
        if fmt == "json":
            json.loads(line)  # the default parser copes with what was written
            record = json.loads(line, parse_int=str, parse_constant=_no_constant)
            assert record["big"] == digits and record["neg"] == "-" + digits
            assert record["after"] == "kept"
        else:
            assert unquote(text_field(line, "big")) == digits
            assert unquote(text_field(line, "neg")) == "-" + digits
            assert text_field(line, "after") == "kept"

    # -- limits -------------------------------------------------------------------
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_ten_megabyte_value_is_cut_with_marker(self, fmt, log):
        """A 10 MB string is cut to the limit and ends with …[truncated N chars]."""
        big = "x" * 10_000_000
        out = capture(format=fmt)
        log.info("event", v=big, after="kept")
        (line,) = out.lines()
        assert len(line) < 200_000
        match = TRUNCATED.fullmatch(field_of(fmt, line, "v"))
        assert match, line[-200:]
        kept, cut = match.group(1), int(match.group(2))
        assert set(kept) == {"x"} and 0 < len(kept) <= 65536
        assert len(kept) + cut == len(big)
        assert field_of(fmt, line, "after") == "kept"

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_ten_megabyte_event_is_cut_with_marker(self, fmt, log):
        """A 10 MB event is cut too; the line stays short and one line."""
        out = capture(format=fmt)
        log.info("e" * 10_000_000, after="kept")
        text = out.text()
        assert_clean(text, 1)
        assert len(text) < 200_000
        assert "…[truncated " in text
        if fmt == "json":
            match = TRUNCATED.fullmatch(loads(text)["event"])
            assert match and len(match.group(1)) + int(match.group(2)) == 10_000_000

    def test_max_value_length_option(self):
        """configure(max_value_length=100) cuts longer strings, nested ones too."""
        value = json_of({"s": "y" * 1000, "l": ["z" * 500]}, max_value_length=100)
        for text, char, size in ((value["s"], "y", 1000), (value["l"][0], "z", 500)):
            match = TRUNCATED.fullmatch(text)
            assert match, text
            assert set(match.group(1)) == {char} and 0 < len(match.group(1)) <= 100
            assert len(match.group(1)) + int(match.group(2)) == size

    def test_short_values_are_not_cut(self):
        """A string at the limit is written whole."""
        assert json_of("w" * 100, max_value_length=100) == "w" * 100

    def test_max_fields_option(self, log):
        """Fields past max_fields are left out, in order, and fields_dropped=N is added."""
        out = capture(max_fields=5)
        log.info("event", **{f"f{i}": i for i in range(8)})
        record = out.record()
        assert list(record)[4:] == ["f0", "f1", "f2", "f3", "f4", "fields_dropped"]
        assert record["fields_dropped"] == 3

    def test_max_fields_default_is_a_thousand(self, log):
        """By default 1,000 fields are kept."""
        out = capture()
        log.info("event", **{f"f{i}": i for i in range(1005)})
        record = out.record()
        assert len(record) == 4 + 1000 + 1
        assert record["fields_dropped"] == 5 and record["f999"] == 999 and "f1000" not in record

    # -- reserved names ----------------------------------------------------------
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_reserved_field_names_are_renamed(self, fmt, log):
        """A user field named like a library key is kept as <name>_ and never overwrites it."""
        out = capture(format=fmt)
        log.info("real", timestamp="t", level="l", logger="g", event="e", exception="x", stack="s")
        (line,) = out.lines()
        for name, value in [("timestamp", "t"), ("level", "l"), ("logger", "g"), ("event", "e"),
                            ("exception", "x"), ("stack", "s")]:
            assert field_of(fmt, line, name + "_") == value, (name, line)
        if fmt == "json":
            record = loads(line)
            assert (record["level"], record["logger"], record["event"]) == ("info", "app", "real")
            assert "exception" not in record and "stack" not in record
        elif fmt == "logfmt":
            assert line.startswith("timestamp=") and " level=info logger=app event=real " in line
        else:
            assert re.match(KV_STAMP + r" \[info    \] real", line)
            assert "exception" not in [k for k, _ in text_fields(line)]

    # -- redaction -----------------------------------------------------------------
    SECRET_KEYS = ["password", "PASSWORD", "passwd", "Secret", "token", "api_key", "apikey",
                   "Authorization", "cookie", "private_key", "db_password", "X-Api-Key",
                   "access_token", "session-cookie", "Private-Key", "client_secret"]
    PUBLIC_KEYS = ["password_hint", "token_count", "secretary", "user", "monkey", "passwords"]

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_secret_keys_are_redacted(self, fmt, log):
        """Keys that look secret are written as [REDACTED] in every format; others are kept."""
        out = capture(format=fmt)
        fields = {key: f"s3cr3t-{i}" for i, key in enumerate(self.SECRET_KEYS)}
        fields.update({key: f"public-{i}" for i, key in enumerate(self.PUBLIC_KEYS)})
        log.info("event", **fields)
        (line,) = out.lines()
        assert "s3cr3t" not in line
        for key in self.SECRET_KEYS:
            assert field_of(fmt, line, key) == "[REDACTED]", key
        for i, key in enumerate(self.PUBLIC_KEYS):
            assert field_of(fmt, line, key) == f"public-{i}", key

    def test_nested_secrets_are_redacted_without_mutating(self, log):
        """Secrets inside nested dicts and lists are redacted; the caller's objects are unchanged."""
        value = {"user": {"name": "n", "password": "p1"}, "items": [{"token": "t1"}, "plain"],
                 "auth": {"api_key": {"deep": "k1"}}}
        before = copy.deepcopy(value)
        out = capture()
        log.info("event", data=value)
        record = out.record()
        assert record["data"] == {"user": {"name": "n", "password": "[REDACTED]"},
                                  "items": [{"token": "[REDACTED]"}, "plain"],
                                  "auth": {"api_key": "[REDACTED]"}}
        assert value == before

    def test_secrets_in_bound_context_and_extras_are_redacted(self, log):
        """Bound fields, context fields and plain logging extras are redacted too."""
        out = capture()
        with foundation.context(session_token="c1"):
            log.bind(password="b1").info("bound")
            logging.getLogger("lib").warning("extra", extra={"api_key": "e1"})
        text = out.text()
        for secret in ("c1", "b1", "e1"):
            assert secret not in text
        bound, extra = out.records()
        assert bound["session_token"] == bound["password"] == "[REDACTED]"
        assert extra["api_key"] == "[REDACTED]"

    def test_redact_option_replaces_the_list(self, log):
        """configure(redact=[...]) replaces the default names."""
        out = capture(redact=["ssn"])
        log.info("event", ssn="1", user_ssn="2", password="visible")
        record = out.record()
        assert record["ssn"] == record["user_ssn"] == "[REDACTED]"
        assert record["password"] == "visible"

    def test_redact_empty_turns_redaction_off(self, log):
        """configure(redact=()) writes every value as it is."""
        out = capture(redact=())
        log.info("event", password="visible", data={"token": "t"})
        record = out.record()
        assert record["password"] == "visible" and record["data"] == {"token": "t"}

    # -- emoji --------------------------------------------------------------------
    @pytest.mark.parametrize("field,value,marker", DAS_TABLE)
    def test_builtin_emoji_set(self, field, value, marker, log):
        """Each DAS field adds its marker right before the event; an unknown value gets the default."""
        out = capture(format="key_value")
        log.info("event", **{field: value})
        (line,) = out.lines()
        assert re.match(KV_STAMP + r" \[info    \] " + re.escape(f"[{marker}] event"), line), line
        assert unquote(text_field(line, field)) == value  # and it stays among the fields

    def test_emoji_markers_follow_the_set_order(self, log):
        """Markers come in the sets' order (domain, action, status), whatever the fields' order."""
        out = capture(format="key_value")
        log.info("user_login", status="success", action="login", domain="auth")
        (line,) = out.lines()
        assert "[🔑][➡️][✅] user_login" in line
        assert [k for k, _ in text_fields(line)] == ["status", "action", "domain"]

    @pytest.mark.parametrize("mode", ["sync", "queue"])
    def test_a_marker_field_that_is_not_a_str_gets_the_default(self, mode, log):
        """A value that is not a str never matches a set's text (a list, a tuple, an int, None),
        through the one-set shortcut and the careful path alike; a str subclass is written,
        and matched, as the str it holds."""

        class Label(str):
            pass

        stream = io.StringIO()
        foundation.configure(stream=stream, format="key_value", mode=mode)
        values = [["success"], ("success",), 5, None, Label("success"), "success", "unknown"]
        for value in values:
            log.info("event", status=value)
        assert foundation.flush(WAIT)
        markers = [line.split("] ", 2)[1] for line in stream.getvalue().splitlines()]
        assert markers == ["[➡️"] * 4 + ["[✅", "[✅", "[➡️"], markers

    def test_json_has_no_markers_by_default(self, log):
        """JSON output carries no markers unless emoji=True."""
        out = capture(format="json")
        log.info("user_login", domain="auth", action="login", status="success")
        record = out.record()
        assert record["event"] == "user_login"
        assert not any(marker in out.text() for _, _, marker in DAS_TABLE)
        out = capture(format="json", emoji=True)
        log.info("user_login", domain="auth")
        assert "🔑" in out.text()

    def test_emoji_false_turns_markers_off(self, log):
        """configure(emoji=False) writes no markers in key_value."""
        out = capture(format="key_value", emoji=False)
        log.info("user_login", domain="auth")
        (line,) = out.lines()
        assert "🔑" not in line
        assert re.match(KV_STAMP + r" \[info    \] user_login", line)

    def test_register_emoji_set(self, log):
        """register_emoji_set() adds a set: its marker comes after the built-in ones; default for unknown."""
        foundation.register_emoji_set("zz_test_color", {"red": "🔴", "green": "🟢"}, default="⚪")
        out = capture(format="key_value")
        log.info("paint", zz_test_color="red", domain="auth")
        log.info("paint", zz_test_color="purple")
        first, second = out.lines()
        assert "[🔑][🔴] paint" in first
        assert "[⚪] paint" in second

    # -- colors -------------------------------------------------------------------
    @pytest.mark.parametrize("stream_type,colors,env,expected", [
        (io.StringIO, None, {}, False),
        (TTYStream, None, {}, True),
        (TTYStream, None, {"NO_COLOR": "1"}, False),
        (io.StringIO, None, {"FORCE_COLOR": "1"}, True),
        (io.StringIO, None, {"FORCE_COLOR": "0"}, False),
        (io.StringIO, None, {"FORCE_COLOR": "false"}, False),
        (io.StringIO, True, {}, True),
        (TTYStream, False, {}, False),
    ])
    def test_colors(self, stream_type, colors, env, expected, monkeypatch, log):
        """Colors on a terminal, NO_COLOR turns them off, FORCE_COLOR on; colors= True/False forces."""
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        out = capture(format="key_value", stream=stream_type(), colors=colors)
        log.info("event", v=1)
        (line,) = out.lines()
        assert ("\x1b[" in line) is expected, repr(line)
        plain = re.sub(r"\x1b\[[0-9;]*m", "", line)  # without the codes, the usual layout
        assert re.match(KV_STAMP + r" \[info    \] event", plain), repr(line)
        assert text_field(plain, "v") == "1"

    def test_json_never_colored(self, monkeypatch, log):
        """Even with FORCE_COLOR, JSON lines carry no color codes and parse."""
        monkeypatch.setenv("FORCE_COLOR", "1")
        out = capture(format="json", stream=TTYStream())
        log.info("event")
        assert "\x1b" not in out.text()
        assert out.record()["event"] == "event"

    def test_json_event_cache_keeps_no_huge_events(self, log):
        """Long events are written but not kept in the JSON event cache: its memory stays small."""
        out = capture(format="json")
        for i in range(50):
            log.info(f"{i:03d}" + "x" * 100_000)
        assert len(out.lines()) == 50
        events = foundation._state.handler.output.format._events  # white-box: bounded memory is the promise
        assert sum(len(k) + len(v) for k, v in events.items()) < 100_000

    def test_long_list_and_dict_are_capped_at_max_fields_items(self, log):
        """A list past max_fields items keeps that many, then "…[N more items]"; a dict gets a "…" key."""
        out = capture(max_fields=10)
        log.info("big", items=list(range(25)), mapping={str(i): i for i in range(25)}, short=[1, 2],
                 nested=[list(range(12))])
        record = out.record()
        assert record["items"] == list(range(10)) + ["…[15 more items]"]
        assert record["mapping"] == {**{str(i): i for i in range(10)}, "…": "[15 more items]"}
        assert list(record["mapping"])[-1] == "…"
        assert record["short"] == [1, 2]
        assert record["nested"] == [list(range(10)) + ["…[2 more items]"]]

    def test_max_fields_default_caps_a_long_list(self, log):
        """By default a list is cut after 1000 items, with the marker."""
        value = json_of(list(range(1500)))
        assert value == list(range(1000)) + ["…[500 more items]"]

    @pytest.mark.parametrize("mode", MODES)
    def test_register_emoji_set_reaches_a_bound_logger_that_has_logged(self, mode, log):
        """register_emoji_set() takes effect for a bound logger whose fields were already rendered."""
        field = f"zz_test_cache_{mode}"  # emoji sets are global: one name per case
        out = capture(format="key_value", emoji=True, colors=False, mode=mode)
        bound = log.bind(**{field: "hit"})
        bound.info("lookup")
        assert foundation.flush(WAIT) is True  # the bound fields have been rendered (and kept)
        foundation.register_emoji_set(field, {"hit": "🎯"})
        bound.info("lookup")
        log.info("lookup", **{field: "hit"})
        first, second, third = out.lines()
        assert "🎯" not in first
        assert "[🎯] lookup" in second, second
        assert "[🎯] lookup" in third, third

    @pytest.mark.parametrize("marker", ["\x1b", "\x1b[31m!", "a\nb", "\r", "\x00", "\x7f", "\x85", "\u2028"],
                             ids=repr)
    def test_register_emoji_set_rejects_control_characters(self, marker, log):
        """register_emoji_set() rejects a marker or default holding a control character (ValueError)."""
        with pytest.raises(ValueError):
            foundation.register_emoji_set("zz_test_bad", {"x": marker})
        with pytest.raises(ValueError):
            foundation.register_emoji_set("zz_test_bad", {"x": "🎯"}, default=marker)
        out = capture(format="key_value", emoji=True)
        log.info("event", zz_test_bad="x")
        (line,) = out.lines()
        assert re.match(KV_STAMP + r" \[info    \] event", line), line  # no set was registered


class TestRenderingEdges:
    # -- secrets that no key names ----------------------------------------------------
    URL_CASES = [
        ("https://user:secret@host/path", "https://user:[REDACTED]@host/path"),
        ("postgres://u:pw@db:5432/x", "postgres://u:[REDACTED]@db:5432/x"),
        ("redis://:pw@cache:6379/0", "redis://:[REDACTED]@cache:6379/0"),
        ("see https://a:p@ss@h/x and ftp://c:d@e", "see https://a:[REDACTED]@h/x and ftp://c:[REDACTED]@e"),
        ("https://host/no/credentials?x=1", "https://host/no/credentials?x=1"),
        ("mailto:user@example.com", "mailto:user@example.com"),
        ("a ://x:y@z with no scheme", "a ://x:y@z with no scheme"),
    ]

    @pytest.mark.parametrize("value,expected", URL_CASES)
    def test_url_passwords_are_redacted_wherever_the_string_is(self, value, expected, attach, log):
        """The password of a URL is hidden in a value, nested, bound, in the context, and in a formatted event."""
        keep = attach(Keep(), "app")
        out = capture()
        foundation.bind_context(ctx=value)
        try:
            log.bind(bound=value).info("connect %s", value, dsn=value, nested={"dsns": [value]})
        finally:
            foundation.clear_context()
        (record,) = out.records()
        assert record["event"] == f"connect {expected}"
        assert [record[k] for k in ("ctx", "bound", "dsn")] == [expected] * 3
        assert record["nested"] == {"dsns": [expected]}
        (other,) = keep.records
        assert other.getMessage() == f"connect {expected}"
        assert other.dsn == expected and other.fields["nested"] == {"dsns": [expected]}

    @pytest.mark.parametrize("value,expected", URL_CASES[:4])
    def test_url_passwords_are_redacted_in_events_and_exceptions(self, value, expected, log):
        """An f-string event, an event beside non-plain fields, and an exception's text hide the password too."""
        out = capture()
        log.info(f"connect {value}")
        log.info(f"connect {value}", rows=[1])
        try:
            raise ConnectionError(f"cannot reach {value}")
        except ConnectionError:
            log.exception("failed")
        first, second, failed = out.records()
        assert first["event"] == second["event"] == f"connect {expected}"
        assert f"cannot reach {expected}" in failed["exception"]
        if expected != value:
            assert value not in out.text()

    def test_secret_pairs_are_redacted(self, attach, log):
        """(name, value) pairs with a secret-looking name: the value is hidden, as under a secret key."""
        keep = attach(Keep(), "app")
        out = capture()
        headers = [("Authorization", "Bearer h"), ("Accept", "json"), ["X-Api-Key", "k-1"], ("a", "b", "c")]
        log.info("request", headers=headers, pairs=(("password", "hunter2"),))
        (record,) = out.records()
        assert record["headers"] == [["Authorization", "[REDACTED]"], ["Accept", "json"],
                                     ["X-Api-Key", "[REDACTED]"], ["a", "b", "c"]]
        assert record["pairs"] == [["password", "[REDACTED]"]]
        assert keep.records[0].headers == record["headers"]
        assert headers[0] == ("Authorization", "Bearer h")  # the caller's data is not changed

    # -- invisible characters ----------------------------------------------------------
    #: Unicode format characters (category Cf) a terminal does not show.
    INVISIBLE = ["\u200b", "\ufeff", "\u2060", "\u061c", "\u00ad", "\ufff9", "\U000e0041",
                 "\U000e0001", "\u200c", "\u2064", "\u180e", "\u0600", "\U0001d173"]

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_invisible_characters_are_escaped_in_every_format(self, fmt, log):
        """Every Cf character is escaped in events, values and keys; a ZWJ joining emoji is kept."""
        out = capture(format=fmt, emoji=False)
        chars = self.INVISIBLE
        for char in chars:
            log.info(f"e{char}e", v=f"v{char}v", **{f"k{char}k": 1})
        family = "👨\u200d👩\u200d👧"
        log.info("family", v=family, lone="a\u200db")
        text = out.text()
        assert_clean(text, len(chars) + 1)
        raw = [char for char in chars + ["\u200d"] if char in text.replace(family, "")]
        assert raw == [], f"raw {raw!r} in {text!r}"
        last = split_lines(text)[-1]
        if fmt == "json":
            assert loads(last)["v"] == family and loads(last)["lone"] == "a\u200db"
        else:
            assert family in last and "\\u200d" in text_field(last, "lone")

    def test_every_format_character_is_unsafe(self):
        """The escaped set covers Unicode category Cf as this Python knows it, but the ZWJ inside emoji;
        the whole-batch check finds each of them."""
        import unicodedata
        missing = [hex(code) for code in range(0x110000)
                   if unicodedata.category(chr(code)) == "Cf"
                   and not foundation._UNSAFE_CHAR.search("a" + chr(code) + "b")]
        assert missing == []
        assert foundation._UNSAFE_CHAR.search("👨\u200d👩") is None
        for code in range(0x80, 0x110000):
            char = chr(code)
            if 0xd800 <= code <= 0xdfff or not foundation._UNSAFE_CHAR.search("a" + char + "b"):
                continue
            assert foundation._safe_bytes(f"a{char}b\n", 1) is None, hex(code)

    def test_logfmt_line_parses_with_the_logfmt_package(self, log):
        """The logfmt package reads back values with spaces, quotes, =, a bare backslash, or empty."""
        logfmt = pytest.importorskip("logfmt")
        out = capture(format="logfmt")
        fields = {"space": "a b", "quote": 'say "hi"', "equals": "k=v", "empty": "",
                  "path": "C:\\dir\\x", "text": "é ü"}
        log.info("user login", **fields, n=1)
        (line,) = out.lines()
        assert re.fullmatch(LOGFMT_HEAD + re.escape(
            r'event="user login" space="a b" quote="say \"hi\"" equals="k=v" empty=""'
            r' path=C:\dir\x text="é ü" n=1'), line), line
        (parsed,) = logfmt.parse([line])
        assert parsed == {"timestamp": parsed["timestamp"], "level": "info", "logger": "app",
                          "event": "user login", **fields, "n": "1"}

    @pytest.mark.parametrize("value,token", [
        ("l1\nl2", r'"l1\nl2"'),
        ("c\rd", r'"c\rd"'),
        ("t\tt", r'"t\tt"'),
        ("a\\ b", r'"a\\ b"'),
        ('q"\\', r'"q\"\\"'),
        ("red\x1b[31m", r'"red\u001b[31m"'),
        ("nul\x00", r'"nul\u0000"'),
        ("bell\x07", r'"bell\u0007"'),
        ("del\x7f", r'"del\u007f"'),
        ("c1\x85", r'"c1\u0085"'),
    ], ids=["newline", "return", "tab", "backslash", "quote-backslash", "esc", "nul", "bel", "del",
            "c1"])
    def test_logfmt_escapes_as_go_logfmt(self, value, token, log):
        """Quoted logfmt values escape \\ " \\n \\r \\t, other controls as \\u00XX; they read back."""
        # The logfmt package (0.4) cannot read these back: after any backslash but \" it
        # loses the closing quote and the rest of the line (a="e\u001bx" b=1 gives
        # {'a': True}), so the line is checked exactly and read with go-logfmt's rules.
        out = capture(format="logfmt")
        log.info("e", v=value, after=1)
        (line,) = out.lines()
        assert re.fullmatch(LOGFMT_HEAD + re.escape(f"event=e v={token} after=1"), line), line
        assert logfmt_pairs(line)[3:] == [("event", "e"), ("v", value), ("after", "1")]

    def test_logfmt_event_is_quoted_and_escaped_as_a_value(self, log):
        """The event follows the value rules: quoted for a space, control characters as escapes."""
        out = capture(format="logfmt")
        log.info("line1\nline2 \x1b[2J")
        (line,) = out.lines()
        assert re.fullmatch(LOGFMT_HEAD + re.escape(r'event="line1\nline2 \u001b[2J"'), line), line
        assert logfmt_pairs(line)[3] == ("event", "line1\nline2 \x1b[2J")

    @pytest.mark.parametrize("key,written", [
        ("my key", "my_key"), ("a=b", "a_b"), ('a"b', "a_b"), ("a\x1bb", "a_b"),
        ("a\nb", "a_b"), ("", "_"), ("ok_key", "ok_key"),
    ], ids=["space", "equals", "quote", "esc", "newline", "empty", "plain"])
    def test_logfmt_keys_are_never_quoted(self, key, written, log):
        """A logfmt key is never quoted: a space, =, " or control character becomes _, empty is _."""
        out = capture(format="logfmt")
        log.info("e", **{key: 1})
        (line,) = out.lines()
        assert re.fullmatch(LOGFMT_HEAD + re.escape(f"event=e {written}=1"), line), line
        assert logfmt_pairs(line)[3:] == [("event", "e"), (written, "1")]

    @pytest.mark.parametrize("term,force,colors,expected", [
        ("dumb", None, None, False),
        ("dumb", "1", None, True),
        ("dumb", None, True, True),
        ("xterm-256color", None, None, True),
    ], ids=["dumb", "dumb-FORCE_COLOR", "dumb-colors=True", "xterm"])
    def test_term_dumb_turns_colors_off_unless_forced(self, term, force, colors, expected,
                                                      monkeypatch, log):
        """On a terminal with TERM=dumb, key_value has no ESC; FORCE_COLOR or colors=True force them."""
        monkeypatch.setenv("TERM", term)
        if force is not None:
            monkeypatch.setenv("FORCE_COLOR", force)
        out = capture(format="key_value", stream=TTYStream(), colors=colors)
        log.info("event", v=1)
        (line,) = out.lines()
        if expected:
            assert re.search(r"\x1b\[[0-9;]*m", line), repr(line)
        else:
            assert "\x1b" not in line, repr(line)
            assert re.match(KV_STAMP + r" \[info    \] event", line), repr(line)


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # a test dependency (tox installs it); without it the property test is skipped
    st = None

if st is not None:
    # ---------------------------------------------------------------------------
    # Property-based: arbitrary events, keys and values
    # ---------------------------------------------------------------------------

    #: Characters that could break, hide or fake a line, and the ones the formats quote or escape.
    TRICKY_CHARS = (
        "\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9b",   # C0, DEL, C1
        "\u2028", "\u2029",                                        # line and paragraph separators
        "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069",  # bidirectional marks and overrides
        "\u200b", "\ufeff", "\u00a0", "\u3000",                    # other format characters and spaces
        "\ud800", "\udbff", "\udc80", "\udfff",                    # lone surrogates
        " ", '"', "'", "=", "\\", "{", "}", ",", ":", "%", "…", "é", "🔑",
    )
    #: Any code point, surrogates included (``st.characters()`` with no codec), biased towards the tricky ones.
    ANY_CHAR = st.one_of(st.sampled_from(TRICKY_CHARS), st.characters())
    SHORT_TEXT = st.text(ANY_CHAR, max_size=20)
    #: Up to 80,000 characters (past the default max_value_length, 65,536), cheap to draw.
    LONG_TEXT = st.builds(lambda unit, times: unit * times,
                          st.text(ANY_CHAR, min_size=1, max_size=4), st.integers(250, 20_000))
    EVENTS = st.one_of(SHORT_TEXT, LONG_TEXT,
                       st.sampled_from(["", " ", "event", "level", "%s", "%(x)s", "a\nb", "a=b", '"']))
    #: Keys, colliding ones included. exc_info and stack_info are keywords of the log call, not fields.
    KEYS = st.one_of(
        SHORT_TEXT,
        st.sampled_from(["", " ", "=", '"', "a b", "a=b", 'a"b', "timestamp", "level", "logger", "event",
                         "exception", "stack", "callsite", "level_", "event_", "msg", "name", "args",
                         "fields", "message", "password", "domain", "status"]),
    ).filter(lambda key: key not in ("exc_info", "stack_info"))
    #: Ints past Python's digit limit for str() (4,300 digits).
    HUGE_INTS = st.integers(4300, 6000).map(lambda digits: 10 ** digits + 7)
    SCALARS = st.one_of(
        st.none(), st.booleans(), st.integers(), HUGE_INTS, HUGE_INTS.map(lambda n: -n),
        st.floats(), st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0]),
        SHORT_TEXT, LONG_TEXT, st.binary(max_size=20), st.sets(st.integers(), max_size=5),
    )
    VALUES = st.recursive(
        SCALARS,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
                                st.dictionaries(KEYS, inner, max_size=4)),
        max_leaves=12,
    )
    #: Keys that collide with the library's and with their renamed forms (level -> level_ -> level__).
    COLLIDING_KEYS = st.sampled_from(["timestamp", "level", "logger", "event", "exception", "stack",
                                      "level_", "level__", "event_", "timestamp_"])
    FIELDS = st.one_of(st.dictionaries(KEYS, VALUES, max_size=6), st.dictionaries(COLLIDING_KEYS, VALUES, max_size=6))

    #: What UNSAFE_RE leaves out but no line may hold raw either: bidi marks and overrides, lone surrogates.
    HIDDEN_RE = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
    SURROGATE_RE = re.compile("[\ud800-\udfff]")
    DEFAULT_MAX_VALUE_LENGTH = 65536


    def cut(text, limit):
        """``text`` as the README says a string past ``max_value_length`` is written."""
        return text if len(text) <= limit else f"{text[:limit]}…[truncated {len(text) - limit} chars]"


    def json_object_strictly(line):
        """Parse a JSON line strictly (no NaN tokens) and fail on a key written twice in one object."""
        def no_duplicates(pairs):
            keys = [key for key, _ in pairs]
            assert len(keys) == len(set(keys)), f"a key written twice: {keys!r} in {line!r}"
            return dict(pairs)

        return json.loads(line, parse_constant=_no_constant, object_pairs_hook=no_duplicates)


    class TestPropertyBased:
        """Whatever the event, keys and values, each record is one clean line that reads back.

        ``copies`` logs the record 1 or 8 times: a single record is rendered with every
        value checked; in queue mode, eight logged at once are written as one batch,
        rendered on the fast path and checked as a whole (README: "Unsafe characters are
        searched once per batch").
        ``limit`` (None: the default max_value_length) makes truncation cheap to reach.
        """

        @pytest.mark.parametrize("fmt", FORMATS)
        @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
        @given(event=EVENTS, fields=FIELDS, mode=st.sampled_from(MODES), copies=st.sampled_from([1, 8]),
               limit=st.sampled_from([None, 64]))
        def test_any_record_is_one_clean_line(self, fmt, log, event, fields, mode, copies, limit):
            options = {} if limit is None else {"max_value_length": limit}
            out = capture(format=fmt, mode=mode, **options)
            for _ in range(copies):
                log.info(event, **fields)
            text = out.text()

            assert foundation.stats()["errors"] == 0, foundation.stats()
            assert_clean(text, copies)  # one "\n" per record, at the end of each; no C0, DEL, C1, U+2028/9
            hidden = HIDDEN_RE.search(text)
            assert hidden is None, f"raw {hidden.group()!r} in {text!r}"
            text.encode("utf-8")  # valid UTF-8: raises on a lone surrogate

            expected = cut(event, limit or DEFAULT_MAX_VALUE_LENGTH)
            comparable = SURROGATE_RE.search(event) is None  # escaped surrogates may pair up when read back
            for line in split_lines(text):
                if fmt == "json":
                    record = json_object_strictly(line)
                    assert list(record)[:4] == ["timestamp", "level", "logger", "event"], line
                    assert (record["level"], record["logger"]) == ("info", "app"), line
                    assert len(record) == 4 + len(fields), line  # colliding keys renamed, none lost
                    if comparable:
                        assert record["event"] == expected
                elif fmt == "logfmt":
                    pairs = logfmt_pairs(line)
                    assert [key for key, _ in pairs[:4]] == ["timestamp", "level", "logger", "event"], line
                    assert pairs[1:3] == [("level", "info"), ("logger", "app")], line
                    assert len(pairs) == 4 + len(fields), line
                    if comparable:
                        assert pairs[3][1] == expected
else:
    class TestPropertyBased:
        def test_any_record_is_one_clean_line(self):
            pytest.skip("needs hypothesis (tox installs it)")



# ---------------------------------------------------------------------------
# Batching writer: sinks, output, queue, writer thread, handlers
# ---------------------------------------------------------------------------

class TestWriter:
    @pytest.mark.parametrize("fmt", FORMATS)
    @pytest.mark.parametrize("mode,overflow", [("queue", "block"), ("queue", "drop"), ("sync", "block")])
    def test_exact_line_counts(self, mode, overflow, fmt, log):
        """Every record is one line, in order, and the counters agree, in every mode and format."""
        out = capture(mode=mode, overflow=overflow, format=fmt, emoji=False)
        for i in range(3000):
            log.info("event", seq=i)
        lines = out.lines()
        assert len(lines) == 3000
        assert [int(field_of(fmt, line, "seq")) for line in lines] == list(range(3000))
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"], stats["queue_depth"]) == (3000, 3000, 0, 0)
        assert stats["bytes_written"] == len(out.text().encode("utf-8"))

    def test_stats_has_the_documented_keys(self):
        """stats() has at least emitted, written, dropped, sampled_out, errors, queue_depth, bytes_written."""
        capture()
        keys = {"emitted", "written", "dropped", "sampled_out", "errors", "queue_depth", "bytes_written"}
        stats = foundation.stats()
        assert keys <= set(stats)
        assert all(stats[k] == 0 for k in keys)

    def test_bytes_written_matches_the_file(self, tmp_path, log):
        """bytes_written counts the bytes that reached the file."""
        path = tmp_path / "out.log"
        foundation.configure(file=str(path), format="key_value")
        for i in range(100):
            log.info("event", i=i, domain="auth", text="é")
        assert foundation.flush(WAIT) is True
        assert foundation.stats()["bytes_written"] == path.stat().st_size > 0

    @pytest.mark.parametrize("mode", MODES)
    def test_threads_never_interleave_lines(self, mode, log):
        """Eight threads logging at once: every line is whole and every record is there."""
        out = capture(mode=mode)
        barrier = threading.Barrier(8)

        def work(n):
            barrier.wait(WAIT)
            for i in range(300):
                log.info("event", thread=n, seq=i, pad="p" * (n * 10))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        records = out.records()
        assert len(records) == 8 * 300
        for n in range(8):
            assert [r["seq"] for r in records if r["thread"] == n] == list(range(300))

    def test_each_write_carries_at_most_batch_size_records(self, gate, log):
        """The writer writes queued records in batches: one write() per batch of at most batch_size."""
        foundation.configure(stream=gate, format="json", batch_size=10)
        wait_writer_held(gate)
        for i in range(95):
            log.info("event", seq=i)
        gate.gate.set()
        assert foundation.flush(WAIT) is True
        sizes = [chunk.count("\n") for chunk in gate.chunks]
        assert sum(sizes) == 96
        assert max(sizes) <= 10
        assert len(sizes) <= 1 + 10  # the held write, then batches of ten, not one write a record
        assert [r["seq"] for r in gate.records()[1:]] == list(range(95))

    def test_flush_is_a_barrier(self, gate, log):
        """flush() returns True only once every earlier record is written; False on timeout."""
        foundation.configure(stream=gate, format="json")
        wait_writer_held(gate)
        for i in range(50):
            log.info("event", seq=i)
        assert foundation.flush(timeout=SHORT) is False  # the writer is held: it cannot be done
        gate.gate.set()
        assert foundation.flush(WAIT) is True
        assert [r["seq"] for r in gate.records()[1:]] == list(range(50))

    def test_flush_barrier_from_many_threads(self, log):
        """When flush() returns in a thread, that thread's earlier records are all in the sink."""
        sink = RecordingSink()
        foundation.configure(stream=sink, format="json")
        missing = []

        def work(n):
            for i in range(100):
                log.info("event", thread=n, seq=i)
            ok = foundation.flush(WAIT)
            seen = [loads(line) for line in split_lines(sink.text())]
            got = sum(1 for r in seen if r["thread"] == n)
            if not ok or got != 100:
                missing.append((n, ok, got))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert missing == []

    def test_flush_flushes_the_sink_after_the_last_write(self, log):
        """flush() returns after the sink's flush() has run, after the last record was written."""
        sink = RecordingSink()
        foundation.configure(stream=sink, format="json")
        for i in range(10):
            log.info("event", seq=i)
        assert foundation.flush(WAIT) is True
        calls = list(sink.calls)
        last_write = max(i for i, (kind, text) in enumerate(calls) if kind == "write" and '"seq":9' in text)
        assert ("flush", None) in calls[last_write + 1:]

    def test_flush_with_nothing_logged(self):
        """flush() with nothing logged returns True at once, in both modes."""
        for mode in MODES:
            capture(mode=mode)
            assert foundation.flush(WAIT) is True

    def test_flush_interval_writes_without_a_flush_call(self, log):
        """A partial batch is written by the writer on its own within flush_interval."""
        written = threading.Event()

        class Sink:
            def write(self, text):
                written.set()

        foundation.configure(stream=Sink(), flush_interval=0.05, batch_size=1000)
        log.info("lonely")
        assert written.wait(WAIT), "the writer never wrote the partial batch"

    def test_queue_mode_caller_does_not_wait_for_the_sink(self, gate, log):
        """In queue mode a log call returns while the sink is stuck (the queue has room)."""
        foundation.configure(stream=gate, format="json")
        wait_writer_held(gate)
        thread = threading.Thread(target=lambda: [log.info("event", seq=i) for i in range(100)])
        thread.start()
        thread.join(WAIT)
        assert not thread.is_alive(), "log calls waited for a stuck sink"
        gate.gate.set()
        assert foundation.flush(WAIT) is True
        assert len(gate.lines()) == 101

    @pytest.mark.parametrize("finish", ["flush", "shutdown"])
    def test_drop_accounting_and_report(self, finish, gate, log):
        """overflow="drop": written + dropped == emitted, and a logs_dropped record reports the count."""
        foundation.configure(stream=gate, format="json", overflow="drop", queue_size=5)
        wait_writer_held(gate)
        for i in range(100):
            log.info("event", seq=i)
        assert foundation.stats()["queue_depth"] <= 5  # bounded
        gate.gate.set()
        if finish == "flush":
            assert foundation.flush(WAIT) is True
        else:
            foundation.shutdown()
        stats = foundation.stats()
        records = gate.records()
        reports = [r for r in records if r["event"] == "logs_dropped"]
        assert stats["dropped"] > 0
        assert stats["written"] + stats["dropped"] == stats["emitted"]
        assert stats["written"] == len(records)
        assert stats["emitted"] == 101 + len(reports)
        assert reports, "no logs_dropped record was written"
        for report in reports:
            assert (report["logger"], report["level"]) == ("foundation", "warning")
        assert sum(r["count"] for r in reports) == stats["dropped"]
        seqs = [r["seq"] for r in records if r["event"] == "event"]
        assert seqs == sorted(seqs) and len(seqs) == 100 - stats["dropped"]

    def test_a_drop_storm_is_counted_exactly_with_bounded_memory(self, gate, log):
        """Thousands of drops (several folds of the counts): every one counted and reported,
        the adds waiting to be folded stay bounded, and the writer, told once, takes the rest."""
        foundation.configure(stream=gate, format="json", overflow="drop", queue_size=5)
        wait_writer_held(gate)
        storm = 3 * foundation._FOLD_AFTER
        for i in range(storm):
            log.info("event", seq=i)
            assert len(foundation._LEDGER._tally._pending) <= foundation._FOLD_AFTER + 1
        gate.gate.set()
        assert foundation.flush(WAIT) is True
        stats = foundation.stats()
        records = gate.records()
        reports = [r["count"] for r in records if r["event"] == "logs_dropped"]
        assert stats["dropped"] >= storm - 6
        assert stats["written"] + stats["dropped"] == stats["emitted"] == storm + 1 + len(reports)
        assert sum(reports) == stats["dropped"]

    def test_block_mode_waits_for_room_and_loses_nothing(self, gate, log):
        """overflow="block": a producer facing a full queue waits; nothing is dropped or lost."""
        foundation.configure(stream=gate, format="json", overflow="block", queue_size=2)
        wait_writer_held(gate)
        done = threading.Event()

        def produce():
            for i in range(20):
                log.info("event", seq=i)
            done.set()

        thread = threading.Thread(target=produce)
        thread.start()
        # A negative check, bounded by SHORT: the held writer leaves no room, so the producer waits.
        assert not done.wait(SHORT), "the producer did not wait for room"
        stats = foundation.stats()
        assert stats["dropped"] == 0 and stats["queue_depth"] <= 3
        gate.gate.set()
        assert done.wait(WAIT)
        thread.join(WAIT)
        assert foundation.flush(WAIT) is True
        assert [r["seq"] for r in gate.records()[1:]] == list(range(20))
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"]) == (21, 21, 0)

    def test_writer_survives_a_raising_sink(self, log):
        """A sink that raises once: the error is counted, the batch dropped and reported, later records written."""
        sink = BrokenSink(RuntimeError("once"), times=1)
        foundation.configure(stream=sink, format="json")
        log.info("first")
        assert foundation.flush(WAIT) is True
        log.info("second")
        assert foundation.flush(WAIT) is True
        lines = [loads(line) for line in split_lines(sink.text())]
        assert [line["event"] for line in lines] == ["logs_dropped", "second"]
        assert (lines[0]["logger"], lines[0]["level"], lines[0]["count"]) == ("foundation", "warning", 1)
        stats = foundation.stats()
        assert stats["errors"] >= 1
        assert (stats["emitted"], stats["written"], stats["dropped"]) == (3, 2, 1)

    def test_writer_survives_a_sink_raising_base_exception(self, log):
        """Even a sink raising SystemExit does not kill the writer or break the accounting."""
        sink = BrokenSink(SystemExit(9), times=1)
        foundation.configure(stream=sink, format="json")
        log.info("first")
        assert foundation.flush(WAIT) is True
        log.info("second")
        assert foundation.flush(WAIT) is True
        assert [loads(line)["event"] for line in split_lines(sink.text())] == ["logs_dropped", "second"]
        stats = foundation.stats()
        assert stats["errors"] >= 1
        assert stats["written"] + stats["dropped"] == stats["emitted"] == 3
        assert stats["dropped"] == 1

    def test_shutdown_drains_and_is_safe_twice(self, log):
        """shutdown() writes what is queued; a second call is harmless; later records are written at once."""
        out = capture()
        for i in range(500):
            log.info("event", seq=i)
        foundation.shutdown()
        assert len(out.stream.getvalue().splitlines()) == 500
        foundation.shutdown()
        log.info("after")
        assert loads(out.stream.getvalue().splitlines()[-1])["event"] == "after"  # no flush needed
        assert foundation.flush(WAIT) is True
        stats = foundation.stats()
        assert stats["written"] == stats["emitted"] == 501

    def test_shutdown_stops_the_writer_thread(self, log):
        """After shutdown() no thread started by the library is left."""
        before = set(threading.enumerate())
        capture()
        log.info("event")
        foundation.shutdown()
        assert set(threading.enumerate()) <= before

    def test_shutdown_with_stuck_sink_returns_within_timeout(self, gate, log):
        """shutdown(timeout) returns in about timeout seconds even if the sink never returns."""
        foundation.configure(stream=gate, format="json")
        wait_writer_held(gate)
        log.info("queued")
        start = time.monotonic()
        foundation.shutdown(timeout=0.3)
        assert time.monotonic() - start < 0.3 + 2.0

    def test_value_at_time_of_call_is_written(self, gate, log):
        """Mutable values changed after the call are written as they were at the call."""

        class Counter:
            def __init__(self):
                self.n = 1

            def __repr__(self):
                return f"<Counter {self.n}>"

        foundation.configure(stream=gate, format="json")
        wait_writer_held(gate)
        items, data, bound_list, ctx_list, counter = [1], {"k": "v"}, ["b"], ["c"], Counter()
        with foundation.context(ctx=ctx_list):
            log.bind(bound=bound_list).info("snap", items=items, data=data, counter=counter)
        items.append(2)
        data["k"] = "changed"
        bound_list.append("x")
        ctx_list.append("y")
        counter.n = 2
        gate.gate.set()
        assert foundation.flush(WAIT) is True
        record = gate.records()[-1]
        assert (record["items"], record["data"], record["bound"], record["ctx"], record["counter"]) == (
            [1], {"k": "v"}, ["b"], ["c"], "<Counter 1>")

    @pytest.mark.parametrize("mode", MODES)
    def test_sink_that_logs_does_not_deadlock(self, mode, log):
        """A sink whose write() logs neither deadlocks nor loses either record."""
        chunks = []

        class ChattySink:
            def write(self, text):
                chunks.append(text)
                if len(chunks) == 1:
                    log.warning("from_sink")

        def scenario():
            foundation.configure(stream=ChattySink(), format="json", mode=mode)
            log.info("outer")
            foundation.flush(WAIT)

        thread = threading.Thread(target=scenario)
        thread.start()
        thread.join(WAIT)
        assert not thread.is_alive(), "deadlock"
        assert foundation.flush(WAIT) is True
        events = [loads(line)["event"] for line in split_lines("".join(chunks))]
        assert sorted(events) == ["from_sink", "outer"]

    def test_writer_logging_into_its_own_full_queue_keeps_the_bound(self, log):
        """A sink that logs on every write, queue full: the depth keeps the bound; the excess is counted."""
        depths = []
        chatty = threading.Event()
        chatty.set()

        class Chatty(io.StringIO):
            def write(self, text):
                depths.append(len(queue))
                if chatty.is_set():
                    for _ in range(20):
                        log.warning("from_sink")
                return super().write(text)

        sink = Chatty()
        foundation.configure(stream=sink, format="json", queue_size=50, batch_size=10)
        queue = own_handlers()[0].queue
        for i in range(200):
            log.info("r", i=i)
        chatty.clear()
        assert foundation.flush(WAIT)
        assert foundation.flush(WAIT)  # what a write under way logged after the first barrier
        # The bound, plus the one record another producer (this thread) may add at the same moment.
        assert max(depths) <= 50 + 1, max(depths)
        stats = foundation.stats()
        assert stats["dropped"] > 0
        assert stats["written"] + stats["dropped"] == stats["emitted"]
        assert [loads(line)["i"] for line in sink.getvalue().splitlines()
                if loads(line)["event"] == "r"] == list(range(200))

    @pytest.mark.parametrize("mode", MODES)
    def test_repr_that_logs_does_not_deadlock(self, mode, log):
        """A field whose __repr__ logs neither deadlocks nor loses a record."""

        class Loud:
            def __repr__(self):
                log.info("from_repr")
                return "loud"

        out = capture(mode=mode)
        thread = threading.Thread(target=lambda: log.info("outer", v=Loud()))
        thread.start()
        thread.join(WAIT)
        assert not thread.is_alive(), "deadlock"
        records = out.records()
        assert sorted(r["event"] for r in records) == ["from_repr", "outer"]
        assert [r["v"] for r in records if r["event"] == "outer"] == ["loud"]

    @pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
    def test_signal_handler_logging_during_a_write_does_not_deadlock(self, log):
        """A signal handler that logs while the main thread is inside the sink's write() does not deadlock."""
        import faulthandler

        chunks = []

        class SignallingSink:
            def write(self, text):
                if not chunks:
                    signal.raise_signal(signal.SIGUSR1)  # the handler runs inside this write
                chunks.append(text)

        previous = signal.signal(signal.SIGUSR1, lambda signum, frame: log.warning("from_signal"))
        faulthandler.dump_traceback_later(WAIT * 3, exit=True)  # a deadlock ends the run, loudly
        try:
            foundation.configure(stream=SignallingSink(), format="json", mode="sync")
            log.info("outer")
            assert foundation.flush(WAIT) is True
        finally:
            faulthandler.cancel_dump_traceback_later()
            signal.signal(signal.SIGUSR1, previous)
        events = [loads(line)["event"] for line in split_lines("".join(chunks))]
        assert sorted(events) == ["from_signal", "outer"]

    def test_stream_with_only_write(self, log):
        """A stream needs only write(str): flush() and isatty() are used when present."""
        chunks = []

        class Minimal:
            def write(self, text):
                chunks.append(text)

        for mode in MODES:
            chunks.clear()
            foundation.configure(stream=Minimal(), format="json", mode=mode)
            log.info("event")
            assert foundation.flush(WAIT) is True
            assert [loads(line)["event"] for line in split_lines("".join(chunks))] == ["event"]

    def test_sync_mode_writes_before_the_call_returns(self, log):
        """mode="sync" writes the record in the caller's thread, before the call returns."""
        stream = io.StringIO()
        foundation.configure(stream=stream, format="json", mode="sync")
        log.info("now")
        assert loads(stream.getvalue())["event"] == "now"

    def test_signal_handler_logging_at_any_point_of_a_queued_call_never_deadlocks(self):
        """Queue mode: a signal handler that logs at any point of a log call, a put included, never deadlocks."""
        script = textwrap.dedent(f"""
            import faulthandler, sys, threading, time, foundation
            faulthandler.dump_traceback_later({WAIT}, exit=True)  # a deadlock ends the run, loudly

            lines = []

            class Sink:
                def write(self, text):
                    lines.extend(text.splitlines())

            # A long flush_interval: the writer sleeps until a record wakes it.
            foundation.configure(stream=Sink(), format="json", flush_interval=60)
            log = foundation.get_logger("app")
            log.error("warm_up")
            queue = foundation._state.handler.queue

            def writer_asleep():
                assert foundation.flush()
                # White-box on purpose: a put wakes the writer only while it sleeps, and an
                # interrupted wake-up is where a deadlock hides; nothing public says it sleeps.
                # The poll (in this child only) waits for the writer thread to get there.
                while not queue._sleeping:
                    time.sleep(0.001)

            fired = interrupt_at_each_line(lambda: log.error("main"), lambda: log.error("from_signal"),
                                           before=writer_asleep)
            assert foundation.flush()
            print(fired, len(lines))
        """)
        code = inspect.getsource(interrupt_at_each_line) + "\n" + script
        result = run_python(code, timeout=WAIT * 3)
        assert result.returncode == 0, result.stderr
        fired, lines = map(int, result.stdout.split())
        assert fired > 20  # every line of the call, from the facade to the queue
        assert lines == 2 + 2 * fired  # warm-up, the counting run, then main and one from_signal a run

    def test_signal_handler_that_waits_for_the_writer_never_waits_for_the_frame_it_interrupted(self, log):
        """flush_on_signals flushes from a signal handler: at any point of a flush() it gets its answer.

        The interrupted flush() may hold the queue's lock; the writer must not
        need it to finish the batch before the handler's barrier (a pool
        worker's SIGTERM at exit lost its records that way).
        """
        lines = []

        class Sink:
            def write(self, text):
                lines.extend(text.splitlines())

        foundation.configure(stream=Sink(), format="json", flush_interval=60, batch_size=100000)
        late = []

        def queue_some():
            for i in range(20):
                log.info("queued", i=i)

        def interrupt():
            started = time.monotonic()
            done = foundation.flush(WAIT)
            if not done or time.monotonic() - started > 1.0:
                late.append(round(time.monotonic() - started, 2))

        fired = interrupt_at_each_line(foundation.flush, interrupt, before=queue_some)
        assert fired > 10
        assert late == [], "the handler's flush waited for the frame it interrupted (seconds)"
        assert foundation.flush(WAIT)
        assert len(lines) == 20 * (fired + 1)

    def test_sync_signal_handler_record_is_written_by_the_next_flush(self, log):
        """Sync mode: a record a signal handler logs at any point of a write is written by the next flush()."""
        chunks = []

        class Sink:
            def write(self, text):
                chunks.append(text)

        foundation.configure(stream=Sink(), format="json", mode="sync")
        log.info("warm_up")
        runs, signals, missing = [0], [0], []

        def interrupt():
            signals[0] += 1
            log.warning("from_signal")

        def check():
            runs[0] += 1
            assert foundation.flush(WAIT) is True
            text = "".join(chunks)
            counts = (text.count('"event":"main"'), text.count('"event":"from_signal"'))
            if counts != (runs[0], signals[0]) and not missing:
                missing.append((runs[0], counts))

        fired = interrupt_at_each_line(lambda: log.info("main"), interrupt, after=check)
        assert fired > 20
        assert missing == [], "a record logged by the interrupt was not written by flush() (run, counts)"
        stats = foundation.stats()
        assert stats["written"] == stats["emitted"] == 1 + runs[0] + signals[0]

    def test_sync_sink_that_logs_on_every_write_lets_the_call_return(self, log):
        """Sync mode: a sink that logs on every write(): the log call returns and flush() works."""
        chatter = threading.Event()
        chatter.set()
        writes = []

        class ChattySink:
            def write(self, text):
                if len(writes) < 100:  # a runaway loop must not eat the memory
                    writes.append(text)
                if chatter.is_set():
                    foundation.get_logger("sink").debug("sent", nbytes=len(text))

        foundation.configure(stream=ChattySink(), format="json", mode="sync", level="DEBUG")
        thread = threading.Thread(target=log.info, args=("hello",), daemon=True)
        thread.start()
        thread.join(WAIT)
        returned = not thread.is_alive()
        chatter.clear()  # ends a runaway loop, if there is one
        thread.join(WAIT)
        assert returned, "the log call kept writing what the sink logged"
        assert foundation.flush(WAIT) is True
        events = [loads(line)["event"] for line in split_lines("".join(writes))]
        assert events[0] == "hello" and set(events[1:]) == {"sent"}
        stats = foundation.stats()
        assert stats["written"] == stats["emitted"] == len(events) and stats["dropped"] == 0

    @pytest.mark.parametrize("mode", MODES)
    def test_failed_write_is_reported_with_its_count(self, mode, log):
        """A write that fails (disk full) is reported by a logs_dropped record with its count, in both modes."""
        sink = BrokenSink(OSError(errno.ENOSPC, "No space left on device"), times=1)
        foundation.configure(stream=sink, format="json", mode=mode)
        log.info("first")
        assert foundation.flush(WAIT) is True
        log.info("second")
        assert foundation.flush(WAIT) is True
        records = [loads(line) for line in split_lines(sink.text())]
        assert [r["event"] for r in records] == ["logs_dropped", "second"]
        assert (records[0]["logger"], records[0]["level"], records[0]["count"]) == ("foundation", "warning", 1)
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"]) == (3, 2, 1)

    def test_drop_after_the_last_batch_is_reported_at_shutdown(self, gate, log):
        """A record dropped when no batch follows is still reported, by shutdown(), with its count."""
        foundation.configure(stream=gate, format="json", overflow="drop", queue_size=1)
        wait_writer_held(gate)
        assert foundation.flush(timeout=0) is False  # queues a barrier: the queue (size 1) is full
        log.info("lost")  # dropped: no record follows it into the queue
        gate.gate.set()
        foundation.shutdown()
        records = gate.records()
        assert [r["event"] for r in records] == ["gate", "logs_dropped"]
        assert (records[1]["logger"], records[1]["count"]) == ("foundation", 1)
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"]) == (3, 2, 1)

    def test_each_write_carries_at_most_batch_size_records_with_a_drop_report(self, gate, log):
        """A drop report never makes a write() carry more than batch_size records."""
        foundation.configure(stream=gate, format="json", overflow="drop", queue_size=5, batch_size=5)
        wait_writer_held(gate)
        for i in range(10):
            log.info("event", seq=i)  # five are queued, five dropped
        gate.gate.set()
        assert foundation.flush(WAIT) is True
        sizes = [chunk.count("\n") for chunk in gate.chunks]
        assert max(sizes) <= 5, sizes
        records = gate.records()
        assert [r["count"] for r in records if r["event"] == "logs_dropped"] == [5]
        assert [r["seq"] for r in records if r["event"] == "event"] == list(range(5))

    def test_records_after_a_timed_out_shutdown_are_written_once_the_writer_is_done(self, gate, log):
        """After shutdown(timeout) gave up on a slow sink, and the writer is done, records are written at once."""
        threads = set(threading.enumerate())
        foundation.configure(stream=gate, format="json")
        (writer,) = set(threading.enumerate()) - threads
        wait_writer_held(gate)
        for i in range(5):
            log.info("queued", seq=i)
        foundation.shutdown(timeout=SHORT)  # gives up: the sink is slow
        gate.gate.set()
        writer.join(WAIT)  # the slow sink is done: the writer writes what was queued and exits
        assert not writer.is_alive()
        log.info("after")
        assert gate.records()[-1]["event"] == "after"  # written synchronously, no flush needed
        assert foundation.flush(WAIT) is True
        assert [r["event"] for r in gate.records()] == ["gate"] + ["queued"] * 5 + ["after"]
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"]) == (7, 7, 0)

    def test_flush_racing_shutdown_returns_after_the_records_are_written(self, request, log):
        """A flush() that races shutdown() returns True only once the records logged before it are written."""
        returned = threading.Event()

        class Sink(GateSink):
            def write(self, text):
                if "second" in text:
                    # Negative wait: a flush() that returns before this write is caught in the act.
                    returned.wait(SHORT)
                super().write(text)

        sink = Sink()
        request.addfinalizer(sink.gate.set)  # no writer stays held if the test fails
        foundation.configure(stream=sink, format="json")
        wait_writer_held(sink)
        stopper = threading.Thread(target=foundation.shutdown, args=(WAIT,))
        stopper.start()
        wait_until(lambda: foundation.stats()["queue_depth"] == 1, "shutdown() has queued its stop")
        log.info("second")  # behind the stop: shutdown() writes it once the writer has exited
        result = {}

        def flusher():
            result["flushed"] = foundation.flush(WAIT)
            result["written"] = "second" in sink.text()
            returned.set()

        flushing = threading.Thread(target=flusher)
        flushing.start()
        wait_until(lambda: foundation.stats()["queue_depth"] == 3, "flush() has queued its barrier")
        sink.gate.set()
        flushing.join(WAIT)
        stopper.join(WAIT)
        assert result == {"flushed": True, "written": True}
        assert [r["event"] for r in sink.records()] == ["gate", "second"]

    @pytest.mark.parametrize("mode", MODES)
    def test_handler_filter_that_raises_counts_and_reports_the_record(self, mode, log):
        """A handler filter that raises (it edits shared bound fields): the drop is counted and reported."""

        class AddHost(logging.Filter):
            def filter(self, record):
                record.fields["host"] = "web1"  # raises for the shared fields of a bound logger
                return True

        out = capture(mode=mode)
        (handler,) = own_handlers()
        handler.addFilter(AddHost())
        log.bind(request="r1").info("bound_only")
        log.info("plain", a=1)
        records = out.records()
        assert [r["event"] for r in records] == ["logs_dropped", "plain"]
        assert records[0]["count"] == 1 and records[1]["host"] == "web1"
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"]) == (3, 2, 1)
        assert stats["errors"] >= 1

    def test_flush_from_inside_the_sink_returns_false_and_frees_the_writer(self, log):
        """flush() called by the sink, on the writer thread, returns False at once; flush() from main works."""
        inner = []

        class Sink:
            def __init__(self):
                self.chunks = []

            def write(self, text):
                self.chunks.append(text)
                if "boom" in text:
                    foundation.get_logger("sink").warning("sink_saw_error")
                    inner.append(foundation.flush())  # no timeout: it must not wait for itself

        sink = Sink()
        foundation.configure(stream=sink, format="json")
        log.error("boom")
        assert foundation.flush(WAIT) is True, "the writer is stuck"
        assert inner == [False]
        assert foundation.flush(WAIT) is True  # now past what the sink logged during the first one
        assert [loads(line)["event"] for line in split_lines("".join(sink.chunks))] == ["boom", "sink_saw_error"]


class TestWriterEdges:
    MAX_BYTES = 2000
    BATCH = 10

    # -- memory bounded in bytes ----------------------------------------------------
    @pytest.mark.parametrize("case", ["five_megabyte_values", "full_queue_of_64k_values"])
    def test_memory_is_bounded_in_bytes(self, case):
        """A sink that holds every write: 200 values of 5 MB, or 10,000 of 64 KiB, stay under about 64 MB."""
        result = run_python("""
            import json, resource, sys, threading, foundation
            gate = threading.Event()

            class Held:
                def write(self, text):
                    gate.wait()

            log = foundation.get_logger("app")
            foundation.configure(stream=Held(), format="json", overflow="drop")
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            if sys.argv[1] == "five_megabyte_values":
                for i in range(200):
                    log.info("r", i=i, v="x" * 5_000_000)
            else:
                for i in range(10000):
                    log.info("r", i=i, v=("%05d" % i) * (65536 // 5))
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB on Linux
            gate.set()
            assert foundation.flush(30)
            print(json.dumps([grown // 1024, foundation.stats()]))
        """, case)
        assert result.returncode == 0, result.stderr
        grown_mb, stats = json.loads(result.stdout)
        assert grown_mb < 100, grown_mb  # before the byte bound: 970 MB and 680 MB
        assert stats["written"] + stats["dropped"] == stats["emitted"]
        if case == "full_queue_of_64k_values":
            assert stats["dropped"] > 5000

    def test_queue_bytes_bounds_the_text_queued(self, gate, log):
        """queue_bytes: heavy records past the bound are dropped (drop mode); light ones still go in."""
        foundation.configure(stream=gate, format="json", overflow="drop", queue_bytes=100_000)
        wait_writer_held(gate)
        for i in range(5):
            log.info("heavy", i=i, v="h" * 30_000)  # three fit in 100,000 characters
        for i in range(5):
            log.info("light", i=i)
        assert foundation.stats()["dropped"] == 2
        gate.gate.set()
        assert foundation.flush(WAIT)
        events = [(r["event"], r.get("i")) for r in gate.records() if r["event"] in ("heavy", "light")]
        assert events == [("heavy", 0), ("heavy", 1), ("heavy", 2)] + [("light", i) for i in range(5)]
        assert [r["count"] for r in gate.records() if r["event"] == "logs_dropped"] == [2]

    def test_queue_bytes_blocks_in_block_mode(self, gate, log):
        """Block mode: a heavy record past queue_bytes waits for room, then goes in; nothing is dropped."""
        foundation.configure(stream=gate, format="json", queue_bytes=65536)
        wait_writer_held(gate)
        log.info("heavy", i=0, v="h" * 40_000)
        done = threading.Event()

        def second():
            log.info("heavy", i=1, v="h" * 40_000)
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(0.2), "the second heavy record went in past queue_bytes"
        gate.gate.set()
        thread.join(WAIT)
        assert done.is_set()
        assert foundation.flush(WAIT)
        assert [r.get("i") for r in gate.records() if r["event"] == "heavy"] == [0, 1]
        assert foundation.stats()["dropped"] == 0

    def test_values_are_cut_to_the_limit_of_the_handler_that_writes_them(self, attach):
        """A Handler with its own max_value_length, alone under a logger: its limit, not configure()'s."""
        capture(max_value_length=2000)
        stream = io.StringIO()
        handler = attach(foundation.Handler(stream=stream, mode="sync", format="json",
                                            max_value_length=100_000), "svc")
        logging.getLogger("svc").propagate = False
        try:
            foundation.get_logger("svc").info("big", payload="x" * 5000)
        finally:
            logging.getLogger("svc").propagate = True
        assert handler.flush_wait(WAIT)
        assert loads(stream.getvalue())["payload"] == "x" * 5000

    def test_values_are_cut_before_they_are_queued(self, gate, log):
        """A 5 MB value waits in the queue already cut to max_value_length, and is written cut once."""
        foundation.configure(stream=gate, format="json", max_value_length=1000)
        wait_writer_held(gate)
        log.info("big", v="x" * 5_000_000, nested=["y" * 3000])
        (entry,) = own_handlers()[0].queue._items
        fields = entry[foundation._FIELDS]
        assert len(fields["v"]) < 1100 and len(fields["nested"][0]) < 1100
        gate.gate.set()
        assert foundation.flush(WAIT)
        (record,) = [r for r in gate.records() if r["event"] == "big"]
        assert record["v"] == "x" * 1000 + "…[truncated 4999000 chars]"
        assert record["nested"] == ["y" * 1000 + "…[truncated 2000 chars]"]

    @pytest.mark.parametrize("mode", MODES)
    def test_rotation_keeps_backups_and_loses_nothing(self, mode, tmp_path, log):
        """max_bytes/backups: app.log, .1-.3 only; oldest first, consecutive records up to the last."""
        path = tmp_path / "app.log"
        foundation.configure(file=path, format="json", mode=mode, max_bytes=self.MAX_BYTES,
                             backups=3, batch_size=self.BATCH)
        for i in range(500):
            log.info("r", i=i)
        assert foundation.flush(WAIT) is True
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"]) == (500, 500, 0)
        foundation.shutdown()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["app.log", "app.log.1", "app.log.2",
                                                              "app.log.3"]
        oldest_first = [tmp_path / name for name in ("app.log.3", "app.log.2", "app.log.1", "app.log")]
        lines = [split_lines(p.read_bytes().decode("utf-8")) for p in oldest_first]
        records = [loads(line) for chunk in lines for line in chunk]
        assert {r["event"] for r in records} == {"r"}
        numbers = [r["i"] for r in records]
        assert numbers == list(range(numbers[0], 500)), numbers  # none lost, none twice
        assert numbers[0] > 0  # the oldest were rotated away
        # Checked once per written batch (a sync write is one record): a rotated file passes
        # max_bytes by at most one batch, and was not rotated more than a batch early.
        batch_bytes = (1 if mode == "sync" else self.BATCH) * max(
            len(line.encode("utf-8")) + 1 for chunk in lines for line in chunk)
        for p in oldest_first[:-1]:
            size = p.stat().st_size
            assert self.MAX_BYTES - batch_bytes < size <= self.MAX_BYTES + batch_bytes, (p.name, size)

    @pytest.mark.parametrize("where", ["stream", "stderr"])
    def test_max_bytes_without_file_raises(self, where, tmp_path):
        """max_bytes needs file=: with a stream (or the default stderr) configure() raises naming it."""
        foundation.configure(file=tmp_path / "app.log", max_bytes=2000, backups=3)  # the option exists
        options = {"stream": io.StringIO()} if where == "stream" else {}
        with pytest.raises((ValueError, TypeError)) as info:
            foundation.configure(max_bytes=2000, **options)
        assert "max_bytes" in str(info.value)

    def test_negative_backups_raises(self, tmp_path):
        """backups=-1 raises ValueError/TypeError naming the option and the value."""
        foundation.configure(file=tmp_path / "app.log", max_bytes=2000, backups=3)  # the option exists
        with pytest.raises((ValueError, TypeError)) as info:
            foundation.configure(file=tmp_path / "app.log", max_bytes=2000, backups=-1)
        assert "backups" in str(info.value) and "-1" in str(info.value)


LOG_ONCE = """
    import foundation
    foundation.get_logger("app").info("shown")
"""


# ---------------------------------------------------------------------------
# Logger facade
# ---------------------------------------------------------------------------

LEVEL_METHODS = [("trace", "trace"), ("debug", "debug"), ("info", "info"), ("warning", "warning"),
                 ("error", "error"), ("critical", "critical"), ("exception", "error")]


# ---------------------------------------------------------------------------
# Shipping logs off the machine: RFC 5424 syslog
# ---------------------------------------------------------------------------

RFC5424_HEADER = re.compile(r"(?:<(\d{1,3})>)?1 (\S+) (\S+) (\S+) (\S+) (\S+) ")
#: Our escapes inside a PARAM-VALUE, under RFC 5424's (as key_value quotes a value).
OUR_ESCAPE = re.compile(r"\\(\\|n|r|t|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def parse_rfc5424(message):
    """Parse one RFC 5424 message strictly: its header, its structured data (the values
    decoded: RFC 5424's escapes, then ours) and MSG. Raises AssertionError on a bad one."""
    match = RFC5424_HEADER.match(message)
    assert match, f"not RFC 5424: {message!r}"
    pri, stamp, host, app, procid, msgid = match.groups()
    rest, elements = message[match.end():], {}
    if rest.startswith("-"):
        rest = rest[1:]
    while rest.startswith("["):
        sd_id, rest = rest[1:].split(" ", 1) if " " in rest.split("]", 1)[0] else rest[1:].split("]", 1)
        params = elements[sd_id] = {}
        while not rest.startswith("]"):
            name, rest = rest.split('="', 1)
            assert re.fullmatch(r'[!#-<>-\\^-~]{1,32}', name), name
            value, i = [], 0
            while rest[i] != '"':
                if rest[i] == "\\" and rest[i + 1] in '"\\]':
                    i += 1
                else:
                    assert rest[i] not in '"]', f"unescaped {rest[i]!r} in {message!r}"
                value.append(rest[i])
                i += 1
            params[name] = OUR_ESCAPE.sub(
                lambda m: "\\" if m.group(1) == "\\" else {"n": "\n", "r": "\r", "t": "\t"}.get(
                    m.group(1)) or chr(int(m.group(1)[1:], 16)), "".join(value))
            rest = rest[i + 1:]
            rest = rest[1:] if rest.startswith(" ") else rest
        rest = rest[1:]
    assert rest == "" or rest.startswith(" "), rest
    return {"pri": None if pri is None else int(pri), "timestamp": stamp, "hostname": host,
            "app_name": app, "procid": procid, "msgid": msgid, "sd": elements, "msg": rest[1:]}


def parse_journal(datagram):
    """Decode a native journal protocol datagram into (name, value) pairs, strictly."""
    fields, rest = [], datagram
    while rest:
        end = rest.index(b"\n")
        head = rest[:end]
        if b"=" in head:
            name, value = head.split(b"=", 1)
            rest = rest[end + 1:]
        else:  # NAME, then the value's length as 64-bit little endian, the value, a newline
            name = head
            size = int.from_bytes(rest[end + 1:end + 9], "little")
            value = rest[end + 9:end + 9 + size]
            assert rest[end + 9 + size:end + 10 + size] == b"\n", datagram
            rest = rest[end + 10 + size:]
        assert re.fullmatch(rb"[A-Z][A-Z0-9_]{0,63}", name), name
        fields.append((name.decode(), value.decode()))
    return fields


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class UDPReceiver:
    """A local UDP socket: the datagrams a test's syslog handler sends."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(WAIT)
        self.address = "udp://127.0.0.1:%d" % self.sock.getsockname()[1]

    def messages(self, count):
        return [self.sock.recv(65536).decode("utf-8") for _ in range(count)]


@pytest.fixture
def udp():
    receiver = UDPReceiver()
    yield receiver
    receiver.sock.close()


class Rsyslog:
    """A real rsyslogd on 127.0.0.1 (UDP and TCP on free ports), writing each message it
    receives as it came (``%rawmsg%``) on a line of a file in a temporary directory."""

    def __init__(self, exe, directory):
        self.udp, self.tcp = free_port(socket.SOCK_DGRAM), free_port()
        self.out = directory / "received.log"
        conf = directory / "rsyslog.conf"
        conf.write_text(textwrap.dedent(f"""\
            global(workDirectory="{directory}" maxMessageSize="64k")
            module(load="imudp")
            module(load="imtcp")
            input(type="imudp" address="127.0.0.1" port="{self.udp}" rcvbufSize="16m")
            input(type="imtcp" address="127.0.0.1" port="{self.tcp}")
            template(name="raw" type="string" string="%rawmsg%\\n")
            *.* action(type="omfile" file="{self.out}" template="raw")
            """))
        self.log = open(directory / "rsyslogd.out", "wb")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen([exe, "-n", "-f", str(conf), "-i", str(directory / "rsyslogd.pid")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + WAIT
        while True:  # up once its TCP port takes a connection (UDP is opened before it)
            assert self.proc.poll() is None, (directory / "rsyslogd.out").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.tcp), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "rsyslogd did not start listening"
                time.sleep(0.05)

    def lines(self):
        return self.out.read_text("utf-8").splitlines() if self.out.exists() else []

    def wait_for(self, predicate, what):
        """The received lines once ``predicate(lines)`` holds (bounded by WAIT)."""
        wait_until(lambda: predicate(self.lines()), what)
        return self.lines()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(WAIT)
        self.log.close()


@pytest.fixture(scope="class")
def rsyslog(tmp_path_factory):
    """rsyslogd from Debian's package: skipped where it is absent, a failure in CI."""
    exe = shutil.which("rsyslogd") or next(
        (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if os.access(p, os.X_OK)), None)
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("rsyslogd is missing: .ci/run installs it (apt-get install rsyslog)")
        pytest.skip("rsyslogd is not installed (Debian: apt-get install rsyslog)")
    server = Rsyslog(exe, tmp_path_factory.mktemp("rsyslog"))
    yield server
    server.stop()


def shipped_fields(i, proto):
    """The fields of record ``i``: values with a newline, ``]``, quotes, a backslash, non-ASCII."""
    return {"i": i, "proto": proto, "note": f'line one\nline two ] "{i}" \\ é', "ok": i % 2 == 0}


class OTLPReceiver:
    """A local OTLP/HTTP collector: it answers each POST with the next of ``codes`` (200 once
    they run out; 429 with ``Retry-After: 1``), records (code, time, headers, JSON body),
    and holds the first request until ``released`` is set."""

    def __init__(self, codes):
        import http.server

        self.codes, self.requests = list(codes), []
        self.first, self.released = threading.Event(), threading.Event()
        receiver = self

        class Handle(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.first.set()
                receiver.released.wait(WAIT)
                code = receiver.codes.pop(0) if receiver.codes else 200
                receiver.requests.append((code, time.monotonic(), dict(self.headers), body))
                self.send_response(code)
                if code == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def stop(self):
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()


@pytest.fixture
def otlp_receiver():
    made = []
    yield lambda codes: made.append(OTLPReceiver(codes)) or made[-1]
    for receiver in made:
        receiver.stop()


class OtlpProtos:
    """opentelemetry-proto's ExportLogsServiceRequest, parsed from OTLP/JSON as a collector does."""

    def __init__(self):
        from google.protobuf import json_format
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

        self.json_format, self.message = json_format, ExportLogsServiceRequest

    def parse(self, body):
        """OTLP/JSON writes trace and span ids as hex; protobuf's JSON mapping wants base64 for
        bytes: check the hex (32 and 16 digits), convert, then parse strictly."""
        import base64

        body = copy.deepcopy(body)
        for resource in body.get("resourceLogs", []):
            for scope in resource.get("scopeLogs", []):
                for record in scope.get("logRecords", []):
                    for key, digits in (("traceId", 32), ("spanId", 16)):
                        if key in record:
                            assert re.fullmatch("[0-9a-f]{%d}" % digits, record[key]), record[key]
                            record[key] = base64.b64encode(bytes.fromhex(record[key])).decode()
        return self.json_format.Parse(json.dumps(body), self.message(), ignore_unknown_fields=False)


def otlp_protos():
    """The official protobuf definitions (a test dependency, in tox): a failure in CI without them."""
    try:
        return OtlpProtos()
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("opentelemetry-proto is missing: tox installs it")
        pytest.skip("opentelemetry-proto is not installed (pip install opentelemetry-proto)")


def with_sleep(sleep):
    """_OtlpSink.__init__ with ``sleep`` for its waits (a test's fake)."""
    real = foundation._OtlpSink.__init__

    def init(self, *args, **kwargs):
        real(self, *args, sleep=sleep, **kwargs)
    return init


class TestSyslog:
    # -- the message ------------------------------------------------------------------
    def test_rfc5424_message(self, udp, log):
        """configure(syslog=udp://...): PRI from facility and level, UTC timestamp, hostname,
        app-name, procid, msgid = the event, the fields as SD-PARAMs (redacted), MSG = the event."""
        foundation.configure(syslog=udp.address, syslog_facility="local3", syslog_app_name="billing",
                             level="TRACE")
        log.info("user_login", user_id=42, password="hunter2", tags=["a", "b"], ratio=0.5, none=None)
        log.warning("two words", n=1)
        log.critical("x" * 33)
        log.trace("traced")
        log.log(25, "between", n=2)
        assert foundation.flush(WAIT)
        first, second, third, fourth, fifth = map(parse_rfc5424, udp.messages(5))
        assert [m["pri"] for m in (first, second, third, fourth, fifth)] == [
            19 * 8 + 6, 19 * 8 + 4, 19 * 8 + 2, 19 * 8 + 7, 19 * 8 + 5]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first["timestamp"])
        stamp = datetime.datetime.strptime(first["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert abs(stamp.replace(tzinfo=datetime.timezone.utc).timestamp() - time.time()) < 60
        assert first["hostname"] == socket.gethostname() and first["app_name"] == "billing"
        assert first["procid"] == str(os.getpid())
        assert (first["msgid"], second["msgid"], third["msgid"]) == ("user_login", "-", "-")
        assert (first["msg"], second["msg"], third["msg"]) == ("user_login", "two words", "x" * 33)
        assert first["sd"] == {"fields@32473": {
            "logger": "app", "user_id": "42", "password": "[REDACTED]", "tags": '["a","b"]',
            "ratio": "0.5", "none": "null"}}

    def test_values_exceptions_and_odd_names_survive_intact(self, udp, log):
        """Newlines, ``]``, quotes, backslashes and control characters come back as logged;
        a field named like a library key is renamed; a name RFC 5424 forbids is made valid."""
        foundation.configure(syslog=udp.address)
        hostile = 'a\nb ] "c" \\n \\ \x1b[31m é \u2028'
        log.info("event\nforged", note=hostile, logger="mine", **{'bad name=]"': 1, "k" * 40: 2})
        try:
            raise ValueError("boom ]")
        except ValueError:
            log.exception("failed")
        assert foundation.flush(WAIT)
        first, second = udp.messages(2)
        assert "\n" not in first + second and not UNSAFE_RE.search(first + second)
        first, second = parse_rfc5424(first), parse_rfc5424(second)
        assert first["msg"] == "event\\nforged" and first["msgid"] == "-"
        assert first["sd"]["fields@32473"] == {
            "logger": "app", "note": hostile, "logger_": "mine", "bad_name___": "1", "k" * 32: "2"}
        exception = second["sd"]["fields@32473"]["exception"]
        assert exception.startswith("Traceback") and exception.endswith("ValueError: boom ]")

    @pytest.mark.parametrize("transport", ["udp", "tcp", "unix"])
    def test_syslog_formatter_with_the_standard_syslog_handler(self, transport, tmp_path):
        """SyslogFormatter gives SysLogHandler the message without PRI, over UDP, TCP and a Unix
        socket; the handler's PRI and the record's extra= fields make a valid RFC 5424 message
        (over TCP, the handler ends each message with a NUL, which frames it)."""
        if transport == "unix":
            server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            server.bind(str(tmp_path / "log.sock"))
            address, kind = str(tmp_path / "log.sock"), socket.SOCK_DGRAM
        else:
            kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
            server = socket.socket(socket.AF_INET, kind)
            server.bind(("127.0.0.1", 0))
            if transport == "tcp":
                server.listen()
            address = server.getsockname()
        server.settimeout(WAIT)
        handler = logging.handlers.SysLogHandler(address, facility="local1", socktype=kind)
        handler.append_nul = transport == "tcp"
        handler.setFormatter(foundation.SyslogFormatter(app_name="worker"))
        logger = logging.getLogger("plain.syslog")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        try:
            logger.error("job %s failed", 7, extra={"job": "import", "token": "t-1", "note": "a\nb"})
            logger.info("second")
            if transport == "tcp":
                conn, _ = server.accept()
                conn.settimeout(WAIT)
                data = b""
                while data.count(b"\0") < 2:
                    data += conn.recv(65536)
                conn.close()
                messages = data.split(b"\0")[:2]
            else:
                messages = [server.recv(65536) for _ in range(2)]
        finally:
            logger.removeHandler(handler)
            logger.propagate = True
            handler.close()
            server.close()
        first, second = (parse_rfc5424(m.decode("utf-8")) for m in messages)
        assert first["pri"] == 17 * 8 + 3 and first["app_name"] == "worker"
        assert first["msg"] == "job 7 failed" and second["msg"] == "second" and second["pri"] == 17 * 8 + 6
        assert first["sd"]["fields@32473"] == {
            "logger": "plain.syslog", "job": "import", "token": "[REDACTED]", "note": "a\nb"}

    def test_unix_datagram_socket(self, tmp_path, log):
        """unix:///path sends one datagram a message, as to /dev/log."""
        path = str(tmp_path / "log.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(path)
        server.settimeout(WAIT)
        try:
            foundation.configure(syslog="unix://" + path)
            for i in range(3):
                log.info("local", i=i)
            assert foundation.flush(WAIT)
            messages = [parse_rfc5424(server.recv(65536).decode()) for _ in range(3)]
        finally:
            server.close()
        assert [m["sd"]["fields@32473"]["i"] for m in messages] == ["0", "1", "2"]

    @pytest.mark.parametrize("options,error", [
        ({"syslog": "udp://localhost"}, ValueError),
        ({"syslog": "http://host:514"}, ValueError),
        ({"syslog": "tcp://host:70000"}, ValueError),
        ({"syslog": "unix://relative"}, ValueError),
        ({"syslog": 514}, TypeError),
        ({"syslog": "udp://h:514", "file": "x.log"}, ValueError),
        ({"syslog": "udp://h:514", "stream": io.StringIO()}, ValueError),
        ({"syslog": "udp://h:514", "syslog_facility": "local9"}, ValueError),
        ({"syslog": "udp://h:514", "syslog_app_name": "two words"}, ValueError),
    ])
    def test_bad_syslog_options_fail_at_configuration(self, options, error):
        """A bad address, facility or app name, or syslog= with stream= or file=: a clear error at once."""
        with pytest.raises(error, match="syslog|journald|stream=|file="):
            foundation.configure(**options)
        with pytest.raises(error):
            foundation.Handler(**options)

    # -- a server that goes away ------------------------------------------------------
    def test_a_tcp_server_that_goes_away_loses_only_what_is_counted(self, log, monkeypatch):
        """The server closes: what cannot be sent is counted as dropped and reported; the
        handler connects again and the report and later records arrive."""
        monkeypatch.setattr(foundation._SocketSink, "_RETRY_AFTER", 0.0)  # see the test below

        def dropped_after_one_more():
            log.info("while_down")
            assert foundation.flush(WAIT)
            return foundation.stats()["dropped"] > 0

        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(WAIT)
        try:
            foundation.configure(syslog="tcp://127.0.0.1:%d" % server.getsockname()[1])
            log.info("before", n=0)
            assert foundation.flush(WAIT)
            first, _ = server.accept()
            first.settimeout(WAIT)
            assert b"before" in first.recv(65536)
            first.close()  # the server goes away: the kernel may still take one write
            wait_until(dropped_after_one_more, "a write to the closed server failed")
            log.info("after", n=1)
            assert foundation.flush(WAIT)
            second, _ = server.accept()
            second.settimeout(WAIT)
            received = b""
            while b"after" not in received:
                received += second.recv(65536)
            second.close()
        finally:
            server.close()
        frames = re.findall(rb"(\d+) (<\d+>1 [^\n]*?)(?=\d+ <|$)", received)
        messages = [parse_rfc5424(m.decode()) for size, m in frames]
        assert all(int(size) == len(m) for size, m in frames)
        stats = foundation.stats()
        report = [m for m in messages if m["msgid"] == "logs_dropped"]
        assert report and int(report[0]["sd"]["fields@32473"]["count"]) == stats["dropped"] > 0
        assert messages[-1]["msgid"] == "after"
        assert stats["emitted"] == stats["written"] + stats["dropped"]

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_a_forked_child_opens_its_own_tcp_connection(self):
        """After fork, parent and child send on connections of their own: frames from two
        processes never interleave on one; every record arrives whole."""
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(WAIT)
        received, done = [], threading.Event()

        def accept():
            while not done.is_set():
                try:
                    conn, _ = server.accept()
                except OSError:
                    return
                threading.Thread(target=lambda c=conn: received.append(read_all(c)), daemon=True).start()

        def read_all(conn):
            with conn:
                conn.settimeout(WAIT)
                data = b""
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return data
                    data += chunk

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        try:
            result = run_python("""
                import os, sys, foundation
                foundation.configure(syslog=sys.argv[1])
                log = foundation.get_logger("app")
                log.info("before_fork")
                assert foundation.flush(10)
                pid = os.fork()
                who = "child" if pid == 0 else "parent"
                for i in range(2000):
                    log.info("after_fork", who=who, i=i, pad="x" * 200)
                assert foundation.flush(10)
                foundation.shutdown()
                if pid == 0:
                    os._exit(0)
                os.waitpid(pid, 0)
            """, "tcp://127.0.0.1:%d" % server.getsockname()[1])
            assert result.returncode == 0, result.stderr
            wait_until(lambda: len(received) >= 2, "both processes' connections were read to the end")
        finally:
            done.set()
            server.close()
        messages = []
        for data in received:
            frames = re.findall(rb"(\d+) (<\d+>1 .*?)(?=\d+ <\d+>1 |$)", data, re.S)
            assert sum(len(size) + 1 + len(m) for size, m in frames) == len(data)
            assert all(int(size) == len(m) for size, m in frames)
            messages += [parse_rfc5424(m.decode()) for _, m in frames]
        seen = sorted((m["sd"]["fields@32473"].get("who", "-"), m["sd"]["fields@32473"].get("i", "-"))
                      for m in messages if m["msgid"] == "after_fork")
        assert seen == sorted((who, str(i)) for who in ("child", "parent") for i in range(2000))

    def test_a_server_that_is_down_is_tried_once_a_second(self):
        """After a failed connection the sink does not try again for _RETRY_AFTER seconds:
        batches in between are lost and counted at once, not after a connect each."""
        with socket.socket() as probe:  # a port with no listener
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        now = [100.0]
        sink = foundation._SocketSink("tcp", ("127.0.0.1", port), clock=lambda: now[0])
        tries = []
        real_connect = sink._connect
        monkey = lambda: tries.append(now[0]) or real_connect()  # noqa: E731
        sink._connect = monkey
        for at in (100.0, 100.5, 100.99, 101.0, 101.2):
            now[0] = at
            with pytest.raises(foundation._SinkLost) as lost:
                sink.write("", b"one\ntwo\n")
            assert lost.value.lost == [0, 1]
        assert tries == [100.0, 101.0]

    # -- journald ----------------------------------------------------------------------
    def test_journald_native_protocol(self, tmp_path, log):
        """journald=<socket>: one native-protocol datagram a record; MESSAGE, PRIORITY,
        SYSLOG_IDENTIFIER, LOGGER, TIMESTAMP, then the fields under journal names; a value
        with a newline in the length-prefixed binary form; secrets redacted."""
        path = str(tmp_path / "journal.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(path)
        server.settimeout(WAIT)
        try:
            foundation.configure(journald=path, syslog_app_name="billing", level="DEBUG")
            log.warning("disk low", free_mb=12, note="line one\nline two", password="hunter2",
                        message="mine", tags=["a", 1], **{"2fa": True, "_hidden": None})
            log.debug("plain")
            assert foundation.flush(WAIT)
            first, second = server.recv(1 << 20), server.recv(1 << 20)
        finally:
            server.close()
        note = "line one\nline two".encode()
        assert b"\nNOTE\n" + len(note).to_bytes(8, "little") + note + b"\n" in first
        fields = parse_journal(first)
        assert fields[:4] == [("MESSAGE", "disk low"), ("PRIORITY", "4"), ("SYSLOG_IDENTIFIER", "billing"),
                              ("LOGGER", "app")]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", fields[4][1]) and fields[4][0] == "TIMESTAMP"
        assert dict(fields[5:]) == {"FREE_MB": "12", "NOTE": "line one\nline two", "PASSWORD": "[REDACTED]",
                                    "MESSAGE_": "mine", "TAGS": '["a",1]', "F2FA": "true", "F_HIDDEN": "null"}
        assert parse_journal(second)[:2] == [("MESSAGE", "plain"), ("PRIORITY", "7")]

    def test_journald_option_errors(self, tmp_path):
        """journald= takes True or the absolute path of a socket that exists; not with file=."""
        missing = str(tmp_path / "none.sock")
        for value, error in [(missing, ValueError), ("relative.sock", ValueError), (5, ValueError)]:
            with pytest.raises(error, match="journald"):
                foundation.configure(journald=value)
        with pytest.raises(ValueError, match="one of"):
            foundation.configure(journald=missing, file=str(tmp_path / "x.log"))
        if not os.path.exists(foundation._JOURNAL_SOCKET):
            with pytest.raises(ValueError, match="no journal socket"):
                foundation.configure(journald=True)

    @pytest.mark.skipif(not os.path.exists("/run/systemd/journal/socket"),
                        reason="no systemd-journald here (/run/systemd/journal/socket is absent)")
    def test_the_real_journald_takes_a_record(self, log):
        """journald=True on a machine that runs systemd-journald: the record is sent, and
        journalctl (where it can read the journal) finds it by its fields."""
        marker = uuid.uuid4().hex
        foundation.configure(journald=True, syslog_app_name="foundation-test")
        log.info("journald_probe", probe=marker, note="two\nlines")
        assert foundation.flush(WAIT)
        stats = foundation.stats()
        assert stats["written"] == stats["emitted"] and stats["dropped"] == stats["errors"] == 0
        if shutil.which("journalctl"):
            def found():
                out = subprocess.run(["journalctl", "-o", "json", f"PROBE={marker}"],
                                     capture_output=True, text=True).stdout
                return [json.loads(line) for line in out.splitlines() if line.strip()]
            wait_until(found, "journalctl shows the record")
            (entry,) = found()
            assert entry["MESSAGE"] == "journald_probe" and entry["NOTE"] == "two\nlines"

    # -- OTLP/HTTP --------------------------------------------------------------------
    def test_otlp_export_decodes_with_the_official_protos(self, otlp_receiver, log):
        """configure(otlp=...): each batch is one ExportLogsServiceRequest that the official
        protobuf definitions parse (unknown fields rejected); a 503, then a 429 with
        Retry-After: 1, are tried again (after that second); nothing is lost; the caller
        logs everything while the collector still holds the first request."""
        pb = otlp_protos()
        receiver = otlp_receiver([503, 429, 200])
        foundation.configure(otlp=receiver.url, service_name="billing", otlp_headers={"X-Api-Key": "k-1"})
        start = time.monotonic()
        for i in range(1000):
            log.info("charged", i=i, amount=12.5, ok=True, none=None, tags=["a", 1], meta={"k": [2]},
                     password="hunter2", big=1 << 70, trace_id="5B8EFFF798038103D269B633813FC60C",
                     span_id="eee19b7ec3c1b174")
        try:
            raise ValueError("declined")
        except ValueError:
            log.exception("failed", i=1000)
        logged_in = time.monotonic() - start
        assert receiver.first.wait(WAIT), "nothing was sent"
        assert not receiver.released.is_set()  # every call above returned while the collector held the first POST
        receiver.released.set()
        assert foundation.flush(WAIT * 3)
        stats = foundation.stats()
        assert stats["dropped"] == 0 and stats["written"] == stats["emitted"] == 1001, stats
        codes = [code for code, _, _, _ in receiver.requests]
        assert codes[:3] == [503, 429, 200] and set(codes[3:]) <= {200}
        times = [at for _, at, _, _ in receiver.requests]
        assert times[2] - times[1] >= 1.0, "Retry-After: 1 was not honoured"
        records = []
        for code, _, headers, body in receiver.requests:
            assert headers["Content-Type"] == "application/json" and headers["X-Api-Key"] == "k-1"
            message = pb.parse(body)
            if code == 200:
                (resource,) = message.resource_logs
                assert [(a.key, a.value.string_value) for a in resource.resource.attributes] == [
                    ("service.name", "billing")]
                for scope in resource.scope_logs:
                    assert scope.scope.name == "app"
                    records += scope.log_records
        assert len(records) == 1001 and logged_in < WAIT
        first, last = records[0], records[-1]
        assert abs(first.time_unix_nano / 1e9 - time.time()) < 120
        assert (first.severity_number, first.severity_text, first.body.string_value) == (9, "INFO", "charged")
        assert first.trace_id.hex() == "5b8efff798038103d269b633813fc60c" and first.span_id.hex() == "eee19b7ec3c1b174"
        attributes = {a.key: a.value for a in first.attributes}
        assert attributes["i"].int_value == 0 and attributes["amount"].double_value == 12.5
        assert attributes["ok"].bool_value is True and not attributes["none"].HasField("value")
        assert [v.string_value or v.int_value for v in attributes["tags"].array_value.values] == ["a", 1]
        assert attributes["meta"].kvlist_value.values[0].key == "k"
        assert attributes["password"].string_value == "[REDACTED]"
        assert attributes["big"].string_value == str(1 << 70)
        assert "trace_id" not in attributes and "span_id" not in attributes
        assert [r.attributes[0].value.int_value for r in records] == list(range(1001))
        assert (last.severity_number, last.severity_text) == (17, "ERROR")
        stacktrace = {a.key: a.value.string_value for a in last.attributes}["exception.stacktrace"]
        assert stacktrace.endswith("ValueError: declined")

    def test_otlp_gives_up_after_a_bound_and_counts_what_it_lost(self, otlp_receiver, log, monkeypatch):
        """A collector that keeps answering 503 is tried _ATTEMPTS times, the waits doubling;
        then the batch is counted as dropped and reported. A 400 is not tried again: the
        report it refused is sent again with the next batch."""
        waits = []
        monkeypatch.setattr(foundation._OtlpSink, "__init__", with_sleep(waits.append))
        receiver = otlp_receiver([503] * 5 + [400])
        foundation.configure(otlp=receiver.url)
        receiver.released.set()
        log.info("lost_to_503")
        assert foundation.flush(WAIT)  # ... and the flush sends the report: 400
        assert waits == [0.5, 1.0, 2.0, 4.0] and foundation.stats()["dropped"] == 1
        log.info("arrives")
        assert foundation.flush(WAIT)
        assert waits == [0.5, 1.0, 2.0, 4.0]
        assert [code for code, _, _, _ in receiver.requests] == [503] * 5 + [400, 200]

        def events(body):
            return [(r["body"]["stringValue"], r["attributes"]) for scope in body["resourceLogs"][0]["scopeLogs"]
                    for r in scope["logRecords"]]
        report = ("logs_dropped", [{"key": "count", "value": {"intValue": "1"}}])
        assert events(receiver.requests[5][3]) == [report]
        assert events(receiver.requests[6][3]) == [report, ("arrives", [])]
        stats = foundation.stats()
        assert stats["dropped"] == 1 and stats["written"] + stats["dropped"] == stats["emitted"]

    def test_otlp_takes_what_processors_made(self, otlp_receiver, log):
        """A processor's timestamp that is no stamp (the time sent is then now), a level that is
        an int, an event that is a list (written as its text): the record still goes out."""
        pb = otlp_protos()
        receiver = otlp_receiver([])
        receiver.released.set()

        def odd(event_dict):
            return {**event_dict, "timestamp": "yesterday", "level": 20, "event": ["a", 1]}

        foundation.configure(otlp=receiver.url, processors=[odd])
        log.info("changed", n=1)
        assert foundation.flush(WAIT)
        (record,) = pb.parse(receiver.requests[0][3]).resource_logs[0].scope_logs[0].log_records
        assert abs(record.time_unix_nano / 1e9 - time.time()) < 120
        assert record.severity_text == "20" and record.body.string_value == "['a', 1]"
        assert foundation.stats()["dropped"] == 0

    def test_otlp_settings_from_the_environment(self, monkeypatch):
        """otlp=True: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT (as is) or OTEL_EXPORTER_OTLP_ENDPOINT +
        /v1/logs, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME; options given win."""
        cfg = foundation._handler_config({"otlp": True})
        assert foundation._otlp_settings(cfg) == (
            "http://localhost:4318/v1/logs", {}, "unknown_service:python", 10.0)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318/")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%3Db, x = y ,broken")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "billing")
        assert foundation._otlp_settings(cfg) == (
            "https://collector:4318/v1/logs", {"api-key": "a=b", "x": "y"}, "billing", 10.0)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "https://logs:1/custom")
        assert foundation._otlp_settings(cfg)[0] == "https://logs:1/custom"
        cfg = foundation._handler_config({"otlp": "http://c:4318/v1/logs", "otlp_headers": {"k": "v"},
                                          "service_name": "mine", "otlp_timeout": 2})
        assert foundation._otlp_settings(cfg) == ("http://c:4318/v1/logs", {"k": "v"}, "mine", 2.0)
        assert foundation._retry_after("3", 0.5) == 3.0 and foundation._retry_after(None, 0.5) == 0.5
        assert foundation._retry_after("soon", 0.5) == 0.5
        assert 0 <= foundation._retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 0.5) <= 0.5 + 1

    @pytest.mark.parametrize("options,error", [
        ({"otlp": "collector:4318"}, ValueError),
        ({"otlp": "http://c:1", "otlp_headers": {"k": 1}}, TypeError),
        ({"otlp": "http://c:1", "service_name": ""}, TypeError),
        ({"otlp": "http://c:1", "file": "x.log"}, ValueError),
    ])
    def test_bad_otlp_options_fail_at_configuration(self, options, error):
        with pytest.raises(error):
            foundation.configure(**options)
        with pytest.raises(error):
            foundation.OTLPHandler(options.pop("otlp"), **{"headers" if k == "otlp_headers" else k: v
                                                           for k, v in options.items()})

    # -- a real rsyslog -----------------------------------------------------------------
    @pytest.mark.parametrize("proto", ["tcp", "udp"])
    def test_ten_thousand_records_reach_a_real_rsyslog(self, proto, rsyslog, log):
        """10,000 records to rsyslogd: over TCP (octet-counted) every one exactly once, over
        UDP at least 95 % and none twice; each parses as RFC 5424 with its fields intact."""
        port = rsyslog.tcp if proto == "tcp" else rsyslog.udp
        foundation.configure(syslog=f"{proto}://127.0.0.1:{port}", syslog_app_name="shiptest")
        for i in range(10_000):
            log.info("shipped", **shipped_fields(i, proto))
        log.info("last", proto=proto)
        assert foundation.flush(WAIT)
        mine = lambda lines: [line for line in lines if f'proto="{proto}"' in line]  # noqa: E731
        lines = mine(rsyslog.wait_for(lambda lines: any(" last [" in line for line in mine(lines)),
                                      f"the last {proto} record reached rsyslogd"))
        if proto == "udp":  # no acknowledgement: a datagram may be lost, and "last" with it
            time.sleep(SHORT)
            lines = mine(rsyslog.lines())
        messages = [parse_rfc5424(line) for line in lines if " shipped [" in line]
        numbers = [int(m["sd"]["fields@32473"]["i"]) for m in messages]
        assert len(numbers) == len(set(numbers)), "a record arrived twice"
        if proto == "tcp":
            assert numbers == list(range(10_000))
        else:
            assert len(numbers) >= 9_500, f"only {len(numbers)} of 10,000 datagrams arrived"
        for message, i in zip(messages, numbers):
            expected = {"logger": "app", **{k: str(v) if type(v) is int else v
                                            for k, v in shipped_fields(i, proto).items()}}
            expected["ok"] = "true" if i % 2 == 0 else "false"
            assert message["sd"]["fields@32473"] == expected
            assert (message["pri"], message["app_name"], message["msgid"]) == (14, "shiptest", "shipped")
        assert foundation.stats()["dropped"] == 0


class TestLoggerFacade:
    def test_default_logger_and_get_logger(self):
        """logger is the root facade; get_logger(name) wraps logging.getLogger(name)."""
        assert isinstance(foundation.logger, foundation.Logger)
        assert foundation.logger.name == logging.getLogger().name
        assert foundation.get_logger().name == logging.getLogger().name
        assert foundation.get_logger("app.db").name == "app.db"
        out = capture()
        foundation.get_logger("app.db").info("event")
        assert out.record()["logger"] == "app.db"

    @pytest.mark.parametrize("method,label", LEVEL_METHODS)
    def test_level_methods(self, method, label, log):
        """Each level method writes its level name."""
        out = capture(level="TRACE")
        getattr(log, method)("event", n=1)
        record = out.record()
        assert (record["level"], record["event"], record["n"]) == (label, "event", 1)

    def test_bind_returns_a_new_logger(self, log):
        """bind() returns a new logger with the fields; the original is unchanged."""
        out = capture()
        bound = log.bind(a=1).bind(b=2, a=3)
        bound.info("bound")
        log.info("plain")
        first, second = out.records()
        assert (first["a"], first["b"]) == (3, 2)
        assert "a" not in second and "b" not in second
        assert bound.name == log.name

    def test_unbind_and_try_unbind(self, log):
        """unbind() removes keys and raises KeyError for a missing one; try_unbind() ignores it."""
        out = capture()
        bound = log.bind(a=1, b=2)
        bound.unbind("a").info("one")
        bound.try_unbind("a", "missing").info("two")
        with pytest.raises(KeyError):
            bound.unbind("missing")
        bound.info("three")
        one, two, three = out.records()
        assert "a" not in one and one["b"] == 2
        assert "a" not in two and two["b"] == 2
        assert (three["a"], three["b"]) == (1, 2)

    def test_is_enabled_for_follows_module_levels(self):
        """is_enabled_for() answers from the standard logger's level, module levels included."""
        capture(level="INFO", module_levels={"noisy": "ERROR", "chatty": "DEBUG"})
        assert foundation.get_logger("noisy.sub").is_enabled_for("WARNING") is False
        assert foundation.get_logger("noisy").is_enabled_for(logging.ERROR) is True
        assert foundation.get_logger("chatty").is_debug_enabled() is True
        assert foundation.get_logger("other").is_debug_enabled() is False

    def test_exception_inside_except(self, log):
        """exception() logs at ERROR with the current exception's traceback."""
        out = capture()
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed", n=1)
        record = out.record()
        assert record["level"] == "error" and record["n"] == 1
        assert record["exception"].startswith("Traceback (most recent call last)")
        assert record["exception"].rstrip("\n").endswith("ValueError: boom")

    def test_exception_outside_except(self, log):
        """exception() outside an except block logs at ERROR with no exception field."""
        out = capture()
        log.exception("no exception")
        record = out.record()
        assert record["level"] == "error"
        assert "exception" not in record

    @pytest.mark.parametrize("how", ["true", "instance", "tuple"])
    def test_exc_info_forms(self, how, log):
        """exc_info=True, an exception or a tuple adds the traceback, as in logging."""
        out = capture()
        try:
            raise KeyError("k")
        except KeyError as exc:
            caught = exc
            info = sys.exc_info()
            if how == "true":
                log.warning("w", exc_info=True)
        if how == "instance":
            log.warning("w", exc_info=caught)
        elif how == "tuple":
            log.warning("w", exc_info=info)
        record = out.record()
        assert "KeyError: 'k'" in record["exception"]
        assert "exc_info" not in record

    def test_exc_info_false_adds_nothing(self, log):
        """exc_info=False (or None) inside except adds no exception field."""
        out = capture()
        try:
            raise KeyError("k")
        except KeyError:
            log.error("a", exc_info=False)
            log.error("b", exc_info=None)
        assert all("exception" not in r for r in out.records())

    def test_stack_info(self, log):
        """stack_info=True writes the caller's stack in the stack field."""
        out = capture()
        log.info("here", stack_info=True)
        record = out.record()
        assert record["stack"].startswith("Stack (most recent call last)")
        assert "test_stack_info" in record["stack"]
        assert "stack_info" not in record

    def test_event_is_positional_only(self, log):
        """The event is positional-only: event=, level=, self=, args= and the like are fields."""
        out = capture()
        log.info("real", event=1, self=2, args=3, msg=4, name=5, extra=6, fields=7)
        log.log("INFO", "via_log", level=8, event=9)
        first, second = out.records()
        assert first["event"] == "real" and first["event_"] == 1
        assert [first[k] for k in ("self", "args", "msg", "name", "extra", "fields")] == [2, 3, 4, 5, 6, 7]
        assert second["event"] == "via_log" and second["level"] == "info"
        assert (second["level_"], second["event_"]) == (8, 9)

    def test_args_are_formatted_into_the_event(self, log):
        """args are %-formatted into the event as the standard library does."""
        out = capture()
        log.info("user %s has %d", "bob", 3, n=1)
        record = out.record()
        assert record["event"] == "user bob has 3" and record["n"] == 1

    def test_log_with_level(self, log):
        """log(level, event) takes an int or a name."""
        out = capture()
        log.log(logging.WARNING, "int")
        log.log("error", "name")
        log.log("debug", "hidden")
        assert [(r["event"], r["level"]) for r in out.records()] == [("int", "warning"), ("name", "error")]

    # -- async twins ----------------------------------------------------------------
    @pytest.mark.parametrize("method,label", LEVEL_METHODS)
    def test_async_twins(self, method, label, log):
        """a<level>() are coroutines that write like their sync twins."""
        out = capture(level="TRACE")
        twin = getattr(log, "a" + method)
        assert inspect.iscoroutinefunction(twin)
        asyncio.run(twin("event", n=1))
        (record,) = [r for r in out.records() if r["logger"] == "app"]  # asyncio logs at DEBUG too
        assert (record["level"], record["event"], record["n"]) == (label, "event", 1)

    def test_alog_and_aexception(self, log):
        """alog() takes a level; aexception() captures the exception being handled."""
        out = capture()

        async def main():
            await log.alog("warning", "via_alog", n=1)
            try:
                raise ValueError("async boom")
            except ValueError:
                await asyncio.sleep(0)
                await log.aexception("failed")

        asyncio.run(main())
        first, second = out.records()
        assert (first["event"], first["level"], first["n"]) == ("via_alog", "warning", 1)
        assert second["level"] == "error" and "ValueError: async boom" in second["exception"]

    def test_async_keeps_the_tasks_context(self, log):
        """await log.ainfo() writes the calling task's context variables."""
        out = capture()

        async def task(n):
            with foundation.context(task=n):
                await asyncio.sleep(0)
                await log.ainfo("event", expect=n)

        async def main():
            await asyncio.gather(*(task(n) for n in range(20)))

        asyncio.run(main())
        records = out.records()
        assert len(records) == 20 and all(r["task"] == r["expect"] for r in records)

    def test_async_waits_for_room_without_blocking_the_loop(self, gate, log):
        """With a full queue in block mode, ainfo() waits while the event loop runs other tasks."""
        foundation.configure(stream=gate, format="json", overflow="block", queue_size=2)
        wait_writer_held(gate)
        log.info("fill", seq=0)
        log.info("fill", seq=1)
        assert foundation.stats()["queue_depth"] == 2

        async def main():
            waiting = asyncio.ensure_future(log.ainfo("waited"))
            ticks = 0
            for _ in range(20):  # the loop keeps running this coroutine while ainfo waits
                await asyncio.sleep(0)
                ticks += 1
            still_waiting = not waiting.done()
            depth = foundation.stats()["queue_depth"]
            gate.gate.set()  # make room
            await asyncio.wait_for(waiting, WAIT)
            return ticks, still_waiting, depth

        ticks, still_waiting, depth = asyncio.run(main())
        assert ticks == 20
        assert still_waiting, "ainfo() returned without room: it did not wait (or blocked the loop)"
        assert depth == 2
        assert foundation.flush(WAIT) is True
        assert [r["event"] for r in gate.records()] == ["gate", "fill", "fill", "waited"]
        assert foundation.stats()["dropped"] == 0

    def test_async_waits_for_text_room_without_blocking_the_loop(self, gate, log):
        """A queue over queue_bytes of text is full too: ainfo() waits on the loop, not in the put."""
        foundation.configure(stream=gate, format="json", queue_bytes=65536)
        wait_writer_held(gate)
        log.info("heavy", i=0, v="h" * 70_000)  # one record: the text budget is spent
        assert foundation.stats()["queue_depth"] == 1

        assert asyncio.run(waits_on_the_loop(log.ainfo("heavy", i=1, v="h" * 40_000), gate)), \
            "ainfo() did not wait for text room (or blocked the loop)"
        assert foundation.flush(WAIT)
        assert [r.get("i") for r in gate.records() if r["event"] == "heavy"] == [0, 1]
        assert foundation.stats()["dropped"] == 0

    def test_every_async_call_waits_for_room_and_keeps_its_exception(self, gate, log):
        """aexception(), alog() and ainfo(exc_info=True, stack_info=True) wait in a full queue,
        then write the exception their task was handling."""
        foundation.configure(stream=gate, format="json", overflow="block", queue_size=2)
        wait_writer_held(gate)
        log.info("fill", seq=0)
        log.info("fill", seq=1)

        async def failing(event, call):
            try:
                raise ValueError(event)
            except ValueError:
                await call()

        async def main():
            waiting = [asyncio.ensure_future(failing(event, call)) for event, call in [
                ("caught", lambda: log.aexception("caught")),
                ("with_info", lambda: log.ainfo("with_info", exc_info=True, stack_info=True)),
                ("via_alog", lambda: log.alog("warning", "via_alog", exc_info=True))]]
            for _ in range(5):
                await asyncio.sleep(0)
            pending = [not task.done() for task in waiting]
            gate.gate.set()  # make room
            await asyncio.wait_for(asyncio.gather(*waiting), WAIT)
            return pending

        assert asyncio.run(main()) == [True, True, True]
        assert foundation.flush(WAIT) is True
        records = {r["event"]: r for r in gate.records()}
        for event in ("caught", "with_info", "via_alog"):
            assert f"ValueError: {event}" in records[event]["exception"], event
        assert "stack" in records["with_info"] and "stack" not in records["caught"]
        assert records["via_alog"]["level"] == "warning" and records["caught"]["level"] == "error"
        assert foundation.stats()["dropped"] == 0

    @pytest.mark.parametrize("how", ["ainfo", "batch_async"])
    def test_cancelled_while_waiting_for_room_is_counted(self, how, gate, log):
        """A task cancelled while its records wait for room: they are counted as dropped and reported."""
        foundation.configure(stream=gate, format="json", overflow="block", queue_size=2)
        wait_writer_held(gate)
        log.info("fill", seq=0)
        log.info("fill", seq=1)

        async def call():
            if how == "ainfo":
                await log.ainfo("cancelled")
            else:
                async with log.batch_async() as batch:
                    await batch.info("cancelled", n=1)
                    await batch.info("cancelled", n=2)

        async def main():
            task = asyncio.ensure_future(call())
            for _ in range(5):
                await asyncio.sleep(0)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(main())
        gate.gate.set()
        assert foundation.flush(WAIT)
        count = 1 if how == "ainfo" else 2
        stats = foundation.stats()
        assert stats["dropped"] == count and stats["written"] + stats["dropped"] == stats["emitted"]
        events = [r["event"] for r in gate.records()]
        assert "cancelled" not in events
        assert [r["count"] for r in gate.records() if r["event"] == "logs_dropped"] == [count]

    # -- batches --------------------------------------------------------------------
    def test_batch_hands_records_on_when_the_block_ends(self, log):
        """batch(): records are held until the block ends, then written in order."""
        stream = io.StringIO()
        foundation.configure(stream=stream, format="json", mode="sync")
        with log.batch() as batch:
            batch.info("one", n=1)
            batch.warning("two")
            batch.log("ERROR", "three")
            assert stream.getvalue() == ""
        assert [(r["event"], r["level"]) for r in map(loads, split_lines(stream.getvalue()))] == [
            ("one", "info"), ("two", "warning"), ("three", "error")]

    def test_batch_hands_on_every_size_records(self, log):
        """batch(size=3) hands records on every 3 calls."""
        stream = io.StringIO()
        foundation.configure(stream=stream, format="json", mode="sync")
        with log.batch(size=3) as batch:
            for i in range(7):
                batch.info("event", seq=i)
                assert len(split_lines(stream.getvalue())) == (i + 1) // 3 * 3
        assert [r["seq"] for r in map(loads, split_lines(stream.getvalue()))] == list(range(7))

    def test_batch_checks_the_level_at_each_call(self, log):
        """The level check happens at each batch call, not when the block ends."""
        out = capture(level="INFO")
        with log.batch() as batch:
            batch.debug("before")
            logging.getLogger("app").setLevel(logging.DEBUG)
            batch.debug("after")
            batch.trace("never")
        assert [r["event"] for r in out.records()] == ["after"]

    def test_batch_keeps_records_when_the_block_raises(self, log):
        """If the block raises, what was logged is still written and the exception propagates."""
        out = capture()
        with pytest.raises(ZeroDivisionError):
            with log.bind(b=1).batch() as batch:
                batch.info("one")
                try:
                    raise ValueError("inner")
                except ValueError:
                    batch.exception("two")
                1 / 0
        one, two = out.records()
        assert (one["event"], one["b"]) == ("one", 1)
        assert two["level"] == "error" and "ValueError: inner" in two["exception"]

    def test_batch_async(self, log):
        """batch_async() yields awaitable level methods; records are written in order at the end."""
        out = capture()

        async def main():
            async with log.batch_async(size=2) as batch:
                with foundation.context(ctx="c"):
                    for i in range(5):
                        await batch.info("event", seq=i)
                await batch.log("warning", "last")

        asyncio.run(main())
        records = out.records()
        assert [r["event"] for r in records] == ["event"] * 5 + ["last"]
        assert [r.get("seq") for r in records[:5]] == list(range(5))
        assert all(r["ctx"] == "c" for r in records[:5]) and "ctx" not in records[5]

    def test_batch_async_keeps_records_when_the_block_raises(self, log):
        """If an async batch block raises, its records are written and the exception propagates."""
        out = capture()

        async def main():
            async with log.batch_async() as batch:
                await batch.info("kept")
                raise RuntimeError("stop")

        with pytest.raises(RuntimeError):
            asyncio.run(main())
        assert [r["event"] for r in out.records()] == ["kept"]

    def test_batch_async_waits_for_room_without_blocking_the_loop(self, gate, log):
        """Handing a batch to a full queue in block mode waits while the loop runs other tasks."""
        foundation.configure(stream=gate, format="json", overflow="block", queue_size=2)
        wait_writer_held(gate)
        log.info("fill", seq=0)
        log.info("fill", seq=1)

        async def send():
            async with log.batch_async() as batch:
                await batch.info("batched", seq=0)
                await batch.info("batched", seq=1)

        assert asyncio.run(waits_on_the_loop(send(), gate)), "the batch did not wait for room (or blocked the loop)"
        assert foundation.flush(WAIT) is True
        assert [r["event"] for r in gate.records()] == ["gate", "fill", "fill", "batched", "batched"]
        assert foundation.stats()["dropped"] == 0

    def test_batch_async_with_less_room_than_records_keeps_the_loop_running(self, gate, log):
        """batch_async() handing on more records than the queue has room for waits without blocking the loop."""
        foundation.configure(stream=gate, format="json", overflow="block", queue_size=4)
        wait_writer_held(gate)
        for i in range(3):
            log.info("fill", seq=i)  # the queue is not full, but has room for one record, not three
        opened_by = []

        async def send():
            async with log.batch_async() as batch:
                for i in range(3):
                    await batch.info("batched", seq=i)

        async def make_room():  # another task: it runs only if the loop is free
            for _ in range(20):
                await asyncio.sleep(0)
            opened_by.append("loop")
            gate.gate.set()

        async def main():
            await asyncio.gather(send(), make_room())

        runner = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
        runner.start()
        runner.join(WAIT)
        if runner.is_alive():  # the loop is blocked: free it so that the test can end
            opened_by.append("test")
            gate.gate.set()
            runner.join(WAIT)
        assert opened_by[0] == "loop", "handing on the batch blocked the event loop"
        assert not runner.is_alive()
        assert foundation.flush(WAIT) is True
        assert [(r["event"], r.get("seq")) for r in gate.records()] == [
            ("gate", None), ("fill", 0), ("fill", 1), ("fill", 2),
            ("batched", 0), ("batched", 1), ("batched", 2)]
        assert foundation.stats()["dropped"] == 0

    # -- the plain path: level methods that make the record themselves -----
    NOT_PLAIN = [1, 2]  # one object for both runs: its text is the same in each
    CALLS = [
        lambda log: log.info("no fields"),
        lambda log: log.info("ints", a=1, b=-2, c=10 ** 20),
        lambda log: log.info("kinds", f=1.5, t=True, n=None, s="x y", q='say "hi"', e="", eq="a=b"),
        lambda log: log.info("url", u="https://user:pw@host/x"),
        lambda log: log.info("https://user:pw@host/in-the-event"),
        lambda log: log.info("secret", password="hunter2", a=1),
        lambda log: log.info("library keys", timestamp=1.5, level="x", logger="y"),
        lambda log: log.warning("unicode \u2713", s="\u00e9"),
        lambda log: log.info("control", s="a\nb"),
        lambda log: log.info("%s args", "formatted"),
        lambda log: log.info(42, a=1),
        lambda log: log.info("not plain", v=TestLoggerFacade.NOT_PLAIN),
        lambda log: log.bind(r="req", t=1).info("bound", i=1),
        lambda log: log.bind(r="req").info("bound only"),
        lambda log: log.bind(r="req").info("bound, same key", r="call"),
        lambda log: log.info("long", s="x" * 2000),
        lambda log: log.log(25, "custom level", a=1),
        lambda log: log.info("stack", stack_info=True),
        lambda log: log.error("again", a=1, b=-2, c=3),
    ]

    def lines_of(self, fmt, **options):
        """The lines of CALLS, logged while the writer is held: one batch, rendered as a batch is."""
        sink = GateSink()
        foundation.configure(stream=sink, format=fmt, **options)
        wait_writer_held(sink)
        log = foundation.get_logger("app")
        for call in self.CALLS:
            call(log)
        sink.gate.set()
        assert foundation.flush(WAIT) is True
        lines = sink.lines()[1:]
        assert len(lines) == len(self.CALLS)
        if fmt == "json":
            return [{k: v for k, v in loads(line).items() if k not in ("timestamp", "stack")} for line in lines]
        lines = [re.sub(r' stack=".*', " stack=...", line) for line in lines]  # the tail
        if fmt == "logfmt":
            return [line.split(" ", 1)[1] for line in lines]  # after timestamp=...
        return [line[len("2026-11-26 18:04:43.803 "):] for line in lines]

    @pytest.mark.parametrize("fmt", ["key_value", "json", "logfmt"])
    def test_plain_path_writes_what_the_gate_writes(self, fmt):
        """A call on the plain path makes the line the gate's general path makes (interning
        turns the plain path off and changes nothing written)."""
        plain = self.lines_of(fmt)
        assert ("a", "b", "c") in foundation._plain_keys  # the plain path was taken
        general = self.lines_of(fmt, intern=True)
        assert not foundation._plain_keys
        assert plain == general
        text = "\n".join(map(str, plain))
        assert "hunter2" not in text and "pw@" not in text

    def test_plain_path_after_a_handler_is_added(self, log):
        """A handler added after plain calls receives the next ones, redacted: the route is
        decided per record."""
        out = capture()
        log.info("before", password="hunter2", n=1)
        log.info("before", n=1)
        keep = Keep()
        logging.getLogger("app").addHandler(keep)
        try:
            log.info("after", n=2)
            log.info("after", password="hunter2", n=3)
        finally:
            logging.getLogger("app").removeHandler(keep)
        log.info("removed", n=4)
        assert [(r.getMessage(), r.fields) for r in keep.records] == [
            ("after", {"n": 2}), ("after", {"password": "[REDACTED]", "n": 3})]
        assert [r["event"] for r in out.records()] == ["before", "before", "after", "after", "removed"]

    def test_logging_keywords_never_pass_as_plain_fields(self, log):
        """exc_info and stack_info are logging's keywords in a call, even when a bound
        logger has made a key tuple of that name known; exception() always attaches."""
        out = capture()
        log.info("plain", n=1)  # the levels are looked up: the next calls may take the plain path
        log.error("plain", n=1)
        log.bind(stack_info="bound").info("bound")
        log.info("call", stack_info=True)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("caught", n=1)
            log.info("caught", exc_info=True)
        plain, error, bound, call, caught, info = out.records()
        assert bound["stack_info"] == "bound" and "stack" not in bound
        assert "stack_info" not in call and "Stack (most recent call last)" in call["stack"]
        assert "exception" not in plain and "exception" not in error
        assert "ValueError: boom" in caught["exception"] and "ValueError: boom" in info["exception"]

    def test_bound_plain_calls_reach_every_reader_whole(self, log):
        """A bound logger's plain calls carry the bound and the call's fields apart; the
        lines, the processors, a batch and the ring buffer all get them merged (call wins)."""
        seen = []
        out = capture(processors=[lambda d: seen.append(dict(d)) or d], ring_buffer=100)
        bound = log.bind(req="r1", n=0)
        for _ in range(2):  # the second of each takes the plain path
            bound.info("call", n=1)
            bound.info("only")
            bound.info("same", req="r2")
        with bound.batch(2) as batch:
            for _ in range(2):
                batch.info("batched", m=5)
        assert foundation._plain_joins  # the plain path knew these joins
        expected = [("call", "r1", 1), ("only", "r1", 0), ("same", "r2", 0)] * 2 + [("batched", "r1", 0)] * 2
        assert [(r["event"], r["req"], r["n"]) for r in out.records()] == expected
        assert [(d["event"], d["req"], d["n"]) for d in seen] == expected
        recent = foundation.get_ring_buffer().get_recent()
        assert [(d["event"], d["req"], d["n"]) for d in recent] == expected
        assert [list(d)[4:] for d in recent[:3]] == [["req", "n"], ["req", "n"], ["req", "n"]]
        assert [d.get("m") for d in recent[-2:]] == [5, 5]

    def test_bound_plain_calls_past_max_fields_and_many_key_tuples(self, log):
        """Joined lines keep max_fields over the bound and the call's fields together; a bound
        logger called with many key tuples keeps a bounded memory of them, and every line whole."""
        out = capture(format="key_value", max_fields=4, emoji=False)
        bound = log.bind(a=1, b=2, c=3)
        with bound.batch(300) as batch:  # handed over together: rendered as one batch
            for _ in range(10):  # the first call of each key tuple learns it, the next join
                batch.info("fits", d=4)
                batch.info("over", d=4, e=5)
            for i in range(100):
                batch.info("many", **{f"k{i}": i})
                batch.info("many", **{f"k{i}": i})
        lines = out.lines()
        assert len(lines) == 220
        assert all(line.endswith(" fits [app] a=1 b=2 c=3 d=4") for line in lines[:20:2])
        assert all(line.endswith(" over [app] a=1 b=2 c=3 d=4 fields_dropped=1") for line in lines[1:20:2])
        for i in range(200):
            assert lines[20 + i].endswith(f" many [app] a=1 b=2 c=3 k{i // 2}={i // 2}"), lines[20 + i]
        joins = foundation._state.redactor.joins
        assert 0 < sum(map(len, joins.values())) <= 64

    def test_bound_plain_calls_follow_a_new_redaction(self, log):
        """A join learned under one configuration is not trusted under the next: a bound key
        that the new redaction covers is hidden on the very next call."""
        out = capture()
        bound = log.bind(tenant="acme")
        bound.info("before", n=1)
        bound.info("before", n=2)
        out = capture(redact=["tenant"])
        bound.info("after", n=3)
        bound.info("after", n=4)
        assert [(r["event"], r["tenant"]) for r in out.records()] == [
            ("after", "[REDACTED]"), ("after", "[REDACTED]")]

    def test_plain_call_with_a_foreign_handler_of_bad_level(self, log):
        """A foreign handler whose level is not a number makes the route check raise: the
        call does not raise, the record is counted and reported."""
        out = capture()
        log.info("warm", n=1)
        keep = Keep()
        keep.level = "bad"
        logging.getLogger("app").addHandler(keep)
        try:
            log.info("call", n=1)
        finally:
            logging.getLogger("app").removeHandler(keep)
        log.info("next", n=1)
        records = out.records()
        assert [r["event"] for r in records if r["event"] != "logs_dropped"] == ["warm", "next"]
        assert [r["count"] for r in records if r["event"] == "logs_dropped"] == [1]


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

def names_value(value, message):
    """Whether ``message`` shows ``value`` (or, for a container, one of its items)."""
    if repr(value) in message or str(value) in message:
        return True
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return any(repr(item) in message or str(item) in message for item in items)


class TestConfiguration:
    BAD_OPTIONS = [
        ("level", "LOUD"), ("level", 2.5), ("format", "xml"), ("mode", "turbo"),
        ("overflow", "explode"), ("queue_size", 0), ("queue_size", -1), ("queue_size", "many"),
        ("queue_size", 10_000_001), ("batch_size", 0), ("flush_interval", -1), ("flush_interval", 0),
        ("emoji", "maybe"), ("colors", "sometimes"), ("module_levels", {"m": "LOUD"}),
        ("module_levels", "garbage"), ("module_levels", 42), ("stream", 42), ("file", 42),
        ("processors", [42]), ("processors", 42), ("redact", "password"), ("redact", [1]),
        ("max_value_length", 0), ("max_fields", 0), ("max_depth", 0), ("max_depth", "deep"),
    ]

    BAD_ENV = [
        ("FOUNDATION_LOG_LEVEL", "LOUD"), ("PROVIDE_LOG_LEVEL", "loud"),
        ("FOUNDATION_LOG_FORMAT", "xml"), ("PROVIDE_LOG_CONSOLE_FORMATTER", "xml"),
        ("FOUNDATION_LOG_MODULE_LEVELS", "nocolon"), ("FOUNDATION_LOG_MODULE_LEVELS", "m:LOUD"),
        ("PROVIDE_LOG_MODULE_LEVELS", "m:LOUD"), ("FOUNDATION_LOG_EMOJI", "maybe"),
        ("FOUNDATION_LOG_MODE", "turbo"), ("FOUNDATION_LOG_QUEUE_SIZE", "0"),
        ("FOUNDATION_LOG_QUEUE_SIZE", "10000001"), ("FOUNDATION_LOG_QUEUE_SIZE", "ten"),
        ("FOUNDATION_LOG_QUEUE_SIZE", "1.5"), ("FOUNDATION_LOG_QUEUE_SIZE", "-3"),
        ("FOUNDATION_LOG_QUEUE_SIZE", "1_000"),
        ("FOUNDATION_LOG_OVERFLOW", "explode"),
    ]

    # -- set-up and reconfiguration -------------------------------------------------
    @pytest.mark.parametrize("mode", MODES)
    def test_configure_writes_no_record(self, mode):
        """configure() itself writes no record, even when called again."""
        out = capture(mode=mode)
        foundation.configure(stream=out.stream, mode=mode)
        assert out.text() == ""
        assert foundation.stats()["emitted"] == 0

    def test_reconfigure_never_duplicates_handlers(self, log):
        """configure() again replaces its handler: one line per record, on the newest stream only."""
        handlers_before = len(logging.getLogger().handlers)
        first = capture(mode="queue")
        second = capture(mode="sync")
        third = capture(mode="queue", format="key_value")
        assert len(own_handlers()) == 1
        assert len(logging.getLogger().handlers) == handlers_before + 1
        log.info("once")
        assert len(third.lines()) == 1
        assert first.stream.getvalue() == second.stream.getvalue() == ""

    def test_reconfigure_writes_what_was_queued(self, log):
        """Records queued before configure() is called again are written to the old output."""
        first = capture()
        for i in range(500):
            log.info("event", seq=i)
        second = capture()
        assert [loads(line)["seq"] for line in first.stream.getvalue().splitlines()] == list(range(500))
        assert second.lines() == []

    def test_reconfigure_resets_stats(self, log):
        """configure() resets every counter of stats()."""
        capture()
        log.info("event")
        assert foundation.flush(WAIT) is True
        assert foundation.stats()["written"] == 1
        capture()
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"], stats["bytes_written"]) == (0, 0, 0, 0)

    def test_reconfigure_leaves_no_threads_behind(self, log):
        """Configuring five times leaves at most one writer thread."""
        before = set(threading.enumerate())
        for _ in range(5):
            capture(mode="queue")
            log.info("event")
        assert len(set(threading.enumerate()) - before) <= 1

    @pytest.mark.parametrize("mode", MODES)
    def test_reconfigure_while_another_thread_logs_loses_nothing(self, mode, monkeypatch, log):
        """configure() again while another thread logs: the record reaches our handler, never lastResort."""
        last_resort = []

        class LastResort(logging.Handler):
            def emit(self, record):
                last_resort.append(record.getMessage())

        monkeypatch.setattr(logging, "lastResort", LastResort(logging.WARNING))
        reconfiguring = threading.Event()
        seen = []  # our handlers on the root while the old output is drained

        class OldSink(io.StringIO):
            def _meanwhile(self):
                if reconfiguring.is_set() and not seen:
                    seen.append(own_handlers())
                    other = threading.Thread(target=log.warning, args=("during_configure",))
                    other.start()
                    other.join(WAIT)

            def write(self, text):
                self._meanwhile()  # queue mode: the old writer drains here
                return super().write(text)

            def flush(self):
                self._meanwhile()  # sync mode: the old output is flushed here
                super().flush()

        old = OldSink()
        foundation.configure(stream=old, format="json", mode=mode, flush_interval=60)  # "before" stays queued
        log.info("before")
        new = io.StringIO()
        reconfiguring.set()
        foundation.configure(stream=new, format="json", mode=mode)
        reconfiguring.clear()
        assert foundation.flush(WAIT) is True
        assert seen, "the old output was not drained during configure()"
        assert seen[0], "no handler of ours on the root logger during configure()"
        assert last_resort == []
        events = [loads(line)["event"] for line in split_lines(old.getvalue() + new.getvalue())]
        assert sorted(events) == ["before", "during_configure"]

    # -- levels per module ----------------------------------------------------------
    def test_module_levels_raise_and_lower(self):
        """module_levels raises a module's level and lowers another's below the default."""
        out = capture(level="INFO", module_levels={"noisy": "ERROR", "chatty": "debug"})
        logging.getLogger("noisy").warning("hidden")
        foundation.get_logger("noisy.sub").warning("hidden")
        logging.getLogger("noisy").error("shown_noisy")
        logging.getLogger("chatty").debug("shown_chatty")
        foundation.get_logger("chatty.sub").debug("shown_chatty_sub")
        foundation.get_logger("other").debug("hidden")
        assert [r["event"] for r in out.records()] == ["shown_noisy", "shown_chatty", "shown_chatty_sub"]

    def test_reconfigure_clears_old_module_levels(self):
        """Module levels from an earlier configure() do not outlive the next one."""
        capture(module_levels={"noisy": "ERROR"})
        out = capture()
        logging.getLogger("noisy").warning("shown")
        assert [r["event"] for r in out.records()] == ["shown"]

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_third_party_logging_comes_out_in_the_same_format(self, fmt):
        """logging.getLogger("urllib3").warning(...) is written like our records."""
        out = capture(format=fmt)
        logging.getLogger("urllib3").warning("Retrying (%s) after %d", "conn", 3)
        foundation.get_logger("urllib3").warning("ours", n=1)
        theirs, ours = out.lines()
        if fmt == "json":
            record = loads(theirs)
            assert list(record) == ["timestamp", "level", "logger", "event"]
            assert (record["level"], record["logger"], record["event"]) == (
                "warning", "urllib3", "Retrying (conn) after 3")
        elif fmt == "logfmt":
            assert re.fullmatch(r'timestamp=\S+ level=warning logger=urllib3 event="Retrying \(conn\) after 3"',
                                theirs), theirs
        else:
            assert re.match(KV_STAMP + r" \[warning \] Retrying \(conn\) after 3", theirs), theirs
        assert theirs.split("Retrying")[0].count(" ") == ours.split("ours")[0].count(" ")

    # -- options ----------------------------------------------------------------------
    @pytest.mark.parametrize("as_path", [False, True])
    def test_file_option_appends_utf8(self, as_path, tmp_path, log):
        """file= (str or PathLike) is opened for appending in UTF-8."""
        path = tmp_path / "app.log"
        path.write_text("existing line\n", encoding="utf-8")
        foundation.configure(file=path if as_path else str(path), format="json")
        log.info("event", text="é😀")
        assert foundation.flush(WAIT) is True
        lines = split_lines(path.read_bytes().decode("utf-8"))
        assert lines[0] == "existing line"
        assert loads(lines[1])["text"] == "é😀" and len(lines) == 2

    def test_format_option_names(self, log):
        """format= takes key_value, json and logfmt, any case."""
        out = capture(format=" JSON ")
        log.info("event")
        assert out.record()["event"] == "event"

    def test_processors_receive_a_flat_dict(self, log):
        """A processor gets timestamp, level, logger, event, then the fields, in order."""
        seen = []
        out = capture(processors=[lambda event_dict: seen.append(dict(event_dict)) or event_dict])
        foundation.bind_context(c=1)
        log.info("event", a=2, b=3)
        assert len(out.lines()) == 1
        (event_dict,) = seen
        assert list(event_dict) == ["timestamp", "level", "logger", "event", "c", "a", "b"]
        assert (event_dict["level"], event_dict["logger"], event_dict["event"]) == ("info", "app", "event")

    def test_processors_change_what_is_written(self, log):
        """What processors add, change or remove is what gets written; they run in order."""

        def first(event_dict):
            event_dict["added"] = 1
            event_dict["event"] = "renamed"
            del event_dict["gone"]
            return event_dict

        def second(event_dict):
            event_dict["saw_added"] = event_dict.get("added")
            return event_dict

        out = capture(processors=[first, second])
        log.info("event", gone=1, kept=2)
        record = out.record()
        assert record["event"] == "renamed"
        assert (record["kept"], record["added"], record["saw_added"]) == (2, 1, 1)
        assert "gone" not in record

    def test_processor_returning_none_drops_the_record(self, log):
        """A processor returning None drops the record; it is counted as sampled_out."""
        out = capture(processors=[lambda d: None if d.get("drop") else d])
        log.info("dropped", drop=True)
        log.info("kept")
        assert [r["event"] for r in out.records()] == ["kept"]
        stats = foundation.stats()
        assert stats["sampled_out"] == 1
        assert stats["written"] + stats["dropped"] == stats["emitted"]

    def test_processor_that_raises_is_skipped(self, log):
        """A processor that raises is skipped for that record; the record is written; errors counted."""

        def broken(event_dict):
            raise RuntimeError("processor bug")

        def tag(event_dict):
            event_dict["tagged"] = True
            return event_dict

        out = capture(processors=[broken, tag])
        log.info("event", n=1)
        record = out.record()
        assert (record["event"], record["n"], record["tagged"]) == ("event", 1, True)
        assert foundation.stats()["errors"] >= 1

    @pytest.mark.parametrize("fmt,colors,note", [
        ("json", None, "a\u2028b"),  # the batch check finds U+2028: the batch is rendered again
        ("key_value", True, "ok"),  # colored lines are rendered with every value checked
    ])
    def test_processors_run_once_per_record_in_a_batch_rendered_again(self, fmt, colors, note, gate, log):
        """Processors run exactly once per record, even when a batch is rendered twice; one drop counts one."""
        calls = []

        def count(event_dict):
            calls.append(event_dict["event"])
            return event_dict

        def drop_health(event_dict):
            return None if event_dict["event"] == "health" else event_dict

        foundation.configure(stream=gate, format=fmt, colors=colors, processors=[count, drop_health])
        wait_writer_held(gate)
        log.info("health")
        for i in range(9):  # with the health check, a batch of ten: rendered optimistically first
            log.info("hello", note=note if i == 0 else "ok")
        gate.gate.set()
        assert foundation.flush(WAIT) is True
        assert calls == ["gate", "health"] + ["hello"] * 9
        assert len(gate.lines()) == 10
        stats = foundation.stats()
        assert stats["sampled_out"] == 1
        assert stats["written"] == 10 and stats["written"] + stats["dropped"] == stats["emitted"]

    @pytest.mark.parametrize("fmt", FORMATS)
    @pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 10 ** 400],
                             ids=["nan", "inf", "-inf", "10**400"])
    def test_processor_timestamp_that_is_no_time_is_still_written(self, fmt, value, log):
        """A processor that sets "timestamp" to NaN, an infinity or a huge int: the record is still written."""

        def set_timestamp(event_dict):
            event_dict["timestamp"] = value
            return event_dict

        out = capture(format=fmt, processors=[set_timestamp], colors=False)
        log.info("event", a=1)
        (line,) = out.lines()
        assert field_of(fmt, line, "a") == "1"
        if fmt == "json":
            assert loads(line)["event"] == "event"
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"]) == (1, 1, 0)

    @pytest.mark.parametrize("option,value", BAD_OPTIONS, ids=lambda v: repr(v)[:30])
    def test_bad_option_raises_naming_option_and_value(self, option, value):
        """A bad option value raises ValueError/TypeError naming the option and the value."""
        with pytest.raises((ValueError, TypeError)) as info:
            foundation.configure(**{option: value})
        message = str(info.value)
        assert option in message, message
        assert names_value(value, message), message

    def test_unknown_option_raises(self):
        """An unknown option raises TypeError naming it."""
        with pytest.raises(TypeError) as info:
            foundation.configure(no_such_option=1)
        assert "no_such_option" in str(info.value)

    # -- environment ------------------------------------------------------------------
    @pytest.mark.parametrize("variable", ["FOUNDATION_LOG_LEVEL", "PROVIDE_LOG_LEVEL"])
    def test_env_level(self, variable, monkeypatch, log):
        """FOUNDATION_LOG_LEVEL (or PROVIDE_LOG_LEVEL) sets the level."""
        monkeypatch.setenv(variable, "debug")
        out = capture()
        log.debug("shown")
        log.trace("hidden")
        assert [r["event"] for r in out.records()] == ["shown"]

    @pytest.mark.parametrize("variable", ["FOUNDATION_LOG_FORMAT", "PROVIDE_LOG_CONSOLE_FORMATTER"])
    def test_env_format(self, variable, monkeypatch, log):
        """FOUNDATION_LOG_FORMAT (or PROVIDE_LOG_CONSOLE_FORMATTER) sets the format."""
        monkeypatch.setenv(variable, "json")
        stream = io.StringIO()
        foundation.configure(stream=stream)
        log.info("event")
        assert foundation.flush(WAIT) is True
        assert loads(stream.getvalue())["event"] == "event"

    @pytest.mark.parametrize("variable", ["FOUNDATION_LOG_FILE", "PROVIDE_LOG_FILE"])
    def test_env_file(self, variable, monkeypatch, tmp_path, log):
        """FOUNDATION_LOG_FILE (or PROVIDE_LOG_FILE) sends the output to that file."""
        path = tmp_path / "env.log"
        monkeypatch.setenv(variable, str(path))
        foundation.configure(format="json")
        log.info("event")
        assert foundation.flush(WAIT) is True
        assert [r["event"] for r in read_json_lines(path)] == ["event"]

    @pytest.mark.parametrize("variable", ["FOUNDATION_LOG_MODULE_LEVELS", "PROVIDE_LOG_MODULE_LEVELS"])
    def test_env_module_levels(self, variable, monkeypatch):
        """FOUNDATION_LOG_MODULE_LEVELS (or PROVIDE_...) takes mod:LEVEL,mod2:LEVEL."""
        monkeypatch.setenv(variable, "noisy:ERROR, chatty:debug")
        out = capture()
        logging.getLogger("noisy").warning("hidden")
        logging.getLogger("chatty").debug("shown")
        assert [r["event"] for r in out.records()] == ["shown"]

    @pytest.mark.parametrize("raw,expected", [
        ("1", True), ("true", True), ("TRUE", True), ("Yes", True), ("on", True), ("ON", True),
        ("0", False), ("false", False), ("No", False), ("off", False), ("OFF", False)])
    def test_env_emoji_booleans(self, raw, expected, monkeypatch, log):
        """FOUNDATION_LOG_EMOJI takes 1/0, true/false, yes/no, on/off in any case."""
        monkeypatch.setenv("FOUNDATION_LOG_EMOJI", raw)
        out = capture(format="key_value")
        log.info("event", domain="auth")
        assert ("[🔑]" in out.text()) is expected

    def test_env_mode_sync(self, monkeypatch, log):
        """FOUNDATION_LOG_MODE=sync writes before the call returns."""
        monkeypatch.setenv("FOUNDATION_LOG_MODE", "sync")
        stream = io.StringIO()
        foundation.configure(stream=stream, format="json")
        log.info("now")
        assert loads(stream.getvalue())["event"] == "now"

    def test_env_queue_size_and_overflow(self, monkeypatch, gate, log):
        """FOUNDATION_LOG_QUEUE_SIZE and FOUNDATION_LOG_OVERFLOW=drop bound the queue and drop."""
        monkeypatch.setenv("FOUNDATION_LOG_QUEUE_SIZE", "5")
        monkeypatch.setenv("FOUNDATION_LOG_OVERFLOW", "drop")
        foundation.configure(stream=gate, format="json")
        wait_writer_held(gate)
        for i in range(50):
            log.info("event", seq=i)
        stats = foundation.stats()
        assert stats["queue_depth"] <= 5 and stats["dropped"] >= 40
        gate.gate.set()

    @pytest.mark.parametrize("raw", ["1", "10000000"])
    def test_env_queue_size_bounds_are_accepted(self, raw, monkeypatch, capsys, log):
        """FOUNDATION_LOG_QUEUE_SIZE accepts 1 and 10,000,000."""
        monkeypatch.setenv("FOUNDATION_LOG_QUEUE_SIZE", raw)
        out = capture()
        log.info("event")
        assert len(out.lines()) == 1
        assert capsys.readouterr().err == ""

    @pytest.mark.parametrize("variable", ["FOUNDATION_LOG_LEVEL", "PROVIDE_LOG_LEVEL"])
    def test_env_level_as_a_number(self, variable, monkeypatch, capsys, log):
        """A level from the environment may be digits ("10"), module levels too; log("10") still raises."""
        monkeypatch.setenv(variable, " 10 ")
        monkeypatch.setenv("FOUNDATION_LOG_MODULE_LEVELS", "noisy:40")
        out = capture()
        assert logging.getLogger().level == logging.DEBUG
        assert logging.getLogger("noisy").level == logging.ERROR
        log.debug("shown")
        assert [r["event"] for r in out.records()] == ["shown"]
        assert capsys.readouterr().err == ""
        with pytest.raises(ValueError):  # in code, a level is an int or a name
            log.log("10", "event")

    def test_ours_win_over_provide(self, monkeypatch, log):
        """FOUNDATION_LOG_* wins over PROVIDE_LOG_* when both are set."""
        monkeypatch.setenv("FOUNDATION_LOG_LEVEL", "ERROR")
        monkeypatch.setenv("PROVIDE_LOG_LEVEL", "DEBUG")
        out = capture()
        log.warning("hidden")
        log.error("shown")
        assert [r["event"] for r in out.records()] == ["shown"]

    def test_option_wins_over_env(self, monkeypatch, capsys, log):
        """An option given to configure() wins; the variable is not even read."""
        monkeypatch.setenv("FOUNDATION_LOG_LEVEL", "LOUD")
        monkeypatch.setenv("FOUNDATION_LOG_FORMAT", "logfmt")
        out = capture(level="DEBUG", format="json")
        log.debug("shown")
        assert out.record()["event"] == "shown"
        assert capsys.readouterr().err == ""

    @pytest.mark.parametrize("variable,raw", BAD_ENV)
    def test_bad_env_gives_one_warning_and_the_default(self, variable, raw, monkeypatch, capsys, log):
        """A bad environment value gives one stderr line naming it, and the default is used."""
        monkeypatch.setenv(variable, raw)
        stream = io.StringIO()
        foundation.configure(stream=stream)
        log.info("event", domain="auth")
        log.debug("hidden")
        assert foundation.flush(WAIT) is True
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1, err
        assert variable in err and raw in err, err
        (line,) = split_lines(stream.getvalue())
        assert re.match(KV_STAMP + r" \[info    \] \[🔑\] event", line), line  # default format, emoji
        assert logging.getLogger().level == logging.INFO
        assert logging.getLogger("m").level == logging.NOTSET

    def test_bad_env_file_gives_one_warning_and_the_default(self, monkeypatch, tmp_path, capsys, log):
        """An unopenable FOUNDATION_LOG_FILE gives one stderr line naming it; output goes to stderr."""
        bad = str(tmp_path / "no-such-dir" / "app.log")
        monkeypatch.setenv("FOUNDATION_LOG_FILE", bad)
        foundation.configure(format="json")
        log.info("event")
        assert foundation.flush(WAIT) is True
        err = capsys.readouterr().err.splitlines()
        warnings = [line for line in err if "FOUNDATION_LOG_FILE" in line]
        assert len(warnings) == 1 and bad in warnings[0], err
        assert [loads(line)["event"] for line in err if line.startswith("{")] == ["event"]

    # -- auto-configuration ------------------------------------------------------------
    def test_import_has_no_side_effects(self):
        """Importing adds no handler, starts no thread and leaves the root level alone."""
        result = run_python("""
            import logging, threading
            import foundation
            print(len(logging.getLogger().handlers), threading.active_count(), logging.getLogger().level)
        """)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["0", "1", str(logging.WARNING)]

    def test_first_log_call_configures_from_defaults(self):
        """Without configure(), the first log call sets up key_value output on stderr at INFO."""
        result = run_python("""
            import foundation
            foundation.get_logger("app").debug("hidden")
            foundation.get_logger("app").info("hello", n=1)
            foundation.logger.warning("root_event")
        """)
        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 2, lines
        assert re.match(KV_STAMP + r" \[info    \] hello", lines[0]) and "n=1" in lines[0]
        assert re.match(KV_STAMP + r" \[warning \] root_event", lines[1])
        assert result.stdout == ""

    def test_first_log_call_configures_from_the_environment(self):
        """Without configure(), the first log call reads the FOUNDATION_LOG_* variables."""
        result = run_python("""
            import foundation
            foundation.get_logger("app").debug("shown", n=1)
        """, env={"FOUNDATION_LOG_FORMAT": "json", "FOUNDATION_LOG_LEVEL": "DEBUG"})
        assert result.returncode == 0, result.stderr
        (record,) = [loads(line) for line in result.stderr.splitlines()]
        assert (record["event"], record["level"], record["n"]) == ("shown", "debug", 1)

    def test_bad_env_never_breaks_import_or_the_first_call(self):
        """A bad variable: import works, one warning line, then records at the default level."""
        result = run_python("""
            import foundation
            foundation.get_logger("app").debug("hidden")
            foundation.get_logger("app").info("shown")
        """, env={"FOUNDATION_LOG_LEVEL": "LOUD"})
        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 2, lines
        assert "FOUNDATION_LOG_LEVEL" in lines[0] and "LOUD" in lines[0]
        assert re.match(KV_STAMP + r" \[info    \] shown", lines[1])

    def test_bad_env_file_never_breaks_the_first_call(self, tmp_path):
        """An unopenable FOUNDATION_LOG_FILE: one warning line naming it, then records on stderr."""
        bad = str(tmp_path / "no-such-dir" / "app.log")
        result = run_python("""
            import foundation
            foundation.get_logger("app").info("shown")
        """, env={"FOUNDATION_LOG_FILE": bad})
        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 2, lines
        assert "FOUNDATION_LOG_FILE" in lines[0] and bad in lines[0], lines[0]
        assert re.match(KV_STAMP + r" \[info    \] shown", lines[1])


class TestConfigurationEdges:
    @pytest.mark.parametrize("value,error", [
        ("SIGKILL", ValueError), (9, ValueError), ("nope", ValueError), (3.5, TypeError),
        ([signal.SIGTERM, "SIGSTOP"], ValueError), (object(), TypeError),
    ])
    def test_flush_on_signals_bad_value_is_a_clear_error(self, value, error):
        """A signal that cannot be caught, or not a signal: an error naming the option, nothing installed."""
        with pytest.raises(error, match="flush_on_signals"):
            foundation.configure(flush_on_signals=value)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def test_configure_from_a_thread_after_flush_on_signals_does_not_raise(self):
        """Signals can be given back only from the main thread: configure() elsewhere keeps them, raises nothing."""
        result = run_python("""
            import signal, threading, foundation
            foundation.configure(flush_on_signals=True)
            errors = []

            def configure():
                try:
                    foundation.configure(level="DEBUG")
                except Exception as exc:
                    errors.append(exc)

            thread = threading.Thread(target=configure)
            thread.start()
            thread.join(10)
            assert errors == [], errors
            assert signal.getsignal(signal.SIGTERM) is foundation._on_signal
            foundation.configure()
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        """)
        assert (result.returncode, result.stderr) == (0, "")

    def test_flush_on_signals_from_a_thread_is_a_clear_error(self):
        """Signal handlers can only be installed from the main thread: configure() says so."""
        errors = []

        def configure():
            try:
                foundation.configure(flush_on_signals=True)
            except ValueError as exc:
                errors.append(str(exc))

        thread = threading.Thread(target=configure)
        thread.start()
        thread.join(WAIT)
        assert not thread.is_alive()
        assert len(errors) == 1 and "main thread" in errors[0]

    @pytest.mark.parametrize("batch", [False, True])
    def test_record_put_while_configure_drains_is_written(self, batch, tmp_path, log):
        """A thread that chose the old handler puts its record after configure() drained it: written."""
        path = tmp_path / "app.log"
        foundation.configure(file=path, format="json")
        old = own_handlers()[0]
        queue = old.queue

        def late_put(*entries):
            # As if this thread were preempted between choosing the route and the put:
            # another thread reconfigures, which drains and closes the old handler.
            del queue.put, queue.put_many
            other = threading.Thread(target=foundation.configure, kwargs={"file": path, "format": "json"})
            other.start()
            other.join(WAIT)
            assert not other.is_alive()
            getattr(queue, "put_many" if batch else "put")(*entries)

        queue.put = queue.put_many = late_put
        if batch:
            with log.batch() as b:
                b.info("late", n=1)
        else:
            log.info("late", n=1)
        assert foundation.flush(WAIT)
        assert [r["event"] for r in read_json_lines(path)] == ["late"]

    def test_records_the_new_handler_writes_while_the_old_one_drains_are_counted(self, gate, log):
        """configure() while the old handler's writer is held: what the new handler writes meanwhile
        counts in stats(); what the old one drains does not."""
        foundation.configure(stream=gate, format="json")
        old = foundation._state.handler
        wait_writer_held(gate)
        log.info("old_queued")
        new = io.StringIO()
        other = threading.Thread(target=foundation.configure, kwargs={"stream": new, "format": "json",
                                                                        "mode": "sync"})
        other.start()
        wait_until(lambda: foundation._state.handler is not old, "configure() installed the new handler")
        for _ in range(5):
            log.info("during_configure")
        gate.gate.set()  # the old handler's drain ends
        other.join(WAIT)
        assert not other.is_alive()
        assert foundation.flush(WAIT)
        assert [r["event"] for r in gate.records()] == ["gate", "old_queued"]
        assert [r["event"] for r in read_lines_of(new)] == ["during_configure"] * 5
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["dropped"]) == (5, 5, 0)
        assert stats["bytes_written"] == len(new.getvalue().encode())

    def test_a_handler_closed_by_logging_shutdown_and_then_replaced_reports_nothing(self):
        """logging.shutdown() closes the handler, configure() then replaces it: a record that still
        reaches the old one is written there, and a drop is reported by the new one."""
        first, second = io.StringIO(), io.StringIO()
        foundation.configure(stream=first, format="json", mode="sync")
        old = foundation._state.handler
        logging.shutdown()
        foundation.configure(stream=second, format="json", mode="sync")
        foundation._LEDGER.dropped(3)  # a drop anywhere: a full queue, a failed hand-off
        old.handle(logging.LogRecord("app", logging.INFO, __file__, 1, "late", None, None))
        foundation.get_logger("app").info("next")
        assert [r["event"] for r in read_lines_of(first)] == ["late"]
        assert [(r["event"], r.get("count")) for r in read_lines_of(second)] == [
            ("logs_dropped", 3), ("next", None)]

    def test_drop_after_configure_replaced_the_handler_is_reported(self, log):
        """A record that reaches the replaced handler after its drain and fails to write: reported by the new one."""

        class Picky(io.StringIO):
            def write(self, text):
                if '"event":"late"' in text:
                    raise OSError(errno.EIO, "I/O error")
                return super().write(text)

        sink = Picky()
        foundation.configure(stream=sink, format="json")
        queue = own_handlers()[0].queue

        def late_put(entry):
            del queue.put
            other = threading.Thread(target=foundation.configure, kwargs={"stream": sink, "format": "json"})
            other.start()
            other.join(WAIT)
            assert not other.is_alive()
            queue.put(entry)

        queue.put = late_put
        log.info("late")
        log.info("after")
        assert foundation.flush(WAIT)
        records = [loads(line) for line in sink.getvalue().splitlines()]
        assert [(r["event"], r.get("count")) for r in records] == [("logs_dropped", 1), ("after", None)]

    @pytest.mark.parametrize("variable,raw,says", [
        ("FOUNDATION_LOG_LEVEL", "loud", r"using the default INFO\b"),
        ("FOUNDATION_LOG_FORMAT", "xml", r"using the default key_value\b"),
        ("FOUNDATION_LOG_FILE", None, r"writing to stderr"),
        ("FOUNDATION_LOG_QUEUE_SIZE", "0", r"using the default 10,?000\b"),
        ("FOUNDATION_LOG_EMOJI", "maybe", None),
    ])
    def test_env_warning_names_the_default_as_a_user_writes_it(self, variable, raw, says, tmp_path):
        """A bad variable: one stderr line naming it and its value, and the default as a user writes it."""
        raw = raw or str(tmp_path / "no-such-dir" / "x.log")
        result = run_python(LOG_ONCE, env={variable: raw})
        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        warnings = [line for line in lines if variable in line]
        assert len(warnings) == 1 and len(lines) == 2, lines
        (warning,) = warnings
        assert raw in warning, warning
        if says is not None:
            assert re.search(says, warning), warning
        assert "default 20" not in warning, warning
        (record,) = [line for line in lines if line != warning]
        assert re.match(KV_STAMP + r" \[info    \] shown\b", record), record

    def test_bad_env_values_give_one_warning_each(self, tmp_path):
        """Five bad variables at once: exactly one warning line for each, then the record."""
        env = {"FOUNDATION_LOG_LEVEL": "loud", "FOUNDATION_LOG_FORMAT": "xml",
               "FOUNDATION_LOG_FILE": str(tmp_path / "no-such-dir" / "x.log"),
               "FOUNDATION_LOG_QUEUE_SIZE": "0", "FOUNDATION_LOG_EMOJI": "maybe"}
        result = run_python(LOG_ONCE, env=env)
        assert result.returncode == 0, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 6, lines
        for variable in env:
            assert len([line for line in lines if variable in line]) == 1, (variable, lines)
        assert [line for line in lines if re.match(KV_STAMP + r" \[info    \] shown\b", line)], lines

    def test_import_leaves_heavy_modules_unimported(self):
        """import foundation imports none of asyncio, uuid, decimal, pathlib beyond logging.handlers+json."""
        baseline = baseline_modules()
        result = run_python("import foundation\n" + _PRINT_LOADED)
        assert result.returncode == 0, result.stderr
        assert set(result.stdout.split()) - baseline == set()

    def test_asyncio_is_imported_only_by_the_first_async_call(self):
        """A sync log call imports no asyncio; ainfo() works when the user imports it after foundation."""
        baseline = baseline_modules()
        result = run_python("""
            import sys
            import foundation
            foundation.configure(format="json")
            log = foundation.get_logger("a")
            log.info("sync")
            assert foundation.flush(10)
            print("asyncio" in sys.modules)
            import asyncio
            asyncio.run(log.ainfo("x"))
            assert foundation.flush(10)
        """)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [str("asyncio" in baseline)]
        records = [loads(line) for line in split_lines(result.stderr)]
        assert [(r["logger"], r["event"]) for r in records] == [("a", "sync"), ("a", "x")]

    def test_values_render_when_their_modules_are_imported_after_foundation(self):
        """Decimal, UUID and PurePosixPath render by str() in JSON when imported after foundation."""
        result = run_python("""
            import sys
            import foundation
            foundation.configure(format="json", stream=sys.stdout)
            import decimal, pathlib, uuid
            foundation.get_logger("a").info("v", d=decimal.Decimal("1.5"), u=uuid.UUID(int=1),
                                            p=pathlib.PurePosixPath("/a/b"))
            assert foundation.flush(10)
        """)
        assert result.returncode == 0, result.stderr
        (record,) = [loads(line) for line in split_lines(result.stdout)]
        assert (record["d"], record["u"], record["p"]) == (
            "1.5", "00000000-0000-0000-0000-000000000001", "/a/b")


# ---------------------------------------------------------------------------
# Process-level promises (each in a fresh interpreter)
# ---------------------------------------------------------------------------

class TestProcess:
    @pytest.mark.parametrize("ending,code", [
        ("pass", 0),
        ("raise RuntimeError('unhandled boom')", 1),
        ("sys.exit(3)", 3),
    ])
    def test_records_queued_at_exit_are_written(self, ending, code, tmp_path):
        """Records still queued at normal exit, an unhandled exception or sys.exit() are written."""
        path = tmp_path / "exit.log"
        result = run_python(f"""
            import sys, foundation
            # A long interval and huge batches: the writer is asleep when the program ends.
            foundation.configure(file=sys.argv[1], format="json", flush_interval=60, batch_size=100000)
            log = foundation.get_logger("app")
            for i in range(2000):
                log.info("queued", seq=i)
            {ending}
        """, path)
        assert result.returncode == code, result.stderr
        assert [r["seq"] for r in read_json_lines(path)] == list(range(2000))
        if code == 1:
            assert "RuntimeError: unhandled boom" in result.stderr

    #: What exit says about records a slow or stuck sink kept from being written.
    UNWRITTEN = re.compile(r"foundation: at exit, (?:(\d+) records? (?:was|were) not written)?(?: and )?"
                           r"(?:(\d+) (?:more )?records? (?:was|were) still being written)?: the sink did "
                           r"not finish within shutdown_timeout \(1 s\)\n")

    @pytest.mark.parametrize("ending,code,sink", [
        ("pass", 0, "slow"),
        ("raise RuntimeError('unhandled boom')", 1, "stuck"),
        ("sys.exit(3)", 3, "stuck"),
    ])
    def test_exit_with_slow_or_stuck_sink_reports_what_was_not_written(self, ending, code, sink,
                                                                       tmp_path):
        """Exit waits at most shutdown_timeout; one stderr line counts what was not written."""
        path = tmp_path / "out.log"
        started = time.monotonic()
        result = run_python(f"""
            import sys, threading, time, foundation
            out = open(sys.argv[1], "a")
            stuck = sys.argv[2] == "stuck"

            class Sink:  # 0.2 ms a record; the stuck one never returns from its second write
                def write(self, text):
                    if stuck and out.tell():
                        threading.Event().wait()
                    time.sleep(0.0002 * text.count("\\n"))
                    out.write(text)
                    out.flush()

            foundation.configure(stream=Sink(), format="json", shutdown_timeout=1)
            log = foundation.get_logger("app")
            for i in range(10000):
                log.info("r", i=i)
            {ending}
        """, path, sink)
        elapsed = time.monotonic() - started
        assert result.returncode == code, result.stderr
        assert elapsed < WAIT
        written = len(read_json_lines(path))
        (match,) = list(self.UNWRITTEN.finditer(result.stderr)) or [None]
        assert match, result.stderr
        lost, in_sink = (int(n or 0) for n in match.groups())
        if sink == "stuck":
            assert written + lost + in_sink == 10000, (written, lost, in_sink)
            assert lost > 0
        else:
            assert written + lost <= 10000 <= written + lost + in_sink, (written, lost, in_sink)

    def test_exit_with_a_pipe_nobody_reads_reports_what_was_not_written(self):
        """stdout a pipe that is never read: exit within shutdown_timeout, the loss on stderr."""
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent("""
                import sys, foundation
                foundation.configure(stream=sys.stdout, format="json", shutdown_timeout=1)
                log = foundation.get_logger("app")
                for i in range(10000):
                    log.info("r", i=i, pad="x" * 100)
            """)], cwd=str(HERE), env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            code = child.wait(WAIT)  # stdout is not read until the child has ended
        finally:
            child.kill()
            stdout, stderr = child.communicate()
        assert code == 0, stderr
        match = self.UNWRITTEN.search(stderr.decode())
        assert match, stderr
        lost, in_sink = (int(n or 0) for n in match.groups())
        assert lost > 0
        assert stdout.count(b"\n") + lost <= 10000 <= stdout.count(b"\n") + lost + in_sink

    @pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer()")
    def test_drop_count_exact_with_a_signal_handler_that_logs(self):
        """Drop mode, a full queue, and a signal handler that logs every 0.3 ms: every record is counted."""
        result = run_python("""
            import collections, io, json, signal, sys, threading, time, foundation

            class Slow(io.StringIO):  # fills the queue, so that most records are dropped
                def write(self, text):
                    time.sleep(0.001)
                    return super().write(text)

            sink = Slow()
            foundation.configure(stream=sink, format="json", overflow="drop", queue_size=20,
                                 batch_size=5)
            log = foundation.get_logger("app")
            from_signal = []

            def on_alarm(signum, frame):
                log.info("from_signal")
                from_signal.append(1)  # atomic, unlike += (handlers may nest)

            signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, 0.0003, 0.0003)
            from_main = 0
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                log.info("from_main")
                from_main += 1
            signal.setitimer(signal.ITIMER_REAL, 0)
            assert foundation.flush(10)
            stats = foundation.stats()
            records = [json.loads(line) for line in sink.getvalue().splitlines()]
            counts = collections.Counter(r["event"] for r in records)
            reported = sum(r["count"] for r in records if r["event"] == "logs_dropped")
            logged = from_main + len(from_signal)
            print(json.dumps([logged, counts["from_main"] + counts["from_signal"], stats["dropped"],
                              reported, stats["emitted"], stats["written"], len(from_signal)]))
        """)
        assert result.returncode == 0, result.stderr
        logged, written, dropped, reported, emitted, written_all, signals = json.loads(result.stdout)
        assert signals > 100 and dropped > 0
        assert written + dropped == logged
        assert reported == dropped
        assert written_all + dropped == emitted

    @pytest.mark.parametrize("previous,code", [("default", -signal.SIGTERM), ("handler", 7)])
    def test_flush_on_signals_writes_what_is_queued_then_lets_the_signal_act(self, previous, code, tmp_path):
        """SIGTERM with flush_on_signals: the queued records are written; the exit status is unchanged."""
        path = tmp_path / "sig.log"
        result = run_python("""
            import os, signal, sys, foundation
            if sys.argv[2] == "handler":
                signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(7))
            # A long interval and huge batches: the records are queued when the signal arrives.
            foundation.configure(file=sys.argv[1], format="json", flush_on_signals=True,
                                 flush_interval=60, batch_size=100000)
            log = foundation.get_logger("app")
            for i in range(10000):
                log.info("r", i=i)
            os.kill(os.getpid(), signal.SIGTERM)
            log.info("not_reached")
        """, path, previous)
        assert result.returncode == code, result.stderr
        assert [r["i"] for r in read_json_lines(path)] == list(range(10000))

    def test_sigterm_inside_a_flush_still_writes_everything(self, tmp_path):
        """SIGTERM arrives while the main thread is inside flush(), holding the queue's lock:
        the records are still written within shutdown_timeout, and the signal still kills."""
        path = tmp_path / "sig.log"
        result = run_python("""
            import os, signal, sys, foundation
            foundation.configure(file=sys.argv[1], format="json", flush_on_signals=True,
                                 flush_interval=60, batch_size=100000)
            log = foundation.get_logger("app")
            for i in range(10000):
                log.info("r", i=i)
            # White-box on purpose: the lock put_control() holds is where the handler used to wait
            # for a writer that waited for it; the real SIGTERM runs the handler right there.
            with foundation._state.handler.queue._room:
                os.kill(os.getpid(), signal.SIGTERM)
            log.info("not_reached")
        """, path)
        assert result.returncode == -signal.SIGTERM, result.stderr
        assert result.stderr == ""
        assert [r["i"] for r in read_json_lines(path)] == list(range(10000))

    def test_flush_on_signals_is_off_by_default_and_given_back(self):
        """No handler is installed unless asked; configure() without it gives the signal back."""
        result = run_python("""
            import signal, foundation
            foundation.configure()
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
            foundation.configure(flush_on_signals=["SIGTERM", "usr1"])
            assert signal.getsignal(signal.SIGTERM) is foundation._on_signal
            assert signal.getsignal(signal.SIGUSR1) is foundation._on_signal
            foundation.configure(flush_on_signals=[signal.SIGUSR1])
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
            foundation.configure()
            assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL
        """)
        assert (result.returncode, result.stderr) == (0, "")

    @pytest.mark.parametrize("join,written", [(False, 0), (True, 8000)])
    def test_pool_workers_records_survive_pool_exit_with_close_and_join(self, join, written, tmp_path):
        """Pool.__exit__ terminates its workers (SIGTERM): what they queued is lost, unless the
        block ends with close() and join(), as README says."""
        path = tmp_path / "pool.log"
        result = run_python("""
            import faulthandler, multiprocessing, sys, warnings
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads
            faulthandler.dump_traceback_later(50, exit=True)  # a hang fails loudly, with the stacks
            import foundation

            def work(i):
                foundation.get_logger("worker").info("work", i=i)
                return i

            foundation.configure(file=sys.argv[1], format="json", flush_interval=60, batch_size=100000)
            with multiprocessing.get_context("fork").Pool(2) as pool:
                pool.map(work, range(8000))
                if sys.argv[2] == "True":
                    pool.close()
                    pool.join()
        """, path, join)
        assert result.returncode == 0, result.stderr
        records = read_json_lines(path) if path.exists() else []
        assert sorted(r["i"] for r in records) == list(range(written))

    def test_pool_workers_records_survive_pool_exit_with_flush_on_signals(self, tmp_path):
        """With flush_on_signals, the SIGTERM of Pool.__exit__ writes what each busy worker queued.

        Busy: each worker runs Python code when the signal comes. One idle in a
        wait for its next task may run the handler only when the wait ends
        (README: a limit of Python's signal handlers), so both are kept busy.
        """
        path = tmp_path / "pool.log"
        result = run_python("""
            import faulthandler, multiprocessing, sys, warnings
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads
            faulthandler.dump_traceback_later(50, exit=True)  # a hang fails loudly, with the stacks
            import foundation

            context = multiprocessing.get_context("fork")
            busy = context.Barrier(3)  # both workers and this process; inherited by the workers

            def work(i):
                foundation.get_logger("worker").info("work", i=i)
                return i

            def keep_busy():
                busy.wait()
                while True:  # Python code: the signal handler runs between two bytecodes
                    pass

            foundation.configure(file=sys.argv[1], format="json", flush_on_signals=True,
                                 flush_interval=60, batch_size=100000)
            with context.Pool(2) as pool:
                pool.map(work, range(8000))
                for _ in range(2):  # one each: a worker spinning takes no other task
                    pool.apply_async(keep_busy)
                busy.wait(40)
        """, path)
        assert result.returncode == 0, result.stderr
        assert sorted(r["i"] for r in read_json_lines(path)) == list(range(8000))

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")
    def test_fork_child_logs_and_its_records_are_written(self, tmp_path):
        """A forked child logs at once; its records are written, the parent's are not duplicated."""
        path = tmp_path / "fork.log"
        result = run_python("""
            import os, sys, warnings
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads
            import foundation
            foundation.configure(file=sys.argv[1], format="json")
            log = foundation.get_logger("app")
            for i in range(100):
                log.info("parent_before", seq=i)
            pid = os.fork()
            if pid == 0:
                for i in range(100):
                    log.info("child", seq=i, pid=os.getpid())
                sys.exit(0)
            _, status = os.waitpid(pid, 0)
            log.info("parent_after", child_exit=os.waitstatus_to_exitcode(status), child=pid)
        """, path)
        assert result.returncode == 0, result.stderr
        records = read_json_lines(path)
        before = [r["seq"] for r in records if r["event"] == "parent_before"]
        child = [r for r in records if r["event"] == "child"]
        (after,) = [r for r in records if r["event"] == "parent_after"]
        assert before == list(range(100))
        assert [r["seq"] for r in child] == list(range(100))
        assert all(r["pid"] == after["child"] for r in child)
        assert after["child_exit"] == 0

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")
    def test_fork_child_starts_with_its_own_counts_and_reports(self):
        """A drop not reported yet at fork() is reported once, by the parent; the child's stats() start at 0."""
        result = run_python("""
            import json, os, sys, warnings
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads
            import foundation

            class FailFirst:  # the first write fails; the others go to a pipe both processes share
                calls = 0

                def write(self, text):
                    FailFirst.calls += 1
                    if FailFirst.calls == 1:
                        raise OSError("disk full")
                    os.write(w, text.encode())

            r, w = os.pipe()
            foundation.configure(stream=FailFirst(), format="json", mode="sync")
            log = foundation.get_logger("app")
            log.info("lost")  # dropped; reported with the next write
            pid = os.fork()
            if pid == 0:
                stats = foundation.stats()
                log.info("child")
                os.write(w, (json.dumps({"child_stats": stats}) + "\\n").encode())
                os._exit(0)
            os.waitpid(pid, 0)
            log.info("parent")
            os.close(w)
            out = b""
            while True:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                out += chunk
            sys.stdout.write(out.decode())
        """)
        assert result.returncode == 0, result.stderr
        records = [loads(line) for line in result.stdout.splitlines()]
        assert sum(r.get("count", 0) for r in records if r.get("event") == "logs_dropped") == 1
        (child_stats,) = [r["child_stats"] for r in records if "child_stats" in r]
        assert (child_stats["emitted"], child_stats["dropped"], child_stats["errors"]) == (0, 0, 0)

    @pytest.mark.skipif(sys.platform == "win32" or not hasattr(os, "fork"), reason="needs fork")
    def test_multiprocessing_fork_worker_records_are_written(self, tmp_path):
        """A multiprocessing worker started by fork logs, and its records are written."""
        path = tmp_path / "mp.log"
        result = run_python("""
            import multiprocessing, sys, warnings
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads
            import foundation

            def work(n):
                log = foundation.get_logger("worker")
                for i in range(n):
                    log.info("work", seq=i)

            foundation.configure(file=sys.argv[1], format="json")
            foundation.get_logger("main").info("start")
            process = multiprocessing.get_context("fork").Process(target=work, args=(50,))
            process.start()
            process.join()
            print(process.exitcode)
        """, path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == ["0"]
        records = read_json_lines(path)
        assert [r["seq"] for r in records if r["event"] == "work"] == list(range(50))

    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("code", [0, 3])
    def test_broken_pipe_keeps_exit_code_and_says_it_once(self, mode, code):
        """`app | head -1`: the app keeps its exit code; stderr gets at most one line."""
        script = textwrap.dedent(f"""
            import sys, foundation
            foundation.configure(stream=sys.stdout, format="json", mode="{mode}")
            log = foundation.get_logger("app")
            for i in range(20000):
                log.info("line", seq=i, pad="x" * 40)
                if i % 1000 == 999:
                    foundation.flush()
            sys.exit({code})
        """)
        process = subprocess.Popen([sys.executable, "-c", script], cwd=str(HERE), env=clean_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            first = process.stdout.readline()  # what `head -1` reads, then it goes away
            process.stdout.close()
            err = process.stderr.read().decode("utf-8", "backslashreplace")
            returncode = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stderr.close()
        assert loads(first.decode("utf-8"))["seq"] == 0
        assert returncode == code, err
        assert len(err.splitlines()) <= 1, err

    def test_stuck_sink_does_not_hold_exit_beyond_the_shutdown_timeout(self):
        """A sink that never returns delays exit by at most the shutdown timeout (2 s by default)."""
        start = time.monotonic()
        result = run_python("""
            import threading, foundation

            class Stuck:
                def write(self, text):
                    threading.Event().wait()

            foundation.configure(stream=Stuck(), format="json")
            log = foundation.get_logger("app")
            for i in range(10):
                log.error("stuck", seq=i)
        """, timeout=60)
        elapsed = time.monotonic() - start
        assert result.returncode == 0, result.stderr
        assert elapsed < 2.0 + 1.5, f"exit took {elapsed:.1f} s"

    STUCK_AT_EXIT = {
        # Sync mode: another thread is stuck in the sink's write() when the program ends.
        "sync": """
            import faulthandler, threading, foundation
            entered = threading.Event()

            class Stuck:
                def write(self, text):
                    entered.set()
                    threading.Event().wait()  # never returns: a pipe nobody reads, a lost NFS mount

            foundation.configure(stream=Stuck(), format="json", mode="sync", shutdown_timeout=1.0)
            threading.Thread(target=foundation.get_logger("bg").info, args=("stuck",), daemon=True).start()
            assert entered.wait(10)
            faulthandler.dump_traceback_later(10, exit=True)  # a hang at exit ends the run, loudly
        """,
        # Queue mode: after shutdown, a record is written synchronously and the sink hangs.
        "queue_after_shutdown": """
            import atexit, faulthandler, threading, foundation
            go, entered = threading.Event(), threading.Event()

            class Sink:
                def write(self, text):
                    if "stuck" in text:
                        entered.set()
                        threading.Event().wait()  # this write never returns

            foundation.configure(stream=Sink(), format="json", shutdown_timeout=1.0)
            log = foundation.get_logger("app")
            log.info("bye")

            def late():  # started now: 3.12+ starts no thread at exit
                go.wait()
                log.info("stuck")

            threading.Thread(target=late, daemon=True).start()

            def other_exit_work():  # registered last, so it runs before foundation's own hook
                foundation.shutdown(1.0)
                go.set()
                assert entered.wait(10)
                faulthandler.dump_traceback_later(10, exit=True)  # a hang at exit ends the run, loudly

            atexit.register(other_exit_work)
        """,
    }

    @pytest.mark.parametrize("case", list(STUCK_AT_EXIT))
    def test_stuck_sink_does_not_hold_exit_in_sync_mode_or_after_shutdown(self, case):
        """Exit waits at most about shutdown_timeout for a stuck sink: in sync mode, and after shutdown()."""
        start = time.monotonic()
        result = run_python(self.STUCK_AT_EXIT[case], timeout=60)
        elapsed = time.monotonic() - start
        assert result.returncode == 0, result.stderr
        assert elapsed < 1.0 + 3.0, f"exit took {elapsed:.1f} s"
        assert result.stderr == ("foundation: at exit, 1 record was still being written: the sink did "
                                 "not finish within shutdown_timeout (1 s)\n")

    def test_first_log_call_inside_an_atexit_hook_works(self):
        """A first log call made in an atexit hook is written and never raises (3.12 starts no thread there)."""
        result = run_python("""
            import atexit, foundation

            def goodbye():
                foundation.get_logger("app").warning("goodbye_from_atexit")

            atexit.register(goodbye)
        """, env={"FOUNDATION_LOG_FORMAT": "json"})
        assert result.returncode == 0, result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr  # the record, and no traceback
        (record,) = [loads(line) for line in result.stderr.splitlines()]
        assert (record["event"], record["level"], record["logger"]) == ("goodbye_from_atexit", "warning", "app")


# ---------------------------------------------------------------------------
# Public surface
# ---------------------------------------------------------------------------

class TestPublicSurface:
    #: The names DESIGN.md fixes for the features this library has today.
    DESIGN_NAMES = {
        "TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL",
        "logger", "get_logger", "Logger",
        "bind_context", "unbind_context", "clear_context", "get_context", "context",
        "lazy", "LazyField", "register_emoji_set",
        "configure", "flush", "shutdown", "stats",
    }

    @staticmethod
    def defined_public_names():
        """The public (no leading underscore) names the module defines at top level."""
        tree = ast.parse(pathlib.Path(foundation.__file__).read_text(encoding="utf-8"))
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            names.add(name.id)
        return {n for n in names if not n.startswith("_")}

    def test_all_is_exactly_the_public_names(self):
        """__all__ lists exactly the names defined without a leading underscore."""
        assert len(foundation.__all__) == len(set(foundation.__all__)), "duplicates in __all__"
        assert set(foundation.__all__) == self.defined_public_names()

    def test_all_names_exist_and_cover_the_design(self):
        """Every name in __all__ exists, and the DESIGN.md names are all there."""
        for name in foundation.__all__:
            assert hasattr(foundation, name), name
        assert self.DESIGN_NAMES <= set(foundation.__all__)

    def test_star_import_gives_the_public_names(self):
        """from foundation import * gives exactly __all__."""
        namespace = {}
        exec("from foundation import *", namespace)
        namespace.pop("__builtins__")
        assert set(namespace) == set(foundation.__all__)

    def test_standard_library_only(self):
        """foundation.py imports only the standard library; psutil only inside try/except ImportError."""
        import importlib.util
        import sysconfig

        stdlib_dir = pathlib.Path(sysconfig.get_paths()["stdlib"]).resolve()

        def in_stdlib(name):
            if name in getattr(sys, "stdlib_module_names", ()) or name in sys.builtin_module_names:
                return True
            spec = importlib.util.find_spec(name)  # 3.9: where does it come from?
            origin = spec and spec.origin
            if origin in ("built-in", "frozen"):
                return True
            return bool(origin) and stdlib_dir in pathlib.Path(origin).resolve().parents \
                and "site-packages" not in origin

        tree = ast.parse(pathlib.Path(foundation.__file__).read_text(encoding="utf-8"))
        guarded = set()  # imports inside a try whose handler catches ImportError
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(
                    isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError")
                    for h in node.handlers):
                guarded.update(id(n) for child in node.body for n in ast.walk(child))
        offending = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, "a relative import cannot be vendored"
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "__future__" or in_stdlib(top):
                    continue
                if top == "psutil" and id(node) in guarded:
                    continue
                offending.append(f"line {node.lineno}: {name}")
        assert offending == []
        checker = HERE.parent / "shared" / "tools" / "check_stdlib_only.py"
        if checker.exists() and sys.version_info >= (3, 10):  # its 3.9 fallback list is incomplete
            result = subprocess.run([sys.executable, str(checker), "foundation.py"], cwd=str(HERE),
                                    capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stdout + result.stderr

    def test_works_when_vendored_under_another_name(self, tmp_path):
        """A copy vendored as myapp._vendor.foundation works: nothing hard-codes the module name."""
        package = tmp_path / "myapp" / "_vendor"
        package.mkdir(parents=True)
        (tmp_path / "myapp" / "__init__.py").write_text("")
        (package / "__init__.py").write_text("")
        (package / "foundation.py").write_bytes(pathlib.Path(foundation.__file__).read_bytes())
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent("""
                import sys
                from myapp._vendor import foundation as f
                assert "foundation" not in sys.modules
                f.configure(stream=sys.stdout, format="json")
                f.get_logger("app").info("vendored", n=1)
                f.flush()
            """)],
            cwd=str(tmp_path), env=clean_env(PYTHONPATH=str(tmp_path)), capture_output=True,
            text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        (record,) = [loads(line) for line in result.stdout.splitlines()]
        assert (record["event"], record["n"]) == ("vendored", 1)


class TestReadme:
    """README.md stays true: every Python example in it runs and says what the text says."""

    #: What the examples' comments promise to print, in the order they print it.
    PROMISED = [
        "[🔑][➡️][✅] user_login user_id=42",
        "password=[REDACTED]",
        "payment_started [shop] request_id=r-42",
        "inside_context [shop] tenant=acme",
        'exception="Traceback (most recent call last):',
        '"logger":"urllib3","event":"retrying GET /","attempt":2',
        "[✅][🎯] lookup [api] cache=hit status=success",
        "event=invoice_sent invoice=7 service=billing",
        '<134>1 ', ' billing ', 'invoice_sent [fields@32473 logger="api" invoice="7" note="paid \\] in full"] invoice_sent',
        '"event":"order_placed","order_id":17,"password":"[REDACTED]"',
        "event=order_placed order_id=17 password=[REDACTED]",
        '"logger":"billing","event":"invoice_late","invoice":7}',
        "event=hello user_id=42",
        "event=cache_hit key=k246 sample_rate=0.01 sample_count=247",
        "event=logs_suppressed count=3 suppressed_event=disk_full",
        "\n298\n",
        "event=gateway_call attempt=1 api_key=[REDACTED] buffered=true",
        "event=payment_failed order=17\n",
        "6 ['payment_failed', 'payment_failed']",
        "1000 ['bytes_logged', 'bytes_per_second', 'cpu_percent']",
        "event=performance_metrics elapsed_seconds=",
    ]

    @staticmethod
    def examples():
        text = (HERE / "README.md").read_text(encoding="utf-8")
        return re.findall(r"```python\n(.*?)```", text, re.S)

    def test_guarantees_table_names_tests_that_exist(self):
        """Every test the Guarantees table names is a test of this file, in the class it says."""
        text = (HERE / "README.md").read_text(encoding="utf-8")
        table = text[text.index("## Guarantees"):text.index("## Vendoring")]
        named = re.findall(r"`(Test\w+)(?:::(test_\w+))?`|`(test_\w+)`", table)
        assert len(named) > 15
        owner = None
        for cls, test, bare in named:
            owner = cls or owner
            name = test or bare
            assert hasattr(globals()[owner], name) if name else owner in globals(), (owner, name)

    def test_every_example_runs_and_prints_what_it_promises(self):
        """Each ```python block exits 0 with no error on stderr; the promised lines appear."""
        printed = []
        for number, code in enumerate(self.examples()):
            result = subprocess.run([sys.executable, "-c", code], cwd=str(HERE), env=clean_env(),
                                    capture_output=True, text=True, encoding="utf-8", timeout=60)
            assert result.returncode == 0, f"example {number}:\n{code}\n{result.stderr}"
            assert "foundation:" not in result.stdout + result.stderr, result.stderr
            printed.append(result.stdout + result.stderr)
        output = "\n".join(printed)
        for promise in self.PROMISED:
            assert promise in output, promise
        assert "health_check" not in output  # the processor example drops it

# ---------------------------------------------------------------------------
# Samplers
# ---------------------------------------------------------------------------

class FakeClock:
    """A clock for samplers: it says ``now``, which the test sets; with ``fail`` set it raises."""

    def __init__(self, now=0.0):
        self.now = now
        self.fail = False

    def __call__(self):
        if self.fail:
            raise RuntimeError("the clock broke")
        return self.now


def std_record(event, name="app"):
    """A plain LogRecord of logger ``name`` whose msg is ``event``: to drive a sampler's ``filter()``."""
    return logging.LogRecord(name, logging.INFO, __file__, 1, event, None, None)


def run_threads(count, work):
    """Run ``work(n)`` on ``count`` threads that start together; return once all have ended."""
    barrier = threading.Barrier(count)
    errors = []

    def run(n):
        try:
            barrier.wait(WAIT)
            work(n)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 3)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    assert errors == []


#: The critical value of chi-square with 49 degrees of freedom at p = 0.001 (upper tail),
#: from the chi-square table (scipy.stats.chi2.ppf(0.999, 49) = 85.3506).
CHI2_49_P001 = 85.351

#: Each sampler with a fake clock and 10,000 keys at most: for the memory test (the RateSampler
#: drops most first records, the cheapest path, so that the test stays within about 15 s).
MEMORY_SAMPLERS = {
    "RateSampler": lambda clock: foundation.RateSampler(0.01, always_first=False, seed=1, clock=clock,
                                                        max_keys=10_000),
    "AdaptiveSampler": lambda clock: foundation.AdaptiveSampler(10, 1.0, seed=1, clock=clock, max_keys=10_000),
    "ReservoirSampler": lambda clock: foundation.ReservoirSampler(1000, seed=1, clock=clock, max_keys=10_000),
    "RateLimiter": lambda clock: foundation.RateLimiter(1.0, 1, clock=clock, max_keys=10_000),
}


@contextlib.contextmanager
def filtering(target, sampler):
    """``sampler`` as a Filter on ``target`` (a logger or handler) for the ``with`` block."""
    target.addFilter(sampler)
    try:
        yield
    finally:
        target.removeFilter(sampler)


class TestSamplers:
    # -- RateSampler -----------------------------------------------------------
    def test_rate_sampler_keeps_the_first_and_counts_what_it_saw(self):
        """Kept records carry sample_rate and sample_count (this event's records so far); the first is kept."""

        def run(seed):
            sampler = foundation.RateSampler(0.2, seed=seed)
            a, b = std_record("a"), std_record("b")
            kept_a, kept_b = [], []
            for n in range(1, 301):
                if sampler.filter(a):
                    assert (a.sample_rate, a.sample_count) == (0.2, n)
                    kept_a.append(n)
                if n % 3 == 0 and sampler.filter(b):  # "b" is counted on its own: one record in three
                    assert (b.sample_rate, b.sample_count) == (0.2, n // 3)
                    kept_b.append(n // 3)
            return kept_a, kept_b

        kept_a, kept_b = run(11)
        assert kept_a[0] == 1 and kept_b[0] == 1
        assert 20 <= len(kept_a) <= 100 and 2 <= len(kept_b) < 50
        assert run(11) == (kept_a, kept_b)  # the same seed keeps the same records
        assert run(12) != (kept_a, kept_b)

    def test_rate_sampler_always_first_false_may_drop_the_first(self):
        """always_first=True keeps the first record of every event; False keeps about rate of them."""
        first = foundation.RateSampler(0.2, seed=3)
        not_first = foundation.RateSampler(0.2, always_first=False, seed=3)
        records = [std_record(f"event-{i}") for i in range(500)]
        assert sum(first.filter(r) for r in records) == 500
        assert all(r.sample_count == 1 for r in records)
        assert 60 <= sum(not_first.filter(std_record(f"event-{i}")) for i in range(500)) <= 140

    def test_rate_sampler_keeps_one_percent_of_a_million(self):
        """RateSampler(0.01) over 1,000,000 records keeps 1% of them, within 0.1 percentage points."""
        sampler = foundation.RateSampler(0.01, seed=2024)
        record = std_record("hot")
        keep = sampler.filter
        kept = 0
        for _ in range(1_000_000):
            if keep(record):
                kept += 1
        assert 9_000 <= kept <= 11_000
        assert record.sample_rate == 0.01 and kept < record.sample_count <= 1_000_000

    def test_rate_sampler_forgets_the_least_recently_used_event(self):
        """max_keys: past it, the least recently used event is forgotten (its count starts again)."""
        sampler = foundation.RateSampler(1.0, max_keys=2)

        def count(event):
            record = std_record(event)
            assert sampler.filter(record) is True
            return record.sample_count

        assert [count(e) for e in ["a", "a", "b", "a", "c"]] == [1, 2, 1, 3, 1]  # "c" pushed out "b"
        assert [count(e) for e in ["a", "b", "c"]] == [4, 1, 1]  # "b" pushed out "c", then "c" pushed out "a"
        assert count("a") == 1

    # -- AdaptiveSampler ---------------------------------------------------------
    def test_adaptive_sampler_below_target_keeps_everything(self):
        """Below the target, every record is kept, with sample_rate 1.0."""
        clock = FakeClock()
        sampler = foundation.AdaptiveSampler(target_per_window=100, window_s=1.0, seed=5, clock=clock)
        record = std_record("quiet")
        for i in range(500):  # 50 a second for 10 seconds
            clock.now = i / 50
            assert sampler.filter(record) is True
            assert record.sample_rate == 1.0

    def test_adaptive_sampler_first_window_keeps_at_most_twice_the_target(self):
        """A burst in the first window: the first target records kept, then each with chance target/seen, at most 2x."""
        clock = FakeClock(7.0)
        sampler = foundation.AdaptiveSampler(target_per_window=10, window_s=1.0, seed=9, clock=clock)
        record = std_record("burst")
        kept = []
        for n in range(1, 1001):  # all at once: the clock does not move
            if sampler.filter(record):
                kept.append(n)
                assert record.sample_rate == pytest.approx(min(1.0, 10 / n))
        assert kept[:10] == list(range(1, 11))
        assert len(kept) == 20
        clock.now = 8.0  # the next window: the estimate starts from the last window's 1000
        rates = [record.sample_rate for _ in range(1000) if sampler.filter(record)]
        assert 1 <= len(rates) <= 20
        assert all(0.0 < rate <= 1.0 for rate in rates)
        clock.now = 20.0  # after windows with nothing: the old counts are forgotten
        for _ in range(10):
            assert sampler.filter(record) is True
            assert record.sample_rate == 1.0

    def test_adaptive_sampler_under_a_burst_keeps_about_the_target(self):
        """10/s, then 100,000/s, then 10/s: all; then 90..110 a window; then all again after one window."""
        clock = FakeClock(0.0)
        sampler = foundation.AdaptiveSampler(target_per_window=100, window_s=1, seed=17, clock=clock)
        record = std_record("burst")
        keep = sampler.filter
        seen, kept, rates = [0] * 10, [0] * 10, []
        times = ([i / 10 for i in range(20)]  # 10 a second in windows 0 and 1
                 + [2 + i / 100_000 for i in range(500_000)]  # 100,000 a second in windows 2 to 6
                 + [7 + i / 10 for i in range(30)])  # 10 a second in windows 7 to 9
        for now in times:
            clock.now = now
            window = int(now)
            seen[window] += 1
            if keep(record):
                kept[window] += 1
                if 3 <= window <= 6:
                    rates.append(record.sample_rate)
        assert kept[:2] == seen[:2] == [10, 10]
        assert 100 <= kept[2] <= 200  # the window the burst began in: never more than twice the target
        assert all(90 <= k <= 110 for k in kept[3:7]), kept
        assert kept[8:] == seen[8:] == [10, 10]  # after one window of adapting
        assert all(0.0 < rate <= 1.0 for rate in rates)
        assert 0.0005 <= sorted(rates)[len(rates) // 2] <= 0.002  # the typical chance: about 100 / 100,000

    # -- ReservoirSampler --------------------------------------------------------
    def test_reservoir_flush_logs_one_record_and_resets(self, log):
        """Fewer items than the size: all are kept, in order, copied; flush() logs sampled_events and resets."""
        out = capture(mode="sync")
        reservoir = foundation.ReservoirSampler(10)
        items = [{"n": i, "name": f"item-{i}"} for i in range(7)]
        for item in items:
            reservoir.add(item)
        items[0]["n"] = "changed after add"  # a copy was kept
        reservoir.flush(log)
        reservoir.flush(log)
        first, second = out.records()
        assert (first["level"], first["logger"], first["event"]) == ("info", "app", "sampled_events")
        assert (first["sample_size"], first["total_events"], first["sampling_ratio"]) == (7, 7, 1.0)
        assert first["events"] == [{"n": i, "name": f"item-{i}"} for i in range(7)]
        assert (second["sample_size"], second["total_events"], second["sampling_ratio"]) == (0, 0, 0.0)
        assert second["events"] == []

    @pytest.mark.parametrize("bad", [["a", 1], "text", None, 42, [("a", 1)]], ids=repr)
    def test_reservoir_add_rejects_what_is_not_a_mapping(self, bad):
        """add() of anything but a mapping raises TypeError."""
        reservoir = foundation.ReservoirSampler(3)
        with pytest.raises(TypeError):
            reservoir.add(bad)

    def test_reservoir_seed_fixes_the_sample(self, log):
        """The same seed gives the same sample; another seed another one."""
        out = capture(mode="sync")
        for seed in (8, 8, 9):
            reservoir = foundation.ReservoirSampler(5, seed=seed)
            for i in range(1000):
                reservoir.add({"i": i})
            reservoir.flush(log)
        same, again, other = [[e["i"] for e in r["events"]] for r in out.records()]
        assert same == again != other
        assert len(set(same)) == 5 and all(0 <= i < 1000 for i in same)

    def test_reservoir_is_uniform_chi_square(self, log):
        """Each of n items is in a size-k sample equally often: chi-square below its p=0.001 critical value."""
        n, k, runs = 50, 5, 8000
        out = capture(mode="sync")
        reservoir = foundation.ReservoirSampler(k, seed=20240601)  # one sampler: flush() starts again
        for _ in range(runs):
            for i in range(n):
                reservoir.add({"i": i})
            reservoir.flush(log)
        counts = [0] * n
        records = out.records()
        assert len(records) == runs
        for record in records:
            assert (record["sample_size"], record["total_events"]) == (k, n)
            chosen = [event["i"] for event in record["events"]]
            assert len(set(chosen)) == k
            for i in chosen:
                counts[i] += 1
        expected = runs * k / n
        chi2 = sum((count - expected) ** 2 / expected for count in counts)
        assert chi2 < CHI2_49_P001, (chi2, counts)  # n - 1 = 49 degrees of freedom

    def test_reservoir_through_configure_collects_records(self, log):
        """configure(samplers={"*": r}): records go into the reservoir; flush(log) writes one sampled_events."""
        reservoir = foundation.ReservoirSampler(10, seed=5)
        out = capture(mode="sync", samplers={"*": reservoir})
        before = time.time()
        for i in range(50):
            log.info("order", i=i, password="x")
        assert out.text() == ""
        assert foundation.stats()["sampled_out"] == 50
        reservoir.flush(log)
        reservoir.flush(log)  # the first sampled_events record was not taken back into the reservoir
        first, second = out.records()
        assert (first["logger"], first["event"], first["level"]) == ("app", "sampled_events", "info")
        assert (first["sample_size"], first["total_events"], first["sampling_ratio"]) == (10, 50, 0.2)
        events = first["events"]
        assert len({e["i"] for e in events}) == 10 and all(0 <= e["i"] < 50 for e in events)
        for event in events:
            assert list(event) == ["timestamp", "level", "logger", "event", "i", "password"]
            assert (event["level"], event["logger"], event["event"]) == ("info", "app", "order")
            assert event["password"] == "[REDACTED]"
            assert before - 1 <= event["timestamp"] <= time.time() + 1
        assert (second["sample_size"], second["total_events"], second["events"]) == (0, 0, [])
        stats = foundation.stats()
        assert (stats["emitted"], stats["written"], stats["sampled_out"]) == (2, 2, 50)
        assert stats["written"] + stats["dropped"] == stats["emitted"]

    def test_reservoir_in_a_batch_collects_records(self, log):
        """A reservoir takes a batch's records as it takes single calls'."""
        reservoir = foundation.ReservoirSampler(100)
        out = capture(mode="sync", samplers={"row": reservoir})
        with log.batch(size=4) as batch:
            for i in range(10):
                batch.info("row", i=i)
            batch.info("other")
        reservoir.flush(log)
        other, sample = out.records()
        assert other["event"] == "other"
        assert [e["i"] for e in sample["events"]] == list(range(10))
        assert foundation.stats()["sampled_out"] == 10

    # -- RateLimiter ---------------------------------------------------------------
    def test_rate_limiter_passes_exactly_burst_plus_rate_times_t(self, log):
        """Over t seconds of calls, burst + per_second * t pass; the suppressed count is exact and reported."""
        clock = FakeClock()
        limiter = foundation.RateLimiter(10, 5, clock=clock)
        out = capture(mode="sync", samplers={"tick": limiter})
        for i in range(10_001):  # a call every millisecond for t = 10 s
            clock.now = i / 1000
            log.info("tick", i=i)
        for i in range(10_001, 10_004):  # three more at t = 10: suppressed, not reported yet
            log.info("tick", i=i)
        records = out.records()
        ticks = [r["i"] for r in records if r["event"] == "tick"]
        assert ticks == [0, 1, 2, 3, 4] + list(range(100, 10_001, 100))
        assert len(ticks) == 5 + 10 * 10
        for before, after in zip(records, records[1:]):  # a report comes once the bucket refills
            if before["event"] == "logs_suppressed":
                assert after["event"] == "tick"
                assert (before["logger"], before["level"], before["suppressed_event"]) == ("foundation", "info", "tick")
        reported = sum(r["count"] for r in records if r["event"] == "logs_suppressed")
        assert reported == 10_001 - 105
        stats = foundation.stats()
        assert stats["sampled_out"] == 10_004 - 105
        assert stats["written"] + stats["dropped"] == stats["emitted"] == len(records)
        limiter.report_suppressed()
        assert [(r["event"], r["count"], r["suppressed_event"]) for r in out.records()[len(records):]] == [
            ("logs_suppressed", 3, "tick")]

    def test_rate_limiter_key_logger_and_none(self):
        """key="event": a bucket per event; key="logger": per logger; key=None: one for all."""
        a, b = foundation.get_logger("a"), foundation.get_logger("b")

        def run(key):
            clock = FakeClock()
            out = capture(mode="sync", samplers={"*": foundation.RateLimiter(1, 1, key=key, clock=clock)})
            a.info("x")
            a.info("y")
            b.info("x")
            b.info("y")
            clock.now = 1.0
            a.info("z")
            return [{k: v for k, v in r.items() if k not in ("timestamp", "level")} for r in out.records()]

        assert run("event") == [
            {"logger": "a", "event": "x"}, {"logger": "a", "event": "y"},
            {"logger": "a", "event": "z"}]
        assert run("logger") == [
            {"logger": "a", "event": "x"}, {"logger": "b", "event": "x"},
            {"logger": "foundation", "event": "logs_suppressed", "count": 1, "suppressed_event": "*",
             "suppressed_logger": "a"},
            {"logger": "a", "event": "z"}]
        assert run(None) == [
            {"logger": "a", "event": "x"},
            {"logger": "foundation", "event": "logs_suppressed", "count": 3, "suppressed_event": "*"},
            {"logger": "a", "event": "z"}]

    def test_rate_limiter_reports_an_evicted_bucket(self, log):
        """max_keys: a bucket pushed out with records suppressed has its count reported, not lost."""
        clock = FakeClock()
        out = capture(mode="sync", samplers={"*": foundation.RateLimiter(1, 1, clock=clock, max_keys=2)})
        for event in ["a", "a", "a", "b", "c"]:
            log.info(event)
        assert [(r["event"], r.get("count"), r.get("suppressed_event")) for r in out.records()] == [
            ("a", None, None), ("b", None, None), ("logs_suppressed", 2, "a"), ("c", None, None)]
        assert foundation.stats()["sampled_out"] == 2

    def test_rate_limiter_unreported_count_is_written_at_shutdown(self, log):
        """What a limiter suppressed and has not reported yet is written by shutdown(), once."""
        clock = FakeClock()
        stream = io.StringIO()
        foundation.configure(stream=stream, format="json", samplers={"spam": foundation.RateLimiter(5, 2, clock=clock)})
        for i in range(10):
            log.warning("spam", i=i)
        foundation.shutdown()
        records = [loads(line) for line in split_lines(stream.getvalue())]
        assert [(r["event"], r.get("i")) for r in records] == [("spam", 0), ("spam", 1), ("logs_suppressed", None)]
        assert (records[-1]["logger"], records[-1]["count"], records[-1]["suppressed_event"]) == ("foundation", 8, "spam")
        foundation.shutdown()
        assert len(split_lines(stream.getvalue())) == 3

    def test_rate_limiter_report_is_written_under_a_warning_level(self, log):
        """With level="WARNING", a limiter on warnings still reports what it suppressed."""
        # (A bug in 00233f4, fixed in f0bb01d: logs_suppressed went through the "foundation"
        # logger's level check at INFO, so under level="WARNING" the count was taken and never
        # written.)
        clock = FakeClock()
        out = capture(mode="sync", level="WARNING", samplers={"disk_full": foundation.RateLimiter(1, 1, clock=clock)})
        for _ in range(5):
            log.warning("disk_full")
        clock.now = 10.0
        log.warning("disk_full")
        foundation.shutdown()
        records = out.records()
        assert [r["event"] for r in records].count("disk_full") == 2
        assert [r["count"] for r in records if r["event"] == "logs_suppressed"] == [4]

    # -- Attaching: configure(samplers=...), log.sampled(), logging.Filter -------------
    def test_configure_exact_event_name_wins_over_star(self, log):
        """configure(samplers=...): the sampler for the event name (before %-args) wins over "*"."""
        clock = FakeClock()
        out = capture(mode="sync", samplers={
            "user %s": foundation.RateSampler(1.0),
            "*": foundation.RateLimiter(1, 1, key=None, clock=clock),
        })
        for who in ("ada", "bob", "cy"):
            log.info("user %s", who)
        log.info("other")
        log.info("other")
        log.info("third")
        records = out.records()
        assert [(r["event"], r.get("sample_rate"), r.get("sample_count")) for r in records] == [
            ("user ada", 1.0, 1), ("user bob", 1.0, 2), ("user cy", 1.0, 3), ("other", None, None)]
        assert foundation.stats()["sampled_out"] == 2

    def test_sampled_logger_and_bind_keep_the_sampler(self, log):
        """log.sampled(s) returns a new logger whose calls pass s; bind()/unbind() keep it; log is unchanged."""
        clock = FakeClock()
        out = capture(mode="sync")
        sampled = log.sampled(foundation.RateLimiter(1, 1, clock=clock))
        bound = sampled.bind(user=1)
        assert sampled is not log and sampled.name == bound.name == "app"
        sampled.info("a")
        bound.info("a")  # the same sampler: "a" is suppressed
        log.info("a")  # log itself is not sampled
        bound.info("b")
        bound.unbind("user").info("b")  # suppressed
        bound.try_unbind("user").info("b")  # suppressed
        assert [(r["event"], r.get("user")) for r in out.records()] == [("a", None), ("a", None), ("b", 1)]
        assert foundation.stats()["sampled_out"] == 3

    def test_sampled_logger_and_configured_sampler_both_apply(self, log):
        """A log.sampled() sampler and a configured one: the rates multiply, the count is the logger's."""
        out = capture(mode="sync", samplers={"ev": foundation.RateSampler(0.5, seed=1)})
        sampled = log.sampled(foundation.RateSampler(1.0))
        for _ in range(40):
            sampled.info("ev")
        records = out.records()
        assert 0 < len(records) < 40
        assert all(r["sample_rate"] == 0.5 for r in records)
        assert records[0]["sample_count"] == 1
        assert foundation.stats()["sampled_out"] == 40 - len(records)

    def test_sampler_as_filter_on_a_standard_handler(self, attach):
        """A sampler on a StreamHandler: kept plain records get attributes, our records fields; it counts drops."""
        kept = []

        class Recording(logging.StreamHandler):
            def emit(self, record):
                kept.append(record)
                super().emit(record)

        out = capture(mode="sync")
        stream = io.StringIO()
        handler = Recording(stream)
        handler.setFormatter(logging.Formatter("%(message)s|%(sample_rate)s|%(sample_count)s"))
        handler.addFilter(foundation.RateSampler(0.5, seed=4))
        attach(handler, "std")
        for i in range(30):
            logging.getLogger("std").warning("plain %d", i)
        for i in range(30):
            foundation.get_logger("std").warning("ours", i=i)
        lines = stream.getvalue().splitlines()
        plain = [line for line in lines if line.startswith("plain ")]
        ours = [line for line in lines if line.startswith("ours|")]
        assert plain[0] == "plain 0|0.5|1" and ours[0] == "ours|0.5|1"
        assert 0 < len(plain) < 30 and 0 < len(ours) < 30 and len(plain) + len(ours) == len(lines)
        assert len(kept) == len(lines)
        for record in kept:  # the count is that event's records so far, this one included
            if record.msg == "plain %d":  # a plain record: the fields are attributes, as extra= makes them
                assert "fields" not in vars(record)
                assert (vars(record)["sample_rate"], vars(record)["sample_count"]) == (0.5, record.args[0] + 1)
            else:  # ours: the fields are in record.fields (and readable as attributes)
                assert (record.fields["sample_rate"], record.fields["sample_count"]) == (0.5, record.fields["i"] + 1)
                assert record.sample_count == record.fields["i"] + 1
        assert len(out.records()) == 60  # a filter on one handler leaves the others alone
        assert foundation.stats()["sampled_out"] == 60 - len(lines)

    def test_filter_keys_our_records_by_the_event_before_args(self, log):
        """As a Filter, a sampler keys our records as the gate does: by the event before %-args."""
        # (A bug in 00233f4, fixed in f0bb01d: filter() keyed our records by record.msg,
        # already %-formatted ("job 0 done", ...), while the gate and plain LogRecords key by
        # the event as written ("job %d done"): as a Filter, each call was a new event, so a
        # RateSampler kept every record (sample_count always 1) and a RateLimiter never limited.)
        sampler = foundation.RateSampler(0.1, seed=1)
        std = logging.getLogger("app")
        out = capture(mode="sync")
        with filtering(std, sampler):
            for i in range(100):
                log.info("job %d done", i)
        records = out.records()
        assert [r["sample_count"] for r in records] == [int(r["event"].split()[1]) + 1 for r in records]
        assert len(records) < 40
        assert foundation.stats()["sampled_out"] == 100 - len(records)

    def test_sampler_as_filter_on_a_standard_logger(self, log):
        """A sampler on logging.getLogger(name): dropped records reach no handler; kept ones carry the fields."""
        sampler = foundation.RateSampler(0.5, seed=3)
        std = logging.getLogger("app")
        out = capture(mode="sync")
        with filtering(std, sampler):
            for i in range(40):
                log.info("ours", i=i)
            for i in range(40):
                std.info("plain %d", i)
        records = out.records()
        ours = [r for r in records if r["event"] == "ours"]
        plain = [r for r in records if r["event"].startswith("plain ")]
        assert ours[0]["i"] == 0 and plain[0]["event"] == "plain 0"
        assert 0 < len(ours) < 40 and 0 < len(plain) < 40
        assert all((r["sample_rate"], r["sample_count"]) == (0.5, r["i"] + 1) for r in ours)
        assert all(r["sample_count"] == int(r["event"].split()[1]) + 1 for r in plain)
        stats = foundation.stats()
        assert stats["sampled_out"] == 80 - len(records)
        assert stats["written"] + stats["dropped"] == stats["emitted"] == len(records)

    def test_reservoir_as_filter_on_a_standard_logger(self, log):
        """A reservoir as a Filter takes plain records too; flush() writes them as dicts, secrets redacted."""
        reservoir = foundation.ReservoirSampler(100)
        std = logging.getLogger("legacy")
        out = capture(mode="sync")
        with filtering(std, reservoir):
            std.warning("legacy %s", "call", extra={"api_key": "k-1", "n": 7})
            reservoir.flush(log)
        record = out.record()
        [event] = record["events"]
        assert {k: v for k, v in event.items() if k != "timestamp"} == {
            "level": "warning", "logger": "legacy", "event": "legacy call", "api_key": "[REDACTED]", "n": 7}

    def test_reservoir_as_filter_does_not_take_its_own_report(self, log):
        """A reservoir as a Filter on the logger flush() writes to: its sampled_events record is written."""
        # (A bug in a working copy between 00233f4 and f0bb01d: with flush() guarding its
        # report only at the gate, a reservoir used as a Filter on the logger the report
        # reached took its own sampled_events record: nothing was written, and the next
        # flush() reported that report.)
        reservoir = foundation.ReservoirSampler(10)
        std = logging.getLogger("app")
        out = capture(mode="sync")
        with filtering(std, reservoir):
            for i in range(5):
                log.info("ev", i=i)
            reservoir.flush(log)
            reservoir.flush(log)
        first, second = out.records()
        assert (first["event"], first["total_events"], [e["i"] for e in first["events"]]) == (
            "sampled_events", 5, [0, 1, 2, 3, 4])
        assert (second["event"], second["total_events"], second["events"]) == ("sampled_events", 0, [])

    def test_stats_count_what_samplers_drop(self, log):
        """stats()["sampled_out"] is exact; after flush(), written + dropped == emitted."""
        clock = FakeClock()
        out = capture(samplers={"*": foundation.RateLimiter(1, 3, clock=clock)})  # queue mode
        for _ in range(10):
            log.info("a")
        for _ in range(4):
            log.info("b")
        assert len(out.records()) == 6
        stats = foundation.stats()
        assert (stats["sampled_out"], stats["written"], stats["emitted"]) == (8, 6, 6)
        assert stats["written"] + stats["dropped"] == stats["emitted"]

    def test_lazy_fields_are_computed_only_for_kept_records(self, log):
        """A lazy field is not computed for a record a sampler drops, and is for a kept one."""
        clock = FakeClock()
        out = capture(mode="sync", samplers={"ev": foundation.RateLimiter(1, 1, clock=clock)})
        calls = []
        log.info("ev", v=foundation.lazy(lambda: calls.append("first") or 1))
        log.info("ev", v=foundation.lazy(lambda: calls.append("second") or 2))
        log.sampled(foundation.RateLimiter(1, 1, clock=clock)).info("other", v=foundation.lazy(lambda: calls.append("third") or 3))
        clock.now = 1.0
        log.info("ev", v=foundation.lazy(lambda: calls.append("fourth") or 4))
        assert calls == ["first", "third", "fourth"]
        assert [(r["event"], r.get("v")) for r in out.records()] == [
            ("ev", 1), ("other", 3), ("logs_suppressed", None), ("ev", 4)]

    def test_own_records_are_never_sampled(self, log):
        """A "*" sampler never takes the library's reports: logs_suppressed, a reservoir's sampled_events."""
        clock = FakeClock()
        out = capture(mode="sync", samplers={"*": foundation.RateLimiter(1, 1, key=None, clock=clock)})
        reservoir = foundation.ReservoirSampler(10)
        log.info("a")  # passes: the one bucket is empty now
        log.info("b")
        log.info("c")
        log.sampled(reservoir).info("kept_aside")  # the reservoir takes it before the "*" limiter
        reservoir.flush(log)  # not suppressed by the "*" limiter
        clock.now = 1.0
        log.info("d")  # passes: preceded by the report, which the "*" limiter does not take either
        assert [(r["logger"], r["event"], r.get("count")) for r in out.records()] == [
            ("app", "a", None), ("app", "sampled_events", None),
            ("foundation", "logs_suppressed", 2), ("app", "d", None)]
        assert out.records()[1]["events"][0]["event"] == "kept_aside"

    @pytest.mark.parametrize("how", ["batch", "async", "batch_async"])
    def test_batches_and_async_calls_go_through_the_same_gate(self, how, log):
        """Records of a batch and of async calls are sampled as plain calls are: the same ones kept."""

        def run(how):
            out = capture(mode="sync", samplers={"ev": foundation.RateSampler(0.3, seed=21)})
            if how == "calls":
                for i in range(200):
                    log.info("ev", i=i)
            elif how == "batch":
                with log.batch(size=7) as batch:
                    for i in range(200):
                        batch.info("ev", i=i)
            elif how == "async":
                async def main():
                    for i in range(200):
                        await log.ainfo("ev", i=i)
                asyncio.run(main())
            else:
                async def main():
                    async with log.batch_async(size=7) as batch:
                        for i in range(200):
                            await batch.info("ev", i=i)
                asyncio.run(main())
            return [(r["i"], r["sample_count"]) for r in out.records()], foundation.stats()["sampled_out"]

        calls = run("calls")
        kept, dropped = calls
        assert kept[0] == (0, 1) and all(count == i + 1 for i, count in kept)
        assert 0 < len(kept) < 200 and dropped == 200 - len(kept)
        assert run(how) == calls

    def test_batch_of_a_sampled_logger_is_sampled(self, log):
        """A batch of a log.sampled() logger passes its sampler too."""
        clock = FakeClock()
        out = capture(mode="sync")
        with log.sampled(foundation.RateLimiter(1, 2, clock=clock)).batch() as batch:
            for i in range(5):
                batch.info("ev", i=i)
        assert [r["i"] for r in out.records()] == [0, 1]
        assert foundation.stats()["sampled_out"] == 3

    # -- Misuse and broken clocks -------------------------------------------------------
    @pytest.mark.parametrize("make", [
        pytest.param(lambda: foundation.RateSampler(0), id="rate 0"),
        pytest.param(lambda: foundation.RateSampler(1.5), id="rate 1.5"),
        pytest.param(lambda: foundation.RateSampler(-0.1), id="rate -0.1"),
        pytest.param(lambda: foundation.RateSampler(float("nan")), id="rate nan"),
        pytest.param(lambda: foundation.RateSampler("0.5"), id="rate str"),
        pytest.param(lambda: foundation.RateSampler(0.5, always_first="maybe"), id="always_first"),
        pytest.param(lambda: foundation.AdaptiveSampler(window_s=0), id="window_s 0"),
        pytest.param(lambda: foundation.AdaptiveSampler(window_s=-1.0), id="window_s -1"),
        pytest.param(lambda: foundation.AdaptiveSampler(target_per_window=0), id="target 0"),
        pytest.param(lambda: foundation.ReservoirSampler(0), id="size 0"),
        pytest.param(lambda: foundation.ReservoirSampler(size=2.5), id="size 2.5"),
        pytest.param(lambda: foundation.RateLimiter(10, 0), id="burst 0"),
        pytest.param(lambda: foundation.RateLimiter(0), id="per_second 0"),
        pytest.param(lambda: foundation.RateLimiter(10, key="x"), id="key x"),
        pytest.param(lambda: foundation.RateLimiter(10, clock=42), id="clock 42"),
        pytest.param(lambda: foundation.RateSampler(0.5, clock="time.monotonic"), id="clock str"),
        pytest.param(lambda: foundation.AdaptiveSampler(clock=lambda: "now"), id="clock says str"),
        pytest.param(lambda: foundation.ReservoirSampler(clock=lambda: float("nan")), id="clock says nan"),
        pytest.param(lambda: foundation.RateSampler(0.5, max_keys=0), id="rate max_keys 0"),
        pytest.param(lambda: foundation.AdaptiveSampler(max_keys=0), id="adaptive max_keys 0"),
        pytest.param(lambda: foundation.ReservoirSampler(max_keys=0), id="reservoir max_keys 0"),
        pytest.param(lambda: foundation.RateLimiter(10, max_keys=0), id="limiter max_keys 0"),
        pytest.param(lambda: foundation.RateLimiter(10, seed=object()), id="seed object"),
    ])
    def test_bad_arguments_raise_at_construction(self, make):
        """A bad argument raises TypeError or ValueError when the sampler is made."""
        with pytest.raises((TypeError, ValueError)):  # which of the two is the library's choice
            make()

    def test_only_samplers_are_taken(self, log):
        """configure(samplers=...), log.sampled() and flush() take only what they are documented to."""
        with pytest.raises(TypeError):
            foundation.configure(samplers={"x": object()})
        with pytest.raises(TypeError):
            foundation.configure(samplers={1: foundation.RateSampler(0.5)})
        with pytest.raises(TypeError):
            foundation.configure(samplers=[foundation.RateSampler(0.5)])
        with pytest.raises(TypeError):
            log.sampled(object())
        with pytest.raises(TypeError):
            log.sampled(logging.Filter())
        with pytest.raises(TypeError):
            foundation.ReservoirSampler(3).flush(logging.getLogger("app"))

    def test_clock_backwards_or_nan_is_harmless(self):
        """A clock that jumps backwards or says NaN: no error, no time passes, no rate outside (0, 1]."""
        capture(mode="sync")
        clock = FakeClock(100.0)
        limiter = foundation.RateLimiter(10, 1, clock=clock)
        record = std_record("l")
        passed = []
        for now in [100.0, 50.0, float("nan"), -1e9, float("inf"), 100.05, 99.0, 100.2, 250.0, 1.0]:
            clock.now = now
            passed.append(limiter.filter(record))
        assert all(type(p) is bool for p in passed)
        assert passed[:5] == [True, False, False, False, False]  # a step back or no number: no time passed

        clock = FakeClock(0.0)  # a reading before the latest: the window does not go back
        adaptive = foundation.AdaptiveSampler(100, 1.0, seed=4, clock=clock)
        record = std_record("a")
        for _ in range(150):  # the first window: 150 records
            adaptive.filter(record)
        clock.now = 1.5  # halfway through the next: estimate 150 * 0.5 + n, below the target of 100
        for now in [1.5, 1.5, 0.2, -100.0, float("nan"), 1.0, 1.5]:
            clock.now = now
            assert adaptive.filter(record) is True
            assert record.sample_rate == 1.0

        clock = FakeClock(0.0)
        adaptive = foundation.AdaptiveSampler(20, 1.0, seed=4, clock=clock)
        record = std_record("a")
        rates = []
        for i in range(5000):  # 100 a second for 50 s; some readings jump back 5 s, some are NaN
            now = i / 100
            clock.now = float("nan") if i % 11 == 5 else now - 5.0 if i % 7 == 3 else now
            if adaptive.filter(record):
                rates.append(record.sample_rate)
        assert len(rates) >= 500  # at least about 20 a window
        assert all(0.0 < rate <= 1.0 for rate in rates)
        assert foundation.stats()["errors"] == 0

    @pytest.mark.parametrize("kind", ["AdaptiveSampler", "RateLimiter"])
    def test_clock_that_says_infinity_once(self, kind):
        """One reading of +inf from the clock does not break the sampler for good."""
        # (A bug in 00233f4, fixed in f0bb01d: _now() took +inf as a time.
        # AdaptiveSampler's window start became NaN for good: 2 x target more records with
        # sample_rate NaN, then the event dropped for ever; RateLimiter compared inf - inf =
        # NaN and passed every record from then on.)
        capture(mode="sync")
        clock = FakeClock(0.0)
        sampler = (foundation.AdaptiveSampler(10, 1.0, seed=1, clock=clock) if kind == "AdaptiveSampler"
                   else foundation.RateLimiter(1, 1, clock=clock))
        record = std_record("ev")
        clock.now = float("inf")
        sampler.filter(record)
        passed = []
        for second in range(1, 101):  # then 5 records a second for 100 s
            clock.now = float(second)
            for _ in range(5):
                if sampler.filter(record):
                    passed.append(getattr(record, "sample_rate", None))
        if kind == "AdaptiveSampler":  # below the target of 10: every record, each with rate 1.0
            assert passed == [1.0] * 500
        else:  # one a second
            assert len(passed) == 100

    def test_a_sampler_that_raises_keeps_the_record(self, log):
        """A sampler whose clock raises keeps the record, adds nothing, and counts an error."""
        clock = FakeClock()
        limiter = foundation.RateLimiter(1, 1, clock=clock)
        adaptive = foundation.AdaptiveSampler(1, 1.0, clock=clock)
        out = capture(mode="sync", samplers={"limited": limiter, "adaptive": adaptive})
        clock.fail = True
        log.info("limited", n=1)
        log.info("limited", n=2)  # with a working clock, this one would be suppressed
        log.info("adaptive", n=3)
        assert adaptive.filter(std_record("adaptive")) is True  # the same as a Filter
        assert [{k: v for k, v in r.items() if k != "timestamp"} for r in out.records()] == [
            {"level": "info", "logger": "app", "event": "limited", "n": 1},
            {"level": "info", "logger": "app", "event": "limited", "n": 2},
            {"level": "info", "logger": "app", "event": "adaptive", "n": 3}]
        stats = foundation.stats()
        assert (stats["errors"], stats["sampled_out"]) == (4, 0)
        clock.fail = False  # the clock works again: so does the sampler
        log.info("limited", n=4)
        log.info("limited", n=5)
        assert [r["n"] for r in out.records()] == [1, 2, 3, 4]
        assert foundation.stats()["errors"] == 4

    # -- Threads -------------------------------------------------------------------
    def test_threads_through_one_rate_limiter(self, log):
        """8 threads, a frozen clock: exactly burst records pass, and the suppressed count is exact."""
        clock = FakeClock()
        limiter = foundation.RateLimiter(1000, 50, clock=clock)
        out = capture(mode="sync", samplers={"shared": limiter})

        def work(n):
            for i in range(2000):
                log.info("shared", thread=n, i=i)

        run_threads(8, work)
        assert len(out.records()) == 50
        assert foundation.stats()["sampled_out"] == 8 * 2000 - 50
        limiter.report_suppressed()
        report = out.records()[-1]
        assert (report["event"], report["count"], report["suppressed_event"]) == ("logs_suppressed", 15_950, "shared")

    def test_threads_through_one_rate_sampler_keep_all_at_rate_one(self, log):
        """8 threads through RateSampler(1.0): every record kept, the counts are 1..N exactly."""
        out = capture(mode="sync", samplers={"shared": foundation.RateSampler(1.0)})

        def work(n):
            for i in range(1000):
                log.info("shared", thread=n, i=i)

        run_threads(8, work)
        records = out.records()
        assert sorted(r["sample_count"] for r in records) == list(range(1, 8001))
        for n in range(8):
            assert [r["i"] for r in records if r["thread"] == n] == list(range(1000))

    def test_threads_through_one_rate_sampler_count_exactly(self):
        """8 threads through RateSampler(0.05, seed): the kept counts are those of one thread's run."""
        alone = foundation.RateSampler(0.05, seed=99)
        record = std_record("shared")
        expected = [record.sample_count for _ in range(8 * 5000) if alone.filter(record)]
        shared = foundation.RateSampler(0.05, seed=99)
        counts = [[] for _ in range(8)]

        def work(n):
            mine = std_record("shared")
            for _ in range(5000):
                if shared.filter(mine):
                    counts[n].append(mine.sample_count)

        run_threads(8, work)
        assert sorted(itertools.chain.from_iterable(counts)) == expected
        assert 1_000 < len(expected) < 3_000

    def test_a_call_in_the_middle_of_a_call_is_counted(self):
        """A signal handler's call on the same event, at any point of another call: nothing
        raises, every record is kept or counted as sampled out, and the only slip is the
        documented one (a call inside the drawing of the next gap may be kept too)."""
        capture(mode="sync")
        sampler = foundation.RateSampler(0.3, seed=5)
        counts, calls = [], [0]

        def call():
            calls[0] += 1
            record = std_record("same")
            if sampler.filter(record):
                counts.append(record.sample_count)

        fired = interrupt_at_each_line(call, call)
        assert fired >= 10
        stats = foundation.stats()
        assert (stats["errors"], stats["sampled_out"] + len(counts)) == (0, calls[0])
        reference, record = foundation.RateSampler(0.3, seed=5), std_record("same")
        expected = [record.sample_count for _ in range(calls[0]) if reference.filter(record)]
        assert set(counts) <= set(range(1, calls[0] + 1))
        assert len(expected) <= len(counts) <= 2 * len(expected)  # at most one more per kept record

    @pytest.mark.parametrize("kind", ["RateSampler", "AdaptiveSampler", "RateLimiter"])
    def test_an_event_pushed_out_in_the_middle_of_a_call(self, kind):
        """Another call (a signal handler, or a thread switch) that pushes the event out mid-call: no error."""
        # (A bug in 00233f4, fixed in f0bb01d: _admit() read the key's state and then called
        # move_to_end(key); a call on a new event in between (a signal handler re-entering the
        # RLock; for RateSampler, whose fast path takes no lock, also another thread) pushed
        # the key out of the LRU, and move_to_end raised KeyError: the record was kept
        # unsampled, and an error counted and printed.)
        capture(mode="sync")
        clock = FakeClock()
        sampler = {"RateSampler": lambda: foundation.RateSampler(0.5, seed=1, max_keys=1),
                   "AdaptiveSampler": lambda: foundation.AdaptiveSampler(10, 1.0, seed=1, clock=clock, max_keys=1),
                   "RateLimiter": lambda: foundation.RateLimiter(1, 1, clock=clock, max_keys=1)}[kind]()
        main, other = std_record("main"), std_record("other")
        names = itertools.count()

        def interrupt():
            other.msg = f"other-{next(names)}"
            sampler.filter(other)

        fired = interrupt_at_each_line(lambda: sampler.filter(main), interrupt,
                                       before=lambda: sampler.filter(main))
        assert fired >= 10
        assert foundation.stats()["errors"] == 0

    # -- Memory ----------------------------------------------------------------------
    @pytest.mark.parametrize("kind", list(MEMORY_SAMPLERS))
    def test_a_million_event_names_keep_memory_flat(self, kind):
        """1,000,000 distinct event names through a sampler with max_keys=10,000: under 5 MB more memory."""
        capture(mode="sync")
        clock = FakeClock()
        sampler = MEMORY_SAMPLERS[kind](clock)
        names = [f"event-{i}" for i in range(1_000_000)]
        record = std_record("warm-up")
        keep = sampler.filter
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for name in names:
                record.msg = name
                keep(record)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert grown < 5_000_000, f"{kind} grew by {grown / 1e6:.1f} MB"


class TestInterning:
    """configure(intern=...): repeated string values of fields share one object; bounded; exact stats."""

    @staticmethod
    def fresh(text):
        """An equal but distinct string object (an f-string's result is one)."""
        return "".join([text[:1], text[1:]])

    def values_seen(self, log, values, **options):
        seen = []
        capture(mode="sync", processors=[lambda event: seen.append(event["user"]) or event], **options)
        for value in values:
            log.info("login", user=value)
        return seen

    def test_repeated_values_share_one_object(self, log):
        """With intern=True, equal values logged apart are one object in the queued records."""
        seen = self.values_seen(log, [self.fresh("usr_42") for _ in range(3)], intern=True)
        assert seen[0] is seen[1] is seen[2]
        assert foundation.intern_stats() == {"cache_size": 1, "hits": 2, "misses": 1, "hit_rate": 2 / 3}

    def test_off_by_default(self, log):
        """Without intern, values are left as they are, and the stats are zero."""
        seen = self.values_seen(log, [self.fresh("usr_42") for _ in range(2)])
        assert seen[0] == seen[1] and seen[0] is not seen[1]
        assert foundation.intern_stats() == {"cache_size": 0, "hits": 0, "misses": 0, "hit_rate": 0.0}

    def test_cache_holds_exactly_the_cap_and_drops_the_oldest(self, log):
        """intern=3: a fourth value pushes out the oldest (first in), even one just used."""
        self.values_seen(log, ["a1", "b1", "c1", "a1", "d1", "a1"], intern=3)
        # Oldest first: d1 pushes out a1, so the last a1 is a miss (least recently used would keep it).
        assert foundation.intern_stats() == {"cache_size": 3, "hits": 1, "misses": 5, "hit_rate": 1 / 6}

    def test_a_million_distinct_values_stay_under_the_cap_with_exact_stats(self):
        """1,000,000 distinct values: the default cache never passes 10,000, and every one is a miss."""
        capture(intern=True)
        interner = foundation._state.interner
        sizes = set()
        for start in range(0, 1_000_000, 1000):
            fields = {f"k{i}": f"value-{start + i}" for i in range(1000)}
            interner.share_values(fields)
            sizes.add(foundation.intern_stats()["cache_size"])
        assert max(sizes) == 10_000
        assert foundation.intern_stats() == {"cache_size": 10_000, "hits": 0, "misses": 1_000_000,
                                             "hit_rate": 0.0}
        interner.share_values({"again": "value-999999", "gone": "value-0"})
        assert foundation.intern_stats()["hits"] == 1 and foundation.intern_stats()["misses"] == 1_000_001

    def test_only_short_strings_of_a_records_own_fields(self, log):
        """Strings past 256 characters, non-strings and a bound logger's shared fields
        (also when one of them is a secret) are left alone."""
        capture(mode="sync", intern=True)
        log.info("e", text="x" * 257, n=5, flag=True, ratio=0.5)
        log.bind(tenant=self.fresh("acme")).info("e")
        bound = log.bind(tenant="acme", password="hunter2")
        bound.info("e")
        bound.info("e")
        assert foundation.intern_stats()["hits"] + foundation.intern_stats()["misses"] == 0
        log.info("e", text="y" * 256)
        assert foundation.intern_stats()["misses"] == 1

    def test_threads_count_exactly(self, log):
        """8 threads logging the same 10 values: hits + misses is every value, misses at most 10 a value."""
        capture(intern=True)

        def work():
            for i in range(500):
                log.info("e", user=self.fresh(f"usr_{i % 10}"))

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert not any(thread.is_alive() for thread in threads)
        stats = foundation.intern_stats()
        assert (stats["hits"] + stats["misses"], stats["misses"], stats["cache_size"]) == (4000, 10, 10)

    def test_a_call_in_the_middle_of_a_call_does_not_deadlock(self, log):
        """A signal handler that logs while this thread holds the cache: written, counted, no deadlock."""
        out = capture(mode="sync", intern=True)
        fired = interrupt_at_each_line(lambda: log.info("outer", user=self.fresh("usr_1"), region="eu"),
                                       lambda: log.info("inner", user=self.fresh("usr_1")))
        assert fired >= 5
        events = [record["event"] for record in out.records()]
        assert events.count("inner") == fired
        stats = foundation.intern_stats()
        assert stats["hits"] + stats["misses"] == 2 * events.count("outer") + fired

    def test_fork_child_interns_at_once(self, tmp_path):
        """A thread holding the cache's lock at fork() does not stop the child from logging."""
        script = textwrap.dedent(f"""
            import os, sys, threading, foundation
            foundation.configure(file={str(tmp_path / "out.log")!r}, intern=True)
            log = foundation.get_logger("app")
            interner = foundation._state.interner
            held, done = threading.Event(), threading.Event()
            def hold():  # another thread inside share_values() at fork()
                with interner._lock:
                    held.set()
                    done.wait(30)
            threading.Thread(target=hold, daemon=True).start()
            held.wait(30)
            pid = os.fork()
            if pid == 0:
                import signal
                signal.alarm(10)  # a deadlock ends the child with SIGALRM
                log.info("child", user="usr_1")
                foundation.flush(5)
                os._exit(0)
            done.set()
            _, status = os.waitpid(pid, 0)
            print(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status)
        """)
        result = subprocess.run([sys.executable, "-c", script], cwd=str(HERE), env=clean_env(),
                                capture_output=True, text=True, timeout=60)
        assert result.stdout.strip() == "0", result.stderr
        assert "child" in (tmp_path / "out.log").read_text()

    @pytest.mark.parametrize("bad", [-1, 1_000_001, "yes", 2.5, None])
    def test_bad_cap_raises_at_configure(self, bad):
        with pytest.raises((TypeError, ValueError), match="intern"):
            foundation.configure(intern=bad)


# ---------------------------------------------------------------------------
# Ring buffer: the last records in memory, and the flight recorder
# ---------------------------------------------------------------------------

class TestRingBuffer:
    """RingBuffer (standalone and through configure(ring_buffer=N)): what it keeps, finds and flushes."""

    # -- helpers -------------------------------------------------------------------
    @staticmethod
    def feed(ring, level, event, created=None, **fields):
        """Hand ``ring`` one plain LogRecord of logger ``std``, as logging would; ``fields`` as extras."""
        record = logging.makeLogRecord({"name": "std", "levelno": level, "levelname": logging.getLevelName(level),
                                        "msg": event, "created": time.time() if created is None else created,
                                        **fields})
        ring.handle(record)

    @staticmethod
    def std_logger(monkeypatch, name):
        """``logging.getLogger(name)`` at DEBUG that does not propagate (restored after the test)."""
        std = logging.getLogger(name)
        monkeypatch.setattr(std, "propagate", False)
        std.setLevel(logging.DEBUG)
        return std

    @staticmethod
    def events(items):
        return [item["event"] for item in items]

    @staticmethod
    def written(out):
        """(event, buffered) of each record written, in order: buffered is None when the key is absent."""
        return [(record["event"], record.get("buffered")) for record in out.records()]

    # -- keeping ----------------------------------------------------------------------
    def test_keeps_exactly_the_last_n_of_a_million(self, log):
        """1,000,000 DEBUG calls below the output level (configure(ring_buffer=1000, level="INFO")):
        the ring holds exactly the last 1,000, oldest first, total counts all, and none is written."""
        out = capture(mode="sync", level="INFO", ring_buffer=1000)
        ring = foundation.get_ring_buffer()
        debug = log.debug
        for i in range(1_000_000):
            debug("tick", i=i)
        assert ring.total == 1_000_000
        recent = ring.get_recent(5000)  # more than it holds: it gives what it has
        assert [item["i"] for item in recent] == list(range(999_000, 1_000_000))
        assert [item["i"] for item in ring.get_recent(3)] == [999_997, 999_998, 999_999]
        assert out.text() == ""

    def test_get_recent_gives_dicts_with_library_keys_then_fields(self, attach, monkeypatch):
        """get_recent(n): the last n, oldest first; each a dict: timestamp (epoch float), level
        (lower case), logger, event, then the fields in call order."""
        ring = attach(foundation.RingBuffer(10), "ringtest.recent")
        std = self.std_logger(monkeypatch, "ringtest.recent")
        before = time.time()
        std.debug("first", extra={"user": "bob", "n": 1})
        std.warning("second %s", "call", extra={"n": 2})
        std.error("third")
        after = time.time()
        recent = ring.get_recent()
        assert [list(item) for item in recent] == [["timestamp", "level", "logger", "event", "user", "n"],
                                                  ["timestamp", "level", "logger", "event", "n"],
                                                  ["timestamp", "level", "logger", "event"]]
        assert [(i["level"], i["logger"], i["event"]) for i in recent] == [
            ("debug", "ringtest.recent", "first"), ("warning", "ringtest.recent", "second call"),
            ("error", "ringtest.recent", "third")]
        assert all(type(i["timestamp"]) is float and before <= i["timestamp"] <= after for i in recent)
        assert (recent[0]["user"], recent[0]["n"], recent[1]["n"]) == ("bob", 1, 2)
        assert self.events(ring.get_recent(2)) == ["second call", "third"]
        assert ring.get_recent(0) == []

    def test_facade_keeps_what_is_not_written_and_what_is(self, log):
        """configure(ring_buffer=N, level="INFO"): DEBUG calls are kept and not written; what the handler
        writes is kept too, a plain logging record that reaches it included; TRACE (below
        ring_buffer_level DEBUG) is not kept."""
        out = capture(mode="sync", level="INFO", ring_buffer=100, flush_level=None)
        log.trace("too-low")
        log.debug("quiet", n=1)
        log.info("loud", n=2)
        logging.getLogger("plain").warning("plain-warning", extra={"n": 3})
        logging.getLogger("plain").debug("plain-debug")  # below the root's level: reaches nothing
        assert self.written(out) == [("loud", None), ("plain-warning", None)]
        recent = foundation.get_ring_buffer().get_recent()
        assert [(i["event"], i["logger"], i["n"]) for i in recent] == [
            ("quiet", "app", 1), ("loud", "app", 2), ("plain-warning", "plain", 3)]
        assert foundation.get_ring_buffer().total == 3

    def test_kept_only_where_a_written_record_would_pass(self, log):
        """A record below the output level is kept only where a written one would get
        through: not from a disabled logger, not under logging.disable(), not past a
        filter of the logger or of the handler."""
        capture(mode="sync", level="INFO", ring_buffer=100, flush_level=None)
        std = logging.getLogger("app")
        log.debug("warm", n=0)
        log.debug("kept", n=1)  # the plain path: its level is looked up
        std.disabled = True
        log.debug("logger-off", n=2)
        std.disabled = False
        log.debug("on-again", n=3)
        logging.disable(logging.DEBUG)
        try:
            log.debug("logging-disabled", n=4)
        finally:
            logging.disable(logging.NOTSET)
        for where in (std, foundation._state.handler):
            reject = logging.Filter("nothing-matches")
            where.addFilter(reject)
            try:
                log.debug("filtered", n=5)
            finally:
                where.removeFilter(reject)
        log.debug("after", n=6)
        assert self.events(foundation.get_ring_buffer().get_recent()) == ["warm", "kept", "on-again", "after"]

    def test_ring_buffer_level_bounds_what_is_kept(self, log):
        """ring_buffer_level="INFO" with level="WARNING": INFO is kept (not written), DEBUG is neither;
        the ERROR then writes the kept INFO first."""
        out = capture(mode="sync", level="WARNING", ring_buffer=100, ring_buffer_level="INFO")
        log.debug("not-kept")
        log.info("kept")
        log.error("boom")
        assert self.written(out) == [("kept", True), ("boom", None)]
        assert self.events(foundation.get_ring_buffer().get_recent()) == ["kept", "boom"]

    def test_records_kept_below_the_output_level_are_not_sampled(self, log):
        """A sampler on the event thins what is written, not what is only kept: every DEBUG call is kept,
        and none is counted as sampled out."""
        out = capture(mode="sync", level="INFO", ring_buffer=100, flush_level=None,
                      samplers={"noisy": foundation.RateLimiter(1.0, 1, clock=FakeClock())})
        for i in range(5):
            log.debug("noisy", i=i)
        assert [item["i"] for item in foundation.get_ring_buffer().get_recent()] == [0, 1, 2, 3, 4]
        assert foundation.stats()["sampled_out"] == 0
        for i in range(5):
            log.info("noisy", i=10 + i)
        assert [r["i"] for r in out.records()] == [10]  # the sampler is at work on what is written
        assert foundation.stats()["sampled_out"] == 4

    def test_ring_buffer_true_false_and_zero(self):
        """ring_buffer=True is 10,000 records; False and 0 are off (get_ring_buffer() is None)."""
        capture(ring_buffer=True)
        ring = foundation.get_ring_buffer()
        assert type(ring) is foundation.RingBuffer and ring.capacity == 10_000
        assert (ring.level, ring.flush_level) == (foundation.DEBUG, foundation.ERROR)
        for off in (False, 0):
            capture(ring_buffer=off)
            assert foundation.get_ring_buffer() is None
        capture(ring_buffer=7)
        assert foundation.get_ring_buffer().capacity == 7

    def test_secrets_are_redacted_in_kept_records(self, log, attach):
        """Kept records hold redacted values: top-level and nested secrets, and a password in a URL,
        through the facade and from a plain logging record alike; so does what a flush writes."""
        out = capture(mode="sync", level="INFO", ring_buffer=100)
        log.debug("login", **SECRETS, url="postgres://bob:hunter2@db/app")
        logging.getLogger("plain").warning("plain", extra={"password": "hunter2"})
        ring = foundation.get_ring_buffer()
        kept, plain = ring.get_recent()
        assert {k: kept[k] for k in REDACTED} == REDACTED
        assert "hunter2" not in kept["url"] and "bob" in kept["url"]
        assert plain["password"] == "[REDACTED]"
        assert ring.search(password="hunter2") == []
        assert len(ring.search(password="[REDACTED]")) == 2
        log.error("boom")
        text = out.text()
        assert "hunter2" not in text and "k-123" not in text
        assert [r["password"] for r in out.records() if "password" in r] == ["[REDACTED]", "[REDACTED]"]
        standalone = attach(foundation.RingBuffer(5), "ringtest.secret")
        logging.getLogger("ringtest.secret").error("e", extra={"api_key": "k-123", "ok": "fine"})
        assert standalone.get_recent()[0]["api_key"] == "[REDACTED]"
        assert standalone.get_recent()[0]["ok"] == "fine"

    def test_clear_empties_and_total_counts_on(self):
        """clear() forgets every kept record (get_recent, search, and the next flush); total counts
        every record ever appended and clear() does not reset it."""
        keep = Keep()
        ring = foundation.RingBuffer(3, flush_level="ERROR", target=keep)
        assert ring.total == 0
        for i in range(5):
            self.feed(ring, logging.DEBUG, f"d{i}")
        assert ring.total == 5 and len(ring.get_recent()) == 3
        ring.clear()
        assert ring.get_recent() == [] and ring.search() == [] and ring.total == 5
        self.feed(ring, logging.DEBUG, "after")
        self.feed(ring, logging.ERROR, "boom")
        assert [r.getMessage() for r in keep.records] == ["after", "boom"]  # the cleared ones are not written
        assert ring.total == 7
        assert self.events(ring.get_recent()) == ["after", "boom"]

    # -- search ------------------------------------------------------------------------
    def search_ring(self):
        ring = foundation.RingBuffer(100)
        self.feed(ring, logging.DEBUG, "query", created=100.0, user="bob", table="a")
        self.feed(ring, logging.INFO, "login", created=101.0, user="bob")
        self.feed(ring, logging.WARNING, "query", created=102.0, user="amy", table="a")
        self.feed(ring, logging.ERROR, "login", created=103.0, user="amy", attempts=3)
        self.feed(ring, logging.CRITICAL, "query", created=104.0, user="bob", table="b")
        return ring

    def test_search_by_event(self):
        """search(event=...) gives the records of that event, oldest first."""
        ring = self.search_ring()
        assert [i["timestamp"] for i in ring.search(event="query")] == [100.0, 102.0, 104.0]
        assert [i["timestamp"] for i in ring.search("login")] == [101.0, 103.0]
        assert ring.search(event="nothing") == []

    def test_search_by_level_means_that_level_or_above(self):
        """search(level=...) (name or int) gives the records at that level or above."""
        ring = self.search_ring()
        assert [i["level"] for i in ring.search(level="WARNING")] == ["warning", "error", "critical"]
        assert [i["level"] for i in ring.search(level=logging.ERROR)] == ["error", "critical"]
        assert len(ring.search(level="debug")) == 5
        with pytest.raises(ValueError):
            ring.search(level="nope")

    def test_search_since_is_at_or_after(self):
        """search(since=t): records at or after epoch time t (an int or a float)."""
        ring = self.search_ring()
        assert [i["timestamp"] for i in ring.search(since=102.0)] == [102.0, 103.0, 104.0]
        assert [i["timestamp"] for i in ring.search(since=103)] == [103.0, 104.0]
        assert [i["timestamp"] for i in ring.search(since=101.5)] == [102.0, 103.0, 104.0]
        assert ring.search(since=104.5) == []
        with pytest.raises(TypeError):
            ring.search(since="yesterday")

    def test_search_by_fields_must_equal(self):
        """search(**fields): each field must be present and equal; a missing field does not match."""
        ring = self.search_ring()
        assert [i["timestamp"] for i in ring.search(user="bob")] == [100.0, 101.0, 104.0]
        assert [i["timestamp"] for i in ring.search(user="bob", table="a")] == [100.0]
        assert [i["timestamp"] for i in ring.search(attempts=3)] == [103.0]
        assert ring.search(attempts=4) == [] and ring.search(user="bo") == []
        assert ring.search(colour=None) == []  # absent is not None

    def test_search_combined_criteria_all_hold(self):
        """Several criteria: a record must meet every one."""
        ring = self.search_ring()
        found = ring.search(event="query", level="WARNING", since=102.0, user="bob")
        assert [(i["timestamp"], i["table"]) for i in found] == [(104.0, "b")]
        assert [i["timestamp"] for i in ring.search(event="login", level="INFO", user="amy")] == [103.0]
        assert ring.search(event="login", level="CRITICAL") == []
        assert len(ring.search()) == 5  # no criterion: everything kept

    # -- flight recorder, standalone ---------------------------------------------------------
    def test_standalone_flight_recorder_writes_kept_records_first_once(self, attach, monkeypatch):
        """RingBuffer(flush_level=ERROR, target=handler): an ERROR writes the records kept since the
        last flush, oldest first, each with buffered=True and its fields, then itself; the next ERROR
        writes only what came after."""
        keep = Keep()
        ring = attach(foundation.RingBuffer(100, flush_level="ERROR", target=keep), "ringtest.fr")
        std = self.std_logger(monkeypatch, "ringtest.fr")
        std.debug("d1", extra={"n": 1})
        std.info("i1")
        std.debug("d2")
        assert keep.records == []  # nothing yet: kept only
        std.error("e1")
        std.debug("d3")
        std.error("e2")
        std.critical("c1")
        assert [(r.getMessage(), r.levelname, getattr(r, "buffered", None)) for r in keep.records] == [
            ("d1", "DEBUG", True), ("i1", "INFO", True), ("d2", "DEBUG", True), ("e1", "ERROR", None),
            ("d3", "DEBUG", True), ("e2", "ERROR", None), ("c1", "CRITICAL", None)]
        assert keep.records[0].n == 1 and keep.records[0].name == "ringtest.fr"
        assert self.events(ring.get_recent()) == ["d1", "i1", "d2", "e1", "d3", "e2", "c1"]

    def test_standalone_flight_recorder_into_a_foundation_handler(self):
        """The target may be a foundation Handler: the kept records are rendered with "buffered": true."""
        stream = io.StringIO()
        handler = foundation.Handler(stream=stream, format="json", mode="sync")
        ring = foundation.RingBuffer(10, flush_level="WARNING", target=handler)
        self.feed(ring, logging.DEBUG, "a", n=1)
        self.feed(ring, logging.INFO, "b", token="t")
        self.feed(ring, logging.WARNING, "c")
        self.feed(ring, logging.ERROR, "d")
        assert handler.flush_wait(WAIT)
        records = [loads(line) for line in split_lines(stream.getvalue())]
        assert [(r["event"], r.get("buffered")) for r in records] == [
            ("a", True), ("b", True), ("c", None), ("d", None)]
        assert (records[0]["n"], records[1]["token"]) == (1, "[REDACTED]")

    def test_standalone_evicted_records_are_not_flushed(self):
        """Records the ring has let go of (more than capacity came after) are not written by the flush:
        what it writes is exactly what it still keeps."""
        keep = Keep()
        ring = foundation.RingBuffer(4, flush_level="ERROR", target=keep)
        for i in range(10):
            self.feed(ring, logging.DEBUG, f"d{i}")
        self.feed(ring, logging.ERROR, "boom")
        written = [r.getMessage() for r in keep.records]
        assert written[-1] == "boom"
        assert written[:-1] == [e for e in self.events(ring.get_recent()) if e != "boom"]
        assert {"d7", "d8", "d9"} <= set(written)
        assert not {f"d{i}" for i in range(6)} & set(written)
        assert all(r.buffered is True for r in keep.records[:-1])

    def test_flush_level_none_keeps_only(self):
        """Without flush_level a RingBuffer only keeps: an ERROR writes nothing anywhere."""
        ring = foundation.RingBuffer(5)
        self.feed(ring, logging.DEBUG, "d")
        self.feed(ring, logging.CRITICAL, "c")
        assert self.events(ring.get_recent()) == ["d", "c"] and ring.target is None

    def test_a_target_that_raises_never_raises_into_the_caller(self, attach, monkeypatch):
        """A target whose emit raises: the log call returns, the error is counted, the records dropped."""
        capture(mode="sync")

        class Raising(logging.Handler):
            def emit(self, record):
                raise OSError("target down")

        attach(foundation.RingBuffer(10, flush_level="ERROR", target=Raising()), "ringtest.bad")
        std = self.std_logger(monkeypatch, "ringtest.bad")
        std.debug("kept")
        std.error("boom")  # must not raise
        std.error("again")
        stats = foundation.stats()
        assert stats["errors"] >= 1
        assert stats["dropped"] >= 2  # "kept" and "boom" at least

    @pytest.mark.parametrize("capacity", [0, -1, "10", True, 1.5, None])
    def test_bad_capacity_raises(self, capacity):
        """capacity must be a whole number of at least 1 (not a bool, str or float)."""
        with pytest.raises((TypeError, ValueError), match="capacity"):
            foundation.RingBuffer(capacity)

    def test_bad_flush_level_and_target_raise(self):
        """flush_level without a target is a ValueError; a target that is not a Handler a TypeError;
        a bad flush_level a ValueError."""
        with pytest.raises(ValueError, match="target"):
            foundation.RingBuffer(10, flush_level="ERROR")
        with pytest.raises(TypeError, match="target"):
            foundation.RingBuffer(10, flush_level="ERROR", target=io.StringIO())
        with pytest.raises(TypeError, match="target"):
            foundation.RingBuffer(10, target=print)
        with pytest.raises(ValueError, match="flush_level"):
            foundation.RingBuffer(10, flush_level="nope", target=Keep())

    # -- flight recorder, configured -----------------------------------------------------------
    @pytest.mark.parametrize("mode", MODES)
    def test_configured_flight_recorder_writes_kept_debug_before_error_once(self, mode, log):
        """configure(ring_buffer=N, level="INFO"): an ERROR writes the kept DEBUG records first, oldest
        first, with buffered=true, then itself; the next ERROR does not write them again."""
        out = capture(mode=mode, level="INFO", ring_buffer=100)
        log.debug("d1", n=1)
        log.info("i1")
        log.debug("d2")
        assert self.written(out) == [("i1", None)]
        log.error("e1")
        log.debug("d3")
        log.error("e2")
        log.error("e3")
        assert self.written(out) == [("i1", None), ("d1", True), ("d2", True), ("e1", None),
                                     ("d3", True), ("e2", None), ("e3", None)]
        first = out.records()[1]
        assert (first["level"], first["logger"], first["n"]) == ("debug", "app", 1)

    def test_plain_logging_error_flushes_too(self, log):
        """A plain logging ERROR that reaches the configured handler flushes the kept DEBUG records."""
        out = capture(mode="sync", level="INFO", ring_buffer=100)
        log.debug("d1")
        logging.getLogger("plain").error("plain-error")
        assert self.written(out) == [("d1", True), ("plain-error", None)]

    def test_configured_flush_level(self, log):
        """flush_level="WARNING" flushes at WARNING; flush_level=None keeps only and never flushes."""
        out = capture(mode="sync", level="INFO", ring_buffer=100, flush_level="WARNING")
        log.debug("d1")
        log.warning("w1")
        assert self.written(out) == [("d1", True), ("w1", None)]
        out = capture(mode="sync", level="INFO", ring_buffer=100, flush_level=None)
        log.debug("d2")
        log.critical("c1")
        assert self.written(out) == [("c1", None)]
        assert self.events(foundation.get_ring_buffer().get_recent()) == ["d2", "c1"]

    def test_buffered_marks_only_the_late_records(self, log):
        """Only records written by a flush carry buffered=true; the kept record itself is not changed."""
        out = capture(mode="sync", level="INFO", ring_buffer=100)
        log.debug("late", n=1)
        log.info("on-time", n=2)
        log.error("trigger", n=3)
        records = out.records()
        assert [(r["event"], "buffered" in r) for r in records] == [
            ("on-time", False), ("late", True), ("trigger", False)]
        assert records[1]["buffered"] is True
        assert all("buffered" not in item for item in foundation.get_ring_buffer().get_recent())

    def test_configured_evicted_records_are_not_flushed(self, log):
        """ring_buffer=5: of 20 DEBUG records the ERROR writes only those still kept, none it let go of."""
        out = capture(mode="sync", level="INFO", ring_buffer=5)
        for i in range(20):
            log.debug(f"d{i}")
        log.error("boom")
        written = self.written(out)
        kept = [e for e in self.events(foundation.get_ring_buffer().get_recent()) if e != "boom"]
        assert written == [(e, True) for e in kept] + [("boom", None)]
        assert {"d17", "d18", "d19"} <= set(kept)
        assert len(written) <= 6

    def test_batch_flight_recorder(self, log):
        """In a batch: the kept DEBUG records are written before the ERROR, with buffered=true, once."""
        out = capture(mode="sync", level="INFO", ring_buffer=100)
        with log.batch() as b:
            b.debug("d1")
            b.debug("d2")
            b.error("e1")
        with log.batch() as b:
            b.info("i1")
            b.error("e2")
        assert self.written(out) == [("d1", True), ("d2", True), ("e1", None), ("i1", None), ("e2", None)]

    @pytest.mark.parametrize("batched", [False, True], ids=["calls", "batch"])
    def test_batch_writes_each_kept_record_once_before_the_error(self, batched, log):
        """A batch writes the same lines as the same calls made one by one, each once, the kept ones
        before the error. In a batch (README) a record only the ring keeps reaches it at once, the
        others when the batch is handed over: the ring's order, and a flush's, follow that."""
        out = capture(mode="sync", level="INFO", ring_buffer=100)

        def calls(target):
            target.info("i1")
            target.debug("d1")
            target.error("e1")
            target.debug("d2")
            target.error("e2")

        if batched:
            with log.batch() as b:
                calls(b)
        else:
            calls(log)
        if batched:
            assert self.written(out) == [("i1", None), ("d1", True), ("d2", True), ("e1", None), ("e2", None)]
            assert self.events(foundation.get_ring_buffer().get_recent()) == ["d1", "d2", "i1", "e1", "e2"]
        else:
            assert self.written(out) == [("i1", None), ("d1", True), ("e1", None), ("d2", True), ("e2", None)]
            assert self.events(foundation.get_ring_buffer().get_recent()) == ["i1", "d1", "e1", "d2", "e2"]

    def test_reconfigure_without_ring_buffer_turns_it_off(self, log):
        """configure() without ring_buffer: get_ring_buffer() is None, DEBUG is neither kept nor written,
        and an ERROR writes nothing kept before."""
        capture(mode="sync", level="INFO", ring_buffer=10)
        old = foundation.get_ring_buffer()
        log.debug("before")
        assert old.total == 1
        out = capture(mode="sync", level="INFO")
        assert foundation.get_ring_buffer() is None
        log.debug("after")
        log.error("boom")
        assert self.written(out) == [("boom", None)]
        assert old.total == 1 and self.events(old.get_recent()) == ["before"]

    @pytest.mark.parametrize("option, value", [
        ("ring_buffer", -1), ("ring_buffer", "x"), ("ring_buffer", 1.5), ("ring_buffer", 100_000_001),
        ("ring_buffer_level", "nope"), ("ring_buffer_level", -5), ("flush_level", "nope"), ("flush_level", -5),
    ])
    def test_bad_options_raise_at_configure(self, option, value):
        """A bad ring_buffer, ring_buffer_level or flush_level raises at configure(), naming the option,
        and leaves the set-up as it was."""
        capture(ring_buffer=10)
        ring = foundation.get_ring_buffer()
        options = {"ring_buffer": 10, option: value}
        with pytest.raises((TypeError, ValueError), match=option):
            foundation.configure(stream=io.StringIO(), **options)
        assert foundation.get_ring_buffer() is ring

    # -- threads -----------------------------------------------------------------------------------
    def test_eight_threads_lose_nothing(self, log):
        """8 threads appending at once (DEBUG kept below the output level): total and contents exact,
        each thread's records in its order."""
        capture(mode="sync", level="INFO", ring_buffer=100_000)
        ring = foundation.get_ring_buffer()

        def work(n):
            for i in range(5000):
                log.debug("tick", thread=n, i=i)

        run_threads(8, work)
        assert ring.total == 40_000
        kept = ring.get_recent(100_000)
        assert len(kept) == 40_000
        for n in range(8):
            assert [item["i"] for item in kept if item["thread"] == n] == list(range(5000))

    def test_eight_threads_standalone_lose_nothing(self):
        """8 threads handing a standalone RingBuffer records at once: total and contents exact."""
        ring = foundation.RingBuffer(100_000)

        def work(n):
            record = logging.makeLogRecord({"name": "std", "levelno": logging.INFO, "levelname": "INFO"})
            for i in range(1000):
                record.msg = f"t{n}-{i}"
                ring.emit(record)

        run_threads(8, work)
        assert ring.total == 8000
        assert sorted(self.events(ring.get_recent(10_000))) == sorted(f"t{n}-{i}" for n in range(8)
                                                                     for i in range(1000))

    def test_eight_threads_flight_recorder_writes_each_kept_record_once(self, log):
        """8 threads logging DEBUG with an ERROR every 100: every DEBUG record is written exactly once,
        buffered, and every ERROR once."""
        out = capture(level="INFO", ring_buffer=100_000)

        def work(n):
            for i in range(1000):
                log.debug("tick", thread=n, i=i)
                if i % 100 == 99:
                    log.error("boom", thread=n, i=i)

        run_threads(8, work)
        log.error("last")
        records = out.records()
        ticks = [(r["thread"], r["i"]) for r in records if r["event"] == "tick"]
        assert sorted(ticks) == [(n, i) for n in range(8) for i in range(1000)]
        assert all(r.get("buffered") is True for r in records if r["event"] == "tick")
        assert len([r for r in records if r["event"] == "boom"]) == 80
        assert records[-1]["event"] == "last"
        assert foundation.get_ring_buffer().total == 8000 + 81

    def test_eight_threads_through_a_small_ring_never_write_a_record_twice(self, log):
        """A ring of 2 records, 8 threads switching every microsecond, each logging DEBUG then ERROR:
        no record is written twice (a written one is never taken for unwritten), and each ERROR once."""
        out = capture(level="INFO", ring_buffer=2)
        before = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        try:
            run_threads(8, lambda n: [(log.debug("tick", t=n, i=i), log.error("boom", t=n, i=i))
                                      for i in range(300)])
        finally:
            sys.setswitchinterval(before)
        records = out.records()
        seen = [(r["event"], r["t"], r["i"]) for r in records]
        assert len(seen) == len(set(seen)), "a record was written twice"
        assert sorted(r for r in seen if r[0] == "boom") == [("boom", n, i) for n in range(8) for i in range(300)]
        assert all(r.get("buffered") is True for r in records if r["event"] == "tick")

    def test_an_error_costs_what_was_kept_since_the_last_flush_not_the_ring(self, log):
        """A flush takes only what was kept since the last one: with a ring of 1,000,000 records
        full of written ones, an ERROR with nothing to flush does not walk the ring."""
        capture(level="INFO", ring_buffer=1_000_000, mode="sync", stream=io.StringIO())
        ring = foundation.get_ring_buffer()
        for i in range(200_000):
            ring.keep_written((0.0, logging.INFO, "app", "e", {}, None, None, "", 0))
        assert len(ring._unwritten) == 200_000  # white-box: one slot per kept record
        log.error("first")  # takes the 200,000 slots (all written: nothing to write)
        assert len(ring._unwritten) == 0
        log.error("second")
        assert len(ring._unwritten) == 0

    @pytest.mark.parametrize("off", ["disabled", "logging.disable", "logger filter", "handler filter"])
    def test_what_would_not_be_written_for_another_reason_is_not_kept(self, off, log):
        """Only a record below the output level is kept to be written later: one from a disabled
        logger, under logging.disable(), or that a filter drops is not kept (nor flushed)."""
        out = capture(mode="sync", level="INFO", ring_buffer=100)
        log.debug("kept", ssn="0")  # the level and the keys are known: the next calls take the plain path
        std = logging.getLogger("app")
        dropper = logging.Filter("nothing-passes")
        if off == "disabled":
            std.disabled = True
        elif off == "logging.disable":
            logging.disable(logging.INFO)
        elif off == "logger filter":
            std.addFilter(dropper)
        else:
            foundation._state.handler.addFilter(dropper)
        assert foundation._DISABLE_READABLE  # 3.9 to 3.13: the plain path reads logging.disable()'s level
        try:
            for _ in range(2):
                log.debug("hidden", ssn="123-45-6789")
        finally:
            std.disabled = False
            logging.disable(logging.NOTSET)
            std.removeFilter(dropper)
            foundation._state.handler.removeFilter(dropper)
        foundation.get_logger("other").error("boom")
        assert [r["event"] for r in out.records()] == ["kept", "boom"]
        assert foundation.get_ring_buffer().total == 2

    @pytest.mark.parametrize("mode", MODES)
    def test_a_flush_in_the_middle_of_a_flush_writes_each_record_once(self, mode, log):
        """A signal handler (or a thread switch) that logs an ERROR and then a DEBUG at any point of
        another ERROR's flush: every kept DEBUG record is still written exactly once, by that flush
        or by a later one, and none is lost silently."""
        out = capture(mode=mode, level="INFO", ring_buffer=1000)
        names = itertools.count()
        runs = itertools.count()

        def interrupt():
            n = next(names)
            log.error("inner", n=n)
            log.debug("late", n=n)  # kept after the inner flush: a later flush must write it

        fired = interrupt_at_each_line(lambda: log.error("outer"), interrupt,
                                       before=lambda: log.debug("early", n=next(runs)))
        assert fired >= 10
        log.error("final")
        records = out.records()
        assert sorted(r["n"] for r in records if r["event"] == "late") == list(range(fired))
        assert sorted(r["n"] for r in records if r["event"] == "early") == list(range(next(runs)))
        assert all(r["buffered"] is True for r in records if r["event"] in ("early", "late"))
        stats = foundation.stats()
        assert (stats["dropped"], stats["errors"]) == (0, 0)


# ---------------------------------------------------------------------------
# Resource monitor
# ---------------------------------------------------------------------------

class TestResourceMonitor:
    """ResourceMonitor: throughput, CPU and memory as one snapshot; periodic reports; configure(monitor=...)."""

    KEYS = ["elapsed_seconds", "total_logs", "logs_per_second", "bytes_logged", "bytes_per_second",
            "dropped", "queue_depth", "cpu_user_seconds", "cpu_system_seconds", "cpu_percent",
            "max_rss_mb", "rss_mb", "memory_growth_mb", "thread_count"]
    MB = 1 << 20

    @pytest.fixture(autouse=True)
    def monitors(self):
        """The monitors a test starts (it appends them), and configure()'s: stopped at teardown, since
        restore_logging's shutdown() does not stop a monitor's thread."""
        started = []
        yield started
        for monitor in started + [foundation._state.monitor]:
            if monitor is not None:
                monitor.stop()
        foundation._state.monitor = None

    @staticmethod
    def monitor_threads():
        return [t for t in threading.enumerate() if t.name == "foundation-monitor" and t.is_alive()]

    @staticmethod
    def proc_status_kib(key):
        """A ``kB`` value of /proc/self/status (VmRSS, VmHWM), in KiB."""
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {key} in /proc/self/status")

    # -- snapshot --------------------------------------------------------------------------
    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
    def test_a_monitor_in_a_forked_child_counts_only_the_childs_records(self):
        """A monitor made before fork(): in the child it counts from zero, as the child's stats() do."""
        result = run_python("""
            import io, json, os, foundation
            foundation.configure(stream=io.StringIO(), format="json", mode="sync")
            log = foundation.get_logger("app")
            for _ in range(100):
                log.info("parent")
            monitor = foundation.ResourceMonitor(usage=lambda: None, rss=lambda: None)
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                log.info("child")
                snapshot = monitor.snapshot()
                os.write(write, json.dumps([snapshot["total_logs"], snapshot["bytes_logged"],
                                            foundation.stats()["bytes_written"]]).encode())
                os._exit(0)
            os.close(write)
            os.waitpid(pid, 0)
            print(os.read(read, 1000).decode())
        """)
        assert result.returncode == 0, result.stderr
        logs, logged, written = json.loads(result.stdout)
        assert (logs, logged) == (1, written) and written > 0

    def test_snapshot_has_exactly_the_keys(self):
        """snapshot() has exactly the documented keys, in the documented order."""
        capture(mode="sync")
        snapshot = foundation.ResourceMonitor().snapshot()
        assert list(snapshot) == self.KEYS
        assert snapshot["thread_count"] == threading.active_count()

    def test_rates_cpu_and_memory_are_exact(self, log):
        """With a fake clock and readers: counts are deltas since the monitor was made, rates divide them
        by the elapsed time, cpu_percent is CPU over wall time since the previous snapshot, memory in
        MiB rounded to 0.1."""
        out = capture(mode="sync")
        log.info("before")
        log.info("before")
        clock = FakeClock(100.0)
        usage = [(1.0, 0.5, 90 * self.MB)]
        rss = [100 * self.MB]
        monitor = foundation.ResourceMonitor(clock=clock, usage=lambda: usage[0], rss=lambda: rss[0])
        bytes_before = len(out.text().encode("utf-8"))
        for i in range(30):
            log.info("tick", i=i)
        logged = len(out.text().encode("utf-8")) - bytes_before
        clock.now = 104.0
        usage[0] = (2.0, 1.0, int(123.46 * self.MB))
        rss[0] = int(112.5 * self.MB)
        snapshot = monitor.snapshot()
        assert snapshot == {
            "elapsed_seconds": 4.0, "total_logs": 30, "logs_per_second": 7.5,
            "bytes_logged": logged, "bytes_per_second": round(logged / 4, 1),
            "dropped": 0, "queue_depth": 0, "cpu_user_seconds": 2.0, "cpu_system_seconds": 1.0,
            "cpu_percent": 37.5, "max_rss_mb": 123.5, "rss_mb": 112.5, "memory_growth_mb": 12.5,
            "thread_count": threading.active_count()}
        assert logged > 30 * 40
        clock.now = 106.0
        usage[0] = (2.4, 1.1, int(123.46 * self.MB))
        rss[0] = 96 * self.MB
        snapshot = monitor.snapshot()
        assert (snapshot["cpu_percent"], snapshot["logs_per_second"], snapshot["elapsed_seconds"]) == (25.0, 5.0, 6.0)
        assert (snapshot["rss_mb"], snapshot["memory_growth_mb"]) == (96.0, -4.0)
        snapshot = monitor.snapshot()  # no time passed since the previous one: no rate, no error
        assert snapshot["cpu_percent"] is None

    def test_dropped_is_the_delta_since_the_monitor_was_made(self, log):
        """dropped counts the records lost after the monitor was made, not before."""
        capture(stream=BrokenSink(OSError(errno.EIO, "I/O error")), mode="sync")
        for _ in range(3):
            log.info("lost-before")
        monitor = foundation.ResourceMonitor(clock=FakeClock(), usage=lambda: None, rss=lambda: None)
        for _ in range(5):
            log.info("lost-after")
        snapshot = monitor.snapshot()
        assert (snapshot["dropped"], snapshot["total_logs"], snapshot["bytes_logged"]) == (5, 5, 0)
        assert foundation.stats()["dropped"] == 8

    def test_counts_after_a_reconfigure_are_those_since_the_reset(self, log):
        """configure() resets stats(): a monitor made before it counts from the reset, so the records
        logged after it are all counted (none of them is taken for one from before the monitor)."""
        capture(mode="sync")
        for _ in range(5):
            log.info("before-monitor")
        monitor = foundation.ResourceMonitor(clock=FakeClock(), usage=lambda: None, rss=lambda: None)
        capture(mode="sync")
        for _ in range(10):
            log.info("after-reset")
        assert foundation.stats()["emitted"] == 10
        assert monitor.snapshot()["total_logs"] == 10

    def test_queue_depth_is_the_queues(self, gate, log):
        """queue_depth is the records waiting in the queue now."""
        capture(stream=gate, mode="queue")
        wait_writer_held(gate)
        for i in range(5):
            log.info("waiting", i=i)
        monitor = foundation.ResourceMonitor(usage=lambda: None, rss=lambda: None)
        depth = monitor.snapshot()["queue_depth"]
        assert depth == foundation.stats()["queue_depth"] and depth >= 5
        gate.gate.set()

    def test_without_resource_readers_the_keys_are_none(self):
        """usage() and rss() returning None (no resource module, no psutil, no /proc): the CPU and memory
        keys are None and nothing raises; the counts are still there."""
        capture(mode="sync")
        clock = FakeClock(5.0)
        monitor = foundation.ResourceMonitor(clock=clock, usage=lambda: None, rss=lambda: None)
        clock.now = 7.0
        snapshot = monitor.snapshot()
        for key in ("cpu_user_seconds", "cpu_system_seconds", "cpu_percent", "max_rss_mb", "rss_mb",
                    "memory_growth_mb"):
            assert snapshot[key] is None, key
        assert (snapshot["elapsed_seconds"], snapshot["total_logs"], snapshot["logs_per_second"]) == (2.0, 0, 0.0)

    def test_readers_that_raise_give_none_never_raise(self):
        """Readers that raise: the keys they feed are None; snapshot() never raises; once a reader works
        again its values come back."""
        capture(mode="sync")
        broken = [True]

        def usage():
            if broken[0]:
                raise OSError("no rusage")
            return (1.0, 2.0, 64 * self.MB)

        def rss():
            if broken[0]:
                raise RuntimeError("no rss")
            return 32 * self.MB

        clock = FakeClock(0.0)
        monitor = foundation.ResourceMonitor(clock=clock, usage=usage, rss=rss)
        clock.now = 1.0
        snapshot = monitor.snapshot()
        assert [snapshot[k] for k in ("cpu_user_seconds", "cpu_percent", "max_rss_mb", "rss_mb",
                                      "memory_growth_mb")] == [None] * 5
        broken[0] = False
        clock.now = 2.0
        snapshot = monitor.snapshot()
        assert (snapshot["cpu_user_seconds"], snapshot["max_rss_mb"], snapshot["rss_mb"]) == (1.0, 64.0, 32.0)
        clock.now = 4.0
        assert monitor.snapshot()["cpu_percent"] == 0.0

    def test_a_clock_that_raises_never_raises(self, log):
        """The clock is one of the readers the class replaces for tests ("Never raises: a reader that
        fails gives None"): a clock that raises does not make snapshot() or log_metrics() raise, and
        the counts are still there."""
        out = capture(mode="sync")
        clock = FakeClock(1.0)
        monitor = foundation.ResourceMonitor(clock=clock, usage=lambda: None, rss=lambda: None)
        log.info("x")
        clock.fail = True
        snapshot = monitor.snapshot()
        assert list(snapshot) == self.KEYS and snapshot["total_logs"] == 1
        monitor.log_metrics()
        assert out.records()[-1]["event"] == "performance_metrics"

    def test_a_clock_that_goes_back_gives_zero_rates(self, log):
        """A clock reading before the monitor's start: elapsed 0, rates 0.0, no ZeroDivisionError."""
        capture(mode="sync")
        clock = FakeClock(10.0)
        monitor = foundation.ResourceMonitor(clock=clock, usage=lambda: None, rss=lambda: None)
        log.info("x")
        clock.now = 9.0
        snapshot = monitor.snapshot()
        assert (snapshot["elapsed_seconds"], snapshot["logs_per_second"], snapshot["bytes_per_second"]) == (
            0.0, 0.0, 0.0)
        assert snapshot["total_logs"] == 1

    # -- readers ---------------------------------------------------------------------------
    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
    def test_statm_rss_is_the_current_rss_in_bytes(self):
        """_statm_rss(): a positive int of bytes, close to VmRSS of /proc/self/status, at most the peak."""
        before = self.proc_status_kib("VmRSS") * 1024
        value = foundation._statm_rss()
        after = self.proc_status_kib("VmRSS") * 1024
        assert type(value) is int and value > 0
        assert min(before, after) - 8 * self.MB <= value <= max(before, after) + 8 * self.MB
        import resource
        assert value <= resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 + 8 * self.MB

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is KiB on Linux")
    def test_resource_usage_peak_is_in_bytes(self):
        """_resource_usage(): (user s, system s, peak RSS in bytes); the peak is VmHWM (KiB) x 1024
        within a factor of 2, so ru_maxrss's KiB were turned into bytes."""
        user, system, peak = foundation._resource_usage()
        hwm = self.proc_status_kib("VmHWM") * 1024
        assert type(user) is float and type(system) is float and user > 0 and system >= 0
        assert type(peak) is int and hwm / 2 <= peak <= hwm * 2
        assert peak >= foundation._statm_rss() / 2

    def test_rss_reader_uses_psutil_when_importable(self, monkeypatch):
        """_rss_reader(): with psutil importable, the reader is psutil's Process().memory_info().rss."""
        fake = type(sys)("psutil")

        class Process:
            def memory_info(self):
                return type("MemInfo", (), {"rss": 123_456_789})()

        fake.Process = Process
        monkeypatch.setitem(sys.modules, "psutil", fake)
        assert foundation._rss_reader()() == 123_456_789

    def test_rss_reader_agrees_with_real_psutil(self):
        """With the real psutil installed, the reader's value is psutil's RSS (within 8 MB)."""
        psutil = pytest.importorskip("psutil")
        value = foundation._rss_reader()()
        assert abs(value - psutil.Process().memory_info().rss) < 8 * self.MB

    def test_rss_reader_falls_back_to_statm_without_psutil(self, monkeypatch):
        """_rss_reader(): when psutil cannot be imported, the reader is _statm_rss; a monitor made then
        reports rss_mb from it (on Linux)."""
        monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil raises ImportError
        assert foundation._rss_reader() is foundation._statm_rss
        if sys.platform.startswith("linux"):
            capture(mode="sync")
            assert foundation.ResourceMonitor().snapshot()["rss_mb"] > 0

    # -- reports -----------------------------------------------------------------------------
    def test_log_metrics_logs_the_snapshot(self, log):
        """log_metrics(logger): one INFO record, event performance_metrics, the snapshot's keys as fields,
        from that logger; by default from logger "foundation"."""
        out = capture(mode="sync")
        clock = FakeClock(0.0)
        monitor = foundation.ResourceMonitor(clock=clock, usage=lambda: (1.5, 0.25, 10 * self.MB),
                                             rss=lambda: 20 * self.MB)
        clock.now = 2.0
        monitor.log_metrics(foundation.get_logger("perf"))
        record = out.record()
        assert (record["level"], record["logger"], record["event"]) == ("info", "perf", "performance_metrics")
        assert [k for k in record if k in self.KEYS] == self.KEYS
        assert (record["elapsed_seconds"], record["cpu_user_seconds"], record["cpu_system_seconds"],
                record["max_rss_mb"], record["rss_mb"], record["memory_growth_mb"],
                record["cpu_percent"]) == (2.0, 1.5, 0.25, 10.0, 20.0, 0.0, 0.0)
        monitor.log_metrics()
        second = out.records()[1]
        assert (second["logger"], second["event"], second["total_logs"]) == ("foundation", "performance_metrics", 1)

    def test_start_logs_periodically_and_stop_returns_at_once(self, monitors):
        """start(0.01) logs performance_metrics again and again from a daemon thread; stop() returns
        within 1 s and the thread is gone."""
        out = capture(mode="sync")
        monitor = foundation.ResourceMonitor()
        monitors.append(monitor)
        monitor.start(0.01)
        try:
            threads = self.monitor_threads()
            assert len(threads) == 1 and threads[0].daemon
            wait_until(lambda: out.stream.getvalue().count("performance_metrics") >= 3, "three reports")
        finally:
            started = time.monotonic()
            monitor.stop()
            took = time.monotonic() - started
        assert took < 1.0
        assert not threads[0].is_alive() and self.monitor_threads() == []
        assert {r["logger"] for r in out.records()} == {"foundation"}

    def test_stop_does_not_wait_for_the_interval(self, monitors):
        """stop() on a monitor with a 60 s interval returns within 1 s, and its thread has ended."""
        capture(mode="sync")
        monitor = foundation.ResourceMonitor()
        monitors.append(monitor)
        monitor.start(60)
        threads = self.monitor_threads()
        assert len(threads) == 1
        started = time.monotonic()
        monitor.stop()
        assert time.monotonic() - started < 1.0
        assert not threads[0].is_alive()

    @pytest.mark.parametrize("bad", [0, -1, "x", float("nan"), float("inf")])
    def test_start_with_a_bad_interval_raises(self, bad, monitors):
        """start(interval) needs a finite number of seconds above 0."""
        monitor = foundation.ResourceMonitor(usage=lambda: None, rss=lambda: None)
        monitors.append(monitor)
        with pytest.raises((TypeError, ValueError), match="interval"):
            monitor.start(bad)
        assert self.monitor_threads() == []

    # -- configure(monitor=...) -------------------------------------------------------------
    def test_configure_monitor_logs_from_foundation(self):
        """configure(monitor=0.01) starts a monitor whose records come from logger "foundation";
        configure() again stops it."""
        out = capture(mode="sync", monitor=0.01)
        monitor = foundation._state.monitor
        assert type(monitor) is foundation.ResourceMonitor
        wait_until(lambda: "performance_metrics" in out.stream.getvalue(), "a report")
        threads = self.monitor_threads()
        assert len(threads) == 1
        record = next(r for r in out.records() if r["event"] == "performance_metrics")
        assert (record["logger"], record["level"]) == ("foundation", "info")
        assert [k for k in record if k in self.KEYS] == self.KEYS
        capture(mode="sync")
        assert foundation._state.monitor is None
        assert not threads[0].is_alive()

    def test_configure_monitor_true_is_every_minute(self):
        """configure(monitor=True): every 60 s; configure() without it stops it (_state.monitor is None)."""
        capture(monitor=True)
        monitor = foundation._state.monitor
        assert monitor is not None and monitor._interval == 60.0
        assert len(self.monitor_threads()) == 1
        capture()
        assert foundation._state.monitor is None and self.monitor_threads() == []
        for off in (False, None, 0):
            capture(monitor=off)
            assert foundation._state.monitor is None

    @pytest.mark.parametrize("bad", [-1, "x", float("nan"), float("inf")])
    def test_bad_monitor_raises_at_configure(self, bad):
        """A bad monitor value raises at configure(), naming the option, and starts nothing."""
        with pytest.raises((TypeError, ValueError), match="monitor"):
            foundation.configure(stream=io.StringIO(), monitor=bad)
        assert foundation._state.monitor is None and self.monitor_threads() == []
