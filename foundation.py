# SPDX-License-Identifier: MIT
"""Structured logging in one file: fast, non-blocking and lossless, standard library only.

``log.info("user_login", user_id=42)`` writes one structured line: a human
``key=value`` line on a terminal, JSON or logfmt for machines. Records are
ordinary :class:`logging.LogRecord` objects, so the standard library's handlers,
pytest's ``caplog`` and third-party integrations keep working; the fields travel
on the record as ``record.fields``.

Sections (``grep -n '^#   ' foundation.py`` prints them with line numbers):

1.  Levels and constants
2.  Errors and counters
3.  Lazy fields
4.  Context
5.  Records
6.  Rendering: values, escaping, redaction, emoji, line formats
7.  Batching writer: sinks, output, queue, writer thread, handlers
8.  Samplers
9.  Interning
10. Logger facade
11. Configuration
12. Module singletons and atexit
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import enum
import itertools
import json
import logging
import logging.handlers
import math
import operator
import os
import queue as queue_module
import re
import socket
import sys
import threading
import time
import traceback
import weakref
from collections import OrderedDict, deque
from collections.abc import Mapping
from itertools import islice, repeat
from time import time as _time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import AbstractSet, Any, Callable, Iterable, Iterator

__all__ = [
    # Levels
    "TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL",
    # Lazy fields
    "LazyField", "lazy",
    # Context
    "bind_context", "unbind_context", "clear_context", "get_context", "context",
    # Rendering
    "register_emoji_set", "DEFAULT_REDACT", "Formatter", "SyslogFormatter",
    # Batching writer
    "Handler", "OTLPHandler",
    # Samplers
    "RateSampler", "AdaptiveSampler", "ReservoirSampler", "RateLimiter",
    # Interning
    "intern_stats",
    # Ring buffer
    "RingBuffer", "get_ring_buffer",
    # Resource monitor
    "ResourceMonitor",
    # Logger facade
    "Logger", "get_logger", "logger",
    # Configuration
    "configure", "flush", "shutdown", "stats",
]

__version__ = "0.1.0"


#---------------------------------------------------------------------------
#   Levels and constants
#---------------------------------------------------------------------------

TRACE = 5  #: below DEBUG, for very chatty diagnostics
DEBUG = logging.DEBUG
INFO = logging.INFO
WARNING = logging.WARNING
ERROR = logging.ERROR
CRITICAL = logging.CRITICAL

logging.addLevelName(TRACE, "TRACE")

#: Level names accepted wherever a level is taken (any case, spaces trimmed).
_LEVEL_NAMES = {
    "TRACE": TRACE, "DEBUG": DEBUG, "INFO": INFO, "WARNING": WARNING, "WARN": WARNING,
    "ERROR": ERROR, "CRITICAL": CRITICAL, "FATAL": CRITICAL,
}
_VALID_LEVELS = "TRACE, DEBUG, INFO, WARNING (WARN), ERROR, CRITICAL (FATAL) or an int"

#: Lower-case level names as written in the output; other numbers are looked up once.
_LEVEL_LABELS = {TRACE: "trace", DEBUG: "debug", INFO: "info", WARNING: "warning",
                 ERROR: "error", CRITICAL: "critical"}


def _level_value(level: int | str, what: str = "level") -> int:
    """Return ``level`` as an int; raise ValueError/TypeError naming it and the valid names."""
    if isinstance(level, int) and not isinstance(level, bool):  # IntEnum levels too
        if level < 0:
            raise ValueError(f"{what} must not be negative, got {level!r}; valid: {_VALID_LEVELS}")
        return int(level)
    if isinstance(level, str):
        try:
            return _LEVEL_NAMES[level.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown {what} {level!r}; valid: {_VALID_LEVELS}") from None
    raise TypeError(f"{what} must be an int or a level name, got {level!r}; valid: {_VALID_LEVELS}")


def _level_label(levelno: int) -> str:
    """Return the lower-case name written for ``levelno`` ("info", "level 25")."""
    label = _LEVEL_LABELS.get(levelno)
    if label is None:
        label = str(logging.getLevelName(levelno)).lower()
        if len(_LEVEL_LABELS) < 256:  # custom levels are few; never grow without bound
            _LEVEL_LABELS[levelno] = label
    return label


#: The keys the library writes itself; a user field with one of these names is
#: written as ``<name>_`` so that it never overwrites the library's value.
_LIBRARY_KEYS = frozenset({"timestamp", "level", "logger", "event", "exception", "stack"})

#: Caches (of names, events, keys) keep only strings up to this length, and a
#: bounded number of them: memory stays bounded whatever is logged.
_CACHED_TEXT = 256

#: Field keys whose values are replaced by ``[REDACTED]``: a key matches when,
#: lower-cased with ``-`` turned into ``_``, it equals or ends with one of these.
DEFAULT_REDACT = ("password", "passwd", "secret", "token", "api_key", "apikey",
                  "authorization", "cookie", "private_key")
_REDACTED = "[REDACTED]"

#: Types written as they are; every other value is copied into one of these
#: (plus list and dict) on the caller's thread, so that later changes to a
#: mutable object never reach the output.
_PLAIN = frozenset({str, int, float, bool, type(None)})

#: The logger name of the records the library writes about itself.
_SELF_NAME = "foundation"

#: The file name of this module, to skip its own frames in ``stack_info``.
_THIS_FILE = os.path.normcase(__file__)


#---------------------------------------------------------------------------
#   Errors and counters
#---------------------------------------------------------------------------

#: Adds a _Tally keeps before the adding caller folds them: at most about 100 kB
#: of tuples. A fold of 64 cost a dropping caller 5 to 10 µs, every 32 drops (a
#: drop adds to two tallies): the caller p99 of a drop storm (bench.py latency).
_FOLD_AFTER = 1024


class _Tally:
    """Counts that stay exact when a signal handler adds to them in the middle of an add.

    ``count += n`` is a read and then a write: a signal handler that logs (and
    counts) between the two, on the same thread, loses its count, and a lock
    cannot help, since the handler runs inside the interrupted code. So an add
    is one append to a deque (atomic) of a tuple with a count for each name,
    folded into ``values`` by one caller at a time (the sums are C loops); a
    fold interrupted by a signal handler's add leaves that add to the next
    fold, which every read does first.
    """

    __slots__ = ("names", "values", "_pending", "_lock", "_folder")

    def __init__(self, *names: str) -> None:
        self.names = names
        self.values = dict.fromkeys(names, 0)
        self._pending: deque = deque()
        self._lock = threading.RLock()  # between threads; same-thread re-entry is _folder's
        self._folder: int | None = None

    def add(self, counts: tuple) -> None:
        """Add ``counts``, one for each of ``names``: one append, folded by the next read
        (or every ``_FOLD_AFTER`` adds)."""
        pending = self._pending
        pending.append(counts)
        if len(pending) > _FOLD_AFTER:
            self.take(())

    def counts(self) -> dict:
        """Every count, with what is pending folded in."""
        self.take(())
        with self._lock:
            return dict(self.values)

    def is_zero(self, name: str) -> bool:
        """Whether ``name`` is 0 with nothing pending; no lock (an add racing it is seen next time)."""
        return not self._pending and not self.values[name]

    def take(self, names: tuple) -> tuple:
        """Fold what is pending, then return the counts of ``names`` and set them to zero."""
        me = threading.get_ident()
        if self._folder == me:  # a signal handler inside this thread's fold: leave it the work
            return (0,) * len(names)
        with self._lock:
            self._folder = me
            try:
                values, popleft = self.values, self._pending.popleft
                added = [popleft() for _ in range(len(self._pending))]
                for name, count in zip(self.names, map(sum, zip(*added))):
                    values[name] += count
                taken = tuple(values[name] for name in names)
                for name in names:
                    values[name] = 0
            finally:
                self._folder = None
        return taken

    def after_fork_in_child(self) -> None:
        self._lock = threading.RLock()
        self._folder = None


def _count_of(counter: itertools.count) -> int:
    """The next number ``counter`` would give, without taking it: how many it has given."""
    return int(repr(counter)[6:-1])  # "count(12)"


class _Ledger:
    """Every count the library keeps since the last ``configure()``: the one owner.

    Outputs, queues, samplers, processors and the error reporter add to it;
    ``stats()``, the ``ResourceMonitor`` and the drop report read it; and
    ``reset()`` starts the counts again (``configure()`` calls it, and tests do).
    One ledger for the process: a drop is reported by the next write of any
    foundation handler, as ``stats()`` counts it once for all of them. (A
    handler ``configure()`` replaced counts in ``_RETIRED`` while it drains.)

    Adds stay exact between threads and when a signal handler counts in the
    middle of one: what the caller's path counts once per record (an error, a
    sampled-out record) is a ``next()`` on an ``itertools.count``, one C call
    and no Python frame; the rest, counted once per write or per drop, goes
    through a ``_Tally``. The drops still to report have a tally of their own,
    so that a write's look at it costs no lock. ``queue_depth`` is read from
    the queues themselves.
    """

    _COUNTED = ("emitted", "written", "dropped", "sampled_out", "bytes_written")  # the tally's order
    _UNREPORTED = ("unreported",)
    _ONE_PROCESSED_OUT = (0, 0, 0, 1, 0)

    def __init__(self) -> None:
        self.resets = 0  #: how many times the counts started again (reset(), a fork)
        self._start()

    def _start(self) -> None:
        self._tally = _Tally(*self._COUNTED)
        self._reports = _Tally("unreported")
        self._queues: weakref.WeakSet = weakref.WeakSet()
        self._queues_lock = threading.Lock()
        self._start_counts()

    def _start_counts(self) -> None:
        self._errors = itertools.count()
        self._sampled_out = itertools.count()
        #: An error happened at log time.
        self.add_error = self._errors.__next__
        #: A sampler dropped a record (or took it into a reservoir): it is not written on its own.
        self.add_sampled_out = self._sampled_out.__next__

    # -- adds ------------------------------------------------------------------------
    def wrote(self, records: int, data: int) -> None:
        """``records`` records reached the sink, in ``data`` bytes."""
        self._tally.add((records, records, 0, 0, data))

    def dropped(self, count: int) -> None:
        """``count`` records were lost, wherever that happened; the next write reports them."""
        self._tally.add((count, 0, count, 0, 0))
        self._reports.add((count,))

    def report_again(self, count: int) -> None:
        """A drop report that could not be written: the next write tries again."""
        self._reports.add((count,))

    def processed_out(self) -> None:
        """A processor returned None: the record is not written (``sampled_out``)."""
        self._tally.add(self._ONE_PROCESSED_OUT)

    def watch(self, queue: Any) -> None:
        """Count what ``queue`` holds in ``queue_depth`` (and in ``emitted``) until ``unwatch()``."""
        with self._queues_lock:
            self._queues.add(queue)

    def unwatch(self, queue: Any) -> None:
        """``queue``'s handler is closed: what it still holds is counted when written or dropped."""
        with self._queues_lock:
            self._queues.discard(queue)

    # -- reads -----------------------------------------------------------------------
    def take_unreported(self) -> int:
        """The drops not reported yet, now to be reported (by the caller's write)."""
        reports = self._reports
        if reports.is_zero("unreported"):  # every write asks: usually nothing to report
            return 0
        (count,) = reports.take(self._UNREPORTED)
        return count

    def snapshot(self) -> dict:
        """``stats()``: every count, and the records queued (counted as emitted already).

        The counts are read before the queues: a record the writer takes in
        between is missed for this once, never counted twice.
        """
        counts = self._tally.counts()
        sampled_out, errors = _count_of(self._sampled_out), _count_of(self._errors)
        with self._queues_lock:
            queues = list(self._queues)
        depth = sum(len(queue) for queue in queues)
        return {"emitted": counts["emitted"] + depth, "written": counts["written"],
                "dropped": counts["dropped"], "sampled_out": counts["sampled_out"] + sampled_out,
                "errors": errors, "queue_depth": depth, "bytes_written": counts["bytes_written"]}

    # -- resets ----------------------------------------------------------------------
    def reset(self, reports: bool = False) -> None:
        """Start every count again at zero; ``reports``: forget the drops not reported yet too.

        Without ``reports`` the drops stay to be reported: a ``configure()``
        replaces the handler, not what the application was told.
        """
        self._tally.take(self._COUNTED)
        if reports:
            self._reports.take(self._UNREPORTED)
        self._start_counts()
        self.resets += 1

    def after_fork_in_child(self) -> None:
        """The child starts at zero: the parent's counts, queues and reports are the parent's."""
        self._start()
        self.resets += 1


#: The library's counts (see _Ledger).
_LEDGER = _Ledger()


class _RetiredLedger:
    """Where a handler counts once ``configure()`` has replaced it, while it drains.

    Its writes are not the new configuration's counts; its drops still are
    the application's to hear of, so they go to ``_LEDGER``'s report (made
    by the handler that replaced it), and it takes no report itself.
    """

    def wrote(self, records: int, data: int) -> None:
        pass

    def dropped(self, count: int) -> None:
        _LEDGER.report_again(count)

    report_again = dropped

    def processed_out(self) -> None:
        pass

    def take_unreported(self) -> int:
        return 0


_RETIRED = _RetiredLedger()


class _ErrorReporter:
    """Count errors and report them on stderr at most once per ``interval`` seconds.

    Thread-safe; never raises. The line says how many reports were suppressed.
    """

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last = float("-inf")
        self._suppressed = 0
        self._lock = threading.RLock()  # RLock: a signal handler may report mid-report

    def report(self, where: str, exc: BaseException) -> None:
        _LEDGER.add_error()
        with self._lock:
            now = self._clock()
            if now - self._last < self.interval:
                self._suppressed += 1
                return
            self._last = now
            suppressed, self._suppressed = self._suppressed, 0
        line = f"foundation: {where}: {type(exc).__name__}: {_safe_str(exc)}"
        if suppressed:
            line += f" ({suppressed} more errors suppressed in the last {self.interval:g} s)"
        _write_stderr(_escape_control(line) + "\n")


def _write_stderr(text: str) -> None:
    """Write ``text`` to the current stderr, ignoring every failure."""
    try:
        stream = sys.stderr or sys.__stderr__
        if stream is not None:
            stream.write(text)
            stream.flush()
    except Exception:
        pass


def _records(count: int, more: str = "") -> str:
    """``1 record was`` or ``2 records were``: the subject of a sentence on stderr."""
    return f"{count} {more}record was" if count == 1 else f"{count} {more}records were"


def _write_stderr_at_exit(text: str, stuck: Any) -> None:
    """Write ``text`` to stderr at exit without waiting: ``stuck`` is a stream that may never return.

    When ``stuck`` is stderr itself (or the stream cannot be told apart), the
    text goes to file descriptor 2 in non-blocking mode, or nowhere.
    """
    stream = sys.stderr or sys.__stderr__
    if stream is not None and stream is not stuck:
        _write_stderr(text)
        return
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)
        try:
            os.write(fd, text.encode("utf-8", "backslashreplace"))
        finally:
            os.set_blocking(fd, blocking)
    except Exception:  # a full pipe, a closed descriptor: nothing more can be done
        pass


def _report_error(where: str, exc: BaseException) -> None:
    """Count an error that happened at log time and report it (rate-limited)."""
    try:
        _reporter.report(where, exc)
    except Exception:  # the reporter itself must never raise into a log call
        pass


_reporter = _ErrorReporter()


#---------------------------------------------------------------------------
#   Lazy fields
#---------------------------------------------------------------------------

class LazyField:
    """A field value computed only when a record is really written.

    ``func`` is called at most once per record, on the caller's thread, after the
    record has passed the level and sampling checks. If it raises, the field reads
    ``<lazy error: ExcType: message>`` and the record is still written.
    """

    __slots__ = ("func",)

    def __init__(self, func: Callable[[], Any]) -> None:
        if not callable(func):
            raise TypeError(f"lazy() needs a callable, got {func!r}")
        self.func = func

    def evaluate(self) -> Any:
        """Return ``func()``, or the ``<lazy error: ...>`` text if it raises."""
        try:
            return self.func()
        except RecursionError:
            raise
        except Exception as exc:
            return f"<lazy error: {type(exc).__name__}: {_safe_str(exc)}>"

    def __repr__(self) -> str:
        return f"lazy({self.func!r})"


def lazy(func: Callable[[], Any]) -> LazyField:
    """Wrap ``func`` so that a field holding it is computed only if the record is written.

    Raises:
        TypeError: ``func`` is not callable.
    """
    return LazyField(func)


#---------------------------------------------------------------------------
#   Context
#---------------------------------------------------------------------------

class _SharedFields(dict):
    """The fields of a ``bind()`` or of the context: one dict for every record that has no others.

    A record whose fields are exactly a bound logger's (or the context's)
    carries this very dict as ``record.fields``: no copy per record, and the
    writer renders it once (``_Format.render``). So it cannot change: code that
    wants different fields on a record assigns a new dict instead.
    """

    __slots__ = ()
    __hash__ = object.__hash__  # by identity: the writer keeps their rendered text under them

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("these fields are shared with the logger that bound them; assign a new dict "
                        "instead, e.g. record.fields = {**record.fields, 'key': value}")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple:
        return dict, (dict(self),)  # pickles (SocketHandler) as a plain dict


class _Fields:
    """An immutable set of bound fields, with whether every value is plain.

    Knowing ``plain`` once, at bind time, spares each log call a loop over the
    bound values.
    """

    __slots__ = ("fields", "plain", "text")

    def __init__(self, fields: dict) -> None:
        self.fields = _SharedFields(fields)
        # A str holding "://" is not plain: it may hold a URL's password, which _Sanitizer hides.
        self.plain = all(type(v) in _PLAIN and (type(v) is not str or "://" not in v)
                         for v in fields.values())
        self.text = sum(len(v) for v in fields.values() if type(v) is str)  # characters of text


_NO_FIELDS = _Fields({})  # the shared empty set: compared by identity on the hot path
_context: contextvars.ContextVar[_Fields] = contextvars.ContextVar(
    "foundation_context", default=_NO_FIELDS)
#: Whether any context was ever bound in this process: until then a record skips the lookup.
_context_used = False
#: The key tuples a plain call logs as they are, when the configuration lets calls
#: take the plain path (``_level_method``): no sampler, no callsite, no interning.
#: Empty otherwise. Set by ``configure()`` (``_decide_plain_path()``).
_plain_keys: AbstractSet[tuple] = frozenset()
#: Likewise, per bound fields, the call key tuples that join them with no key in common
#: (``_Redactor.joins``).
_plain_joins: Mapping[_SharedFields, AbstractSet[tuple]] = {}


def bind_context(**fields: Any) -> None:
    """Add ``fields`` to every record logged from this thread or asyncio task."""
    global _context_used
    _context_used = True
    current = _context.get()
    _context.set(_Fields({**current.fields, **fields}))


def unbind_context(*keys: str) -> None:
    """Remove ``keys`` from the context; a key that is not bound is ignored."""
    current = _context.get().fields
    if any(key in current for key in keys):
        _context.set(_Fields({k: v for k, v in current.items() if k not in keys}))


def clear_context() -> None:
    """Remove every context field of this thread or asyncio task."""
    _context.set(_NO_FIELDS)


def get_context() -> dict:
    """Return a copy of the context fields of this thread or asyncio task."""
    return dict(_context.get().fields)


@contextlib.contextmanager
def context(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` for the duration of a ``with`` block, then restore the context."""
    global _context_used
    _context_used = True
    token = _context.set(_Fields({**_context.get().fields, **fields}))
    try:
        yield
    finally:
        _context.reset(token)


#---------------------------------------------------------------------------
#   Records
#---------------------------------------------------------------------------

class _Derived:
    """A LogRecord attribute computed on first read, then stored on the record.

    A non-data descriptor: once computed (or set by anyone), the instance's own
    value wins. It keeps attributes the output never reads off the hot path.
    """

    __slots__ = ("_compute", "_name")

    def __init__(self, compute: Callable[[logging.LogRecord], Any]) -> None:
        self._compute = compute
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, record: logging.LogRecord | None, owner: type | None = None) -> Any:
        if record is None:
            return self
        value = self._compute(record)
        _instance_dict(record)[self._name] = value
        return value


#: The real instance dict of a LogRecord, bypassing ``_Record.__dict__`` below.
_instance_dict = logging.LogRecord.__dict__["__dict__"].__get__


def _thread_name(record: logging.LogRecord) -> str:
    """Return the name of the thread that made ``record``, looked up only when read."""
    if record.thread == threading.get_ident():
        return threading.current_thread().name
    for thread in threading.enumerate():
        if thread.ident == record.thread:
            return thread.name
    return f"Thread-{record.thread}"


def _process_name(record: logging.LogRecord) -> str:
    """Return the multiprocessing process name, as LogRecord does."""
    mp = sys.modules.get("multiprocessing")
    if mp is not None:
        try:
            return mp.current_process().name
        except Exception:
            pass
    return "MainProcess"


class _Record(logging.LogRecord):
    """A LogRecord that costs only what the output uses.

    ``LogRecord.__init__`` looks up the caller's source line, the thread and
    process names and more; most outputs never read them. Here only the name,
    level, message, fields, time and thread id are set per record; the source
    location reads as it does when logging's source lookup is off, and the
    derived attributes (``levelname``, ``msecs``, ...) are computed when read.
    The message is final: ``args`` are already merged into ``msg``.
    """

    pathname = "(unknown file)"
    module = "Unknown module"
    funcName = "(unknown function)"
    args: tuple = ()
    taskName = None  # 3.12+ attribute; asyncio task names are not looked up

    #: The event as written, before %-args were merged into ``msg``: what a sampler
    #: used as a Filter keys the record by. A slot, so not in ``__dict__`` for readers.
    __slots__ = ("template",)

    levelname = _Derived(lambda r: logging.getLevelName(r.levelno))
    msecs = _Derived(lambda r: (r.created - int(r.created)) * 1000.0)
    relativeCreated = _Derived(lambda r: (r.created - logging._startTime) * 1000.0)
    threadName = _Derived(_thread_name)
    process = _Derived(lambda r: os.getpid())
    processName = _Derived(_process_name)

    def __init__(self, name: str, levelno: int, msg: str, fields: dict,
                 _time: Callable[[], float] = time.time,
                 _get_ident: Callable[[], int] = threading.get_ident) -> None:
        # LogRecord.__init__ is deliberately not called: see the class docstring.
        # Every attribute the entry holds is set here, in the instance dict,
        # which _entry() reads in one C call.
        self.name = name
        self.levelno = levelno
        self.msg = msg
        self.fields = fields
        self.created = _time()
        self.thread = _get_ident()
        self.exc_info = self.exc_text = self.stack_info = None
        self.filename = "(unknown file)"
        self.lineno = 0

    def __getattr__(self, name: str) -> Any:
        """A field is readable as an attribute, as ``extra=`` values are (``record.order_id``).

        Called only for names the record does not have: LogRecord attributes
        and methods always win over fields of the same name. (On 3.11 a class
        with ``__getattr__`` reads its attributes a little slower; 3.12 does not.)
        """
        fields = _instance_dict(self).get("fields")
        if fields and name in fields and name not in _NOT_FIELD_ATTRS:
            return fields[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def __dict__(self) -> dict:  # type: ignore[override]
        """The instance dict, with every standard attribute and the fields in it.

        ``logging.Formatter`` (``%(levelname)s``), error reporters, OpenTelemetry
        and pickling handlers read ``record.__dict__`` directly, so the
        attributes kept on the class or computed when read are copied in when
        it is asked for, and so is each field whose name is not a LogRecord
        attribute (as ``extra=`` puts them).
        """
        own = _instance_dict(self)
        for name in _RECORD_DEFAULTS:
            if name not in own:
                own[name] = getattr(self, name)
        fields = own.get("fields")
        if fields:
            for key, value in fields.items():
                if type(key) is str and key not in own and key not in _NOT_FIELD_ATTRS:
                    own[key] = value
        return own

    def getMessage(self) -> str:
        """Return the event text; never raises, even for a bad %-format."""
        msg = self.msg if type(self.msg) is str else _safe_str(self.msg)
        return _format_event(msg, self.args) if self.args else msg


#: The attributes a _Record keeps on its class or computes when read.
_RECORD_DEFAULTS = ("pathname", "module", "funcName", "args", "process",
                    "levelname", "msecs", "relativeCreated", "threadName", "processName")
if sys.version_info >= (3, 12):  # gh-91513 added LogRecord.taskName
    _RECORD_DEFAULTS += ("taskName",)

#: The attributes every LogRecord has; the others on a foreign record are
#: ``extra=`` fields and are written as fields.
_LOGRECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message", "asctime", "taskName", "fields"}

#: Names a field never shadows as an attribute: LogRecord's, and our class's
#: (``getMessage``, ``__dict__``, ...). Such a field is in ``record.fields`` only.
_NOT_FIELD_ATTRS = _LOGRECORD_ATTRS | frozenset(dir(_Record))


def _format_event(msg: str, args: tuple) -> str:
    """%-format ``msg`` with ``args`` as logging does; on failure append the args instead."""
    if not isinstance(args, Mapping) and len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
        args = args[0]  # logging's rule: a single non-empty mapping is the format's mapping
        # (a LogRecord made by logging applied it already: its args is the mapping itself)
    try:
        return msg % args
    except RecursionError:
        raise
    except Exception:
        values = args.values() if isinstance(args, Mapping) else args
        return " ".join([msg, *map(_safe_repr, values)])


def _safe_str(value: Any) -> str:
    """Return ``str(value)``, or ``<unrepresentable TypeName>`` if that raises."""
    try:
        text = str(value)
        return text if type(text) is str else str.__str__(text)
    except RecursionError:
        raise
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _safe_repr(value: Any) -> str:
    """Return ``repr(value)``, or ``<unrepresentable TypeName>`` if that raises."""
    try:
        if type(value) is int:
            return _int_text(value)  # past the int-to-str digit limit too
        return repr(value)
    except RecursionError:
        raise
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _exception_text(exc_info: Any) -> tuple[tuple | None, str | None]:
    """Normalise ``exc_info`` as logging does and format it now, on the caller's thread."""
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    if len(exc_info) != 3 or exc_info[0] is None:
        return None, None
    try:
        text = _redact_url_credentials("".join(traceback.format_exception(*exc_info)).rstrip("\n"))
    except RecursionError:
        raise
    except Exception as exc:
        text = f"<unformattable exception: {type(exc).__name__}>"
    return exc_info, text


def _caller_frame() -> Any:
    """Return the frame of the code that called into this module (None if there is none)."""
    frame = sys._getframe(1)
    while frame is not None and os.path.normcase(frame.f_code.co_filename) == _THIS_FILE:
        frame = frame.f_back
    return frame


def _stack_text() -> str:
    """Return the caller's stack as logging's ``stack_info`` shows it, without our frames."""
    frame = _caller_frame()
    lines = traceback.format_stack(frame) if frame is not None else []
    return _redact_url_credentials(("Stack (most recent call last):\n" + "".join(lines)).rstrip("\n"))


def _caller_place() -> tuple[str, int]:
    """Return the caller's file name and line number, as an entry holds them."""
    frame = _caller_frame()
    if frame is None:
        return "(unknown file)", 0
    return os.path.basename(frame.f_code.co_filename), frame.f_lineno


def _set_callsite(record: _Record) -> None:
    """Give ``record`` the caller's real source location, as ``LogRecord`` has it."""
    frame = _caller_frame()
    if frame is None:
        return
    code = frame.f_code
    record.pathname = code.co_filename
    record.filename = os.path.basename(code.co_filename)
    record.module = os.path.splitext(record.filename)[0]
    record.lineno = frame.f_lineno
    record.funcName = code.co_name


def _adopt(record: logging.LogRecord, sanitizer: _Sanitizer | None = None) -> _Record:
    """Turn a record made by plain ``logging`` (or another copy of this module) into a ``_Record``.

    ``extra=`` attributes become fields; mutable values are copied and secrets
    redacted now, since the record may be rendered later on the writer thread.
    """
    sanitizer = sanitizer or _state.sanitizer
    fields = {k: v for k, v in record.__dict__.items() if k not in _LOGRECORD_ATTRS}
    own = record.__dict__.get("fields")
    if isinstance(own, dict):
        fields = {**own, **fields}
    msg = record.msg if type(record.msg) is str else _safe_str(record.msg)
    if record.args:
        msg = _format_event(msg, record.args)
    new = _Record(str(record.name), record.levelno, msg,
                  sanitizer.redactor.fields(sanitizer.fields(fields)) if fields else fields)
    new.created = record.created
    new.thread = record.thread
    lineno = getattr(record, "lineno", 0)
    if lineno:
        new.filename, new.lineno = _safe_str(getattr(record, "filename", "")), lineno
        new.pathname = _safe_str(getattr(record, "pathname", ""))
        new.funcName = _safe_str(getattr(record, "funcName", ""))
    if record.exc_info or record.exc_text:
        new.exc_info = record.exc_info
        new.exc_text = record.exc_text or _exception_text(record.exc_info)[1]
    if record.stack_info:
        new.stack_info = str(record.stack_info)
    return new


#: What the writer needs of a record: the entry, a tuple of plain values the
#: queue carries (made by ``_entry()``, or ``_new_entry()`` where no record is
#: made), so that the record itself dies at once. The fields are a dict (or a
#: bound logger's and the call's, see ``_fields_of()``): the collector keeps
#: tracking an entry while it waits in the queue.
_CREATED, _LEVELNO, _NAME, _EVENT, _FIELDS, _EXC_TEXT, _STACK, _FILENAME, _LINENO = range(9)


_entry_items = operator.itemgetter("created", "levelno", "name", "msg", "fields", "exc_text",
                                   "stack_info", "filename", "lineno")


def _entry(record: _Record) -> tuple:
    """Return the entry of ``record`` (positions ``_CREATED`` ... ``_LINENO``).

    Read from the instance dict in one C call: ``_Record.__init__`` sets every
    one of these there (a foreign record is adopted first).
    """
    return _entry_items(_instance_dict(record))


#: Entries holding more characters of text than this (event, strings, exception)
#: count against ``queue_bytes``; lighter ones only against ``queue_size``.
_LIGHT_TEXT = 1024


class _HeavyEntry(tuple):
    """An entry holding more than ``_LIGHT_TEXT`` characters; ``text`` says how many."""

    text: int


def _text_of(value: Any) -> int:
    """About how many characters of text ``value`` holds (plain data: str, numbers, lists, dicts)."""
    t = type(value)
    if t is str:
        return len(value)
    if t is list or t is tuple:
        return sum(map(_text_of, value))
    if t is dict or t is _CopiedFields or t is _SharedFields:
        return sum(map(len, value)) + sum(map(_text_of, value.values()))
    return 0


def _cut_text(value: Any, limit: int) -> Any:
    """``value`` with every string longer than ``limit`` cut (``_truncate``), nested ones too."""
    t = type(value)
    if t is str:
        return _truncate(value, limit)
    if t is list:
        return [_cut_text(v, limit) for v in value]
    if t is tuple:  # an entry's parts: None (no exception text) stays None
        return tuple(_cut_text(v, limit) for v in value)
    if t is dict or t is _SharedFields:
        return {_cut_text(k, limit): _cut_text(v, limit) for k, v in value.items()}
    if t is _CopiedFields:
        return _CopiedFields([(_cut_text(k, limit), _cut_text(v, limit)) for k, v in value.items()])
    return value


def _weighed(entry: tuple, limit: int) -> tuple:
    """Return ``entry`` as the queue takes it: strings cut to ``limit``, marked heavy if it is.

    Values are cut before they are queued, so that memory is bounded by what
    will be written; a heavy entry (``_HeavyEntry``) counts against ``queue_bytes``.
    """
    parts = entry[_EVENT:_STACK + 1]  # event, fields, exception text, stack: the text an entry holds
    text = _text_of(parts)
    if text <= _LIGHT_TEXT:
        return entry
    if text > limit:
        parts = _cut_text(parts, limit)
        text = _text_of(parts)
    heavy = _HeavyEntry((*entry[:_EVENT], *parts, *entry[_STACK + 1:]))
    heavy.text = text
    return heavy


_NO_FILE = "(unknown file)"  #: the filename of a record made without its caller's place


def _new_entry(created: float, levelno: int, name: str, event: str, fields: dict,
               exc_text: str | None = None, stack: str | None = None,
               filename: str = _NO_FILE, lineno: int = 0) -> tuple:
    """Return an entry made of values, for a record that is never made (a batch's fast path)."""
    return (created, levelno, name, event, fields, exc_text, stack, filename, lineno)


def _fields_of(fields: dict | tuple) -> dict:
    """An entry's fields as one dict.

    A bound logger's plain call carries its fields joined, as (bound, call):
    the writer renders the bound dict once and joins the call's text to it
    (``_KeyValueFormat.render_all``). Every other reader takes them merged here,
    as the gate would have merged them (later wins); a call with no fields
    of its own carries the bound dict itself.
    """
    if type(fields) is not tuple:
        return fields
    bound, call = fields
    return {**bound, **call} if call else bound


def _entry_dict(entry: tuple) -> dict:
    """An entry as one flat dict: ``timestamp`` (epoch float), ``level``, ``logger``, ``event``,
    then the fields (a field named like one of those is written ``<name>_``), then
    ``exception`` and ``stack`` when the record has them: what a reservoir keeps.
    """
    created, levelno, name, event, fields, exc_text, stack = entry[:_STACK + 1]
    item = {"timestamp": created, "level": _level_label(levelno), "logger": name, "event": event}
    for key, value in _fields_of(fields).items():
        item[f"{key}_" if key in _LIBRARY_KEYS else key] = value
    if exc_text is not None:
        item["exception"] = exc_text
    if stack is not None:
        item["stack"] = stack
    return item


#---------------------------------------------------------------------------
#   Rendering: values, escaping, redaction, emoji, line formats
#---------------------------------------------------------------------------

class _Pattern:
    """A regular expression compiled when first used.

    Compiling this module's patterns took a fifth of ``import foundation``;
    most processes never need them (they check values that are not plain text).
    After the first call, ``search`` and ``sub`` are the compiled pattern's own.
    """

    def __init__(self, pattern: str | bytes) -> None:
        self.pattern = pattern

    def search(self, text: Any) -> re.Match | None:
        return self._compile().search(text)

    def sub(self, repl: Any, text: str) -> str:
        return self._compile().sub(repl, text)

    def _compile(self) -> re.Pattern:
        compiled = re.compile(self.pattern)
        self.search, self.sub = compiled.search, compiled.sub  # type: ignore[method-assign]
        return compiled


#: The invisible characters above U+009F, as literal ranges: Unicode category Cf as
#: Python 3.9 to 3.13 know it (Unicode 13.0 to 15.1), the line and paragraph
#: separators and lone surrogates. Soft hyphen; Arabic, Syriac, Mongolian,
#: Egyptian, shorthand and musical format characters; zero-width space, joiners
#: and marks; bidirectional embeddings, overrides and isolates; invisible
#: operators; BOM; interlinear annotation; tags. The unassigned U+2065 and
#: U+E0000-E001F are taken in to keep the ranges whole.
_INVISIBLE = ("\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f"
              "\u2028-\u202e\u2060-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
              "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e007f")
#: Characters escaped in every format: C0 controls, DEL, C1 controls and the
#: invisible characters, which can make a terminal show text other than what
#: was written. Not a zero-width joiner between two non-ASCII characters that
#: are not escaped themselves: it joins emoji (👨‍👩‍👧) and letters of some scripts.
#: Every one of them is a character ``str.isprintable()`` rejects.
_UNSAFE_CHAR = _Pattern(
    f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]"  # ... but not a ZWJ between two safe non-ASCII characters:
    f"(?<![^\x00-\x9f{_INVISIBLE}]\u200d(?=[^\x00-\x9f{_INVISIBLE}]))")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escape_char_u(match: re.Match) -> str:
    """Like ``_escape_char``, with ``\\uXXXX`` for every code (a UTF-16 pair above U+FFFF):
    logfmt readers decode only that form, as JSON does."""
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x10000:
        return "\\u%04x" % code
    code -= 0x10000
    return "\\u%04x\\u%04x" % (0xD800 | code >> 10, 0xDC00 | code & 0x3FF)


def _escape_control(text: str) -> str:
    """Escape the unsafe characters of ``text`` (``\\n``, ``\\x1b``, ``\\udc80``, ...)."""
    return text if text.isprintable() else _UNSAFE_CHAR.sub(_escape_char, text)


def _truncate(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` characters, ending it with ``…[truncated N chars]``.

    A text cut already (before it was queued) is returned as it is.
    """
    if len(text) <= limit:
        return text
    if len(text) - limit <= 40 and text.startswith("…[truncated ", limit) and text.endswith(" chars]"):
        return text
    return f"{text[:limit]}…[truncated {len(text) - limit} chars]"


def _int_text(value: int) -> str:
    """Return the decimal digits of ``value``, even past Python's int-to-str digit limit."""
    try:
        return str(value)
    except ValueError:  # 3.11+: int max str digits (gh-95778); convert in safe chunks
        sign, value = ("-", -value) if value < 0 else ("", value)
        chunks = []
        while value:
            value, low = divmod(value, _DIGIT_CHUNK)
            chunks.append(str(low))
        head, rest = chunks[-1], chunks[-2::-1]
        return sign + head + "".join(chunk.zfill(_DIGIT_CHUNK_LEN) for chunk in rest)


_DIGIT_CHUNK_LEN = 4000  # below the default 4300-digit limit of int -> str
_DIGIT_CHUNK = 10 ** _DIGIT_CHUNK_LEN


_UNDECIDED = object()  # a cache miss, where None is a cached answer


class _Redactor:
    """Decide which keys hold secrets; answers are cached per key and per key tuple (bounded).

    The one place where a key is judged secret: the facade (before any handler
    sees a record), foreign records, the formats and the processors' output
    all ask it.
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(name.lower().replace("-", "_") for name in names)
        self._cache: dict[str, bool] = {}
        #: key tuple -> None (no secret key) or, per key, whether it is secret
        self.tuples: dict[tuple, tuple | None] = {}
        #: the key tuples of ``tuples`` that hold no secret key and neither of logging's
        #: keywords (``exc_info``, ``stack_info``): what a plain call can log as it is.
        #: A membership test is the cheapest check; cleared in place, never replaced.
        self.clean: set[tuple] = {()}
        #: shared fields (bound, context) -> what handlers get of them
        self.shared: dict[_SharedFields, dict] = {}
        #: bound fields -> the call key tuples whose keys, merged with the bound ones,
        #: are clean, with no key in common: a bound logger's plain call carries both
        #: dicts apart (``_fields_of()``). Looked up by the dict (hashed by identity),
        #: then by the call's keys: cheaper than a pair. Cleared in place, never replaced.
        self.joins: dict[_SharedFields, set[tuple]] = {}

    def learn_join(self, bound: _SharedFields, keys: tuple) -> None:
        """Remember that ``bound`` and a call's ``keys`` join as a clean key tuple, if they do."""
        merged = (*bound, *keys)
        if merged in self.clean and len(set(merged)) == len(merged):
            known = self.joins.get(bound)
            if known is None:
                if len(self.joins) >= 256:  # it holds the bound dicts: bounded
                    self.joins.clear()
                known = self.joins[bound] = set()
            if len(known) < 64:
                known.add(keys)

    def shared_fields(self, fields: _SharedFields) -> dict:
        """``fields(fields)`` for a bound logger's shared dict, remembered under the dict (bounded)."""
        result = self.fields(fields)
        if len(self.shared) >= 256:
            self.shared = {}
        self.shared[fields] = result
        return result

    def secret_keys(self, keys: tuple) -> tuple | None:
        """Per key of ``keys``, whether it is secret; None when none is. Cached per tuple."""
        try:
            return self.tuples[keys]
        except KeyError:
            pass
        secret = tuple(self(k if type(k) is str else _safe_str(k)) for k in keys)
        secret = secret if any(secret) else None
        if sum(len(k) if type(k) is str else _CACHED_TEXT for k in keys) <= 16 * _CACHED_TEXT:
            if len(self.tuples) >= 1024:
                self.tuples.clear()
                self.clean.clear()
                self.clean.add(())
            self.tuples[keys] = secret
            if secret is None and "exc_info" not in keys and "stack_info" not in keys:
                self.clean.add(keys)
        return secret

    def fields(self, fields: dict) -> dict:
        """Return ``fields`` with secret values replaced by ``[REDACTED]``; the same dict if none is.

        A copied dict keeps its type (``_CopiedFields`` stays one); the caller's
        dict is never changed.
        """
        if not fields:
            return fields
        keys = tuple(fields)
        secret = self.tuples.get(keys, _UNDECIDED)
        if secret is _UNDECIDED:
            secret = self.secret_keys(keys)
        if secret is None:
            return fields
        kind = _CopiedFields if type(fields) is _CopiedFields else dict
        return kind([(k, _REDACTED if hidden else v) for (k, v), hidden in zip(fields.items(), secret)])

    def __call__(self, key: str) -> bool:
        hit = self._cache.get(key)
        if hit is None:
            norm = key.lower().replace("-", "_")
            hit = any(norm.endswith(name) for name in self.names)  # endswith covers ==
            if len(key) <= _CACHED_TEXT:  # keys of nested user data are unbounded
                if len(self._cache) >= 4096:
                    self._cache.clear()
                self._cache[key] = hit
        return hit


class _CopiedFields(dict):
    """Fields that ``_Sanitizer`` copied: values may be lists and dicts, not only scalars.

    Its type is how the formats know that a record's values need the careful
    path: a plain ``dict`` (or ``_SharedFields``) of fields holds only str,
    int, float, bool and None values.
    """

    __slots__ = ()

    def __reduce__(self) -> tuple:
        return dict, (dict(self),)  # pickles (SocketHandler) as a plain dict


#: Where the types written by ``str()`` live; a module not imported yet cannot
#: have made a value, so these are looked up only among the loaded modules
#: (``import foundation`` stays cheap).
_STR_TYPES = (("decimal", "Decimal"), ("uuid", "UUID"), ("pathlib", "PurePath"))


#: ``://user:password@`` in a URL: the user runs to the first ``:``, the password
#: to the last ``@`` before the authority ends (``/``, ``?``, ``#``, whitespace),
#: so ``user:p@ss@host`` hides ``p@ss``. The pattern starts with its literal
#: ``://``, which the regex engine looks for as a substring, and each attempt
#: stops at the next ``/``: a search is linear. ``_hide_password`` checks the scheme.
_URL_CREDENTIALS = _Pattern(r"://([^:/?#\s]*):[^/?#\s]+@")
_SCHEME_TAIL = frozenset("0123456789+-.")


def _hide_password(match: re.Match) -> str:
    """``://user:[REDACTED]@`` if a scheme ends right before ``match``; else the match unchanged.

    A scheme (RFC 3986) is a letter, then letters, digits, ``+``, ``-``, ``.``;
    its last letter is looked for at most 64 characters back.
    """
    text, start = match.string, match.start()
    stop = max(0, start - 64)
    while start > stop and text[start - 1] in _SCHEME_TAIL:
        start -= 1
    if start and text[start - 1].isascii() and text[start - 1].isalpha():
        return f"://{match.group(1)}:{_REDACTED}@"
    return match.group()


def _redact_url_credentials(text: str) -> str:
    """Return ``text`` with the password of each ``scheme://user:password@`` URL in it hidden.

    ``postgres://app:pw@db:5432/x`` becomes ``postgres://app:[REDACTED]@db:5432/x``:
    scheme, user, host, port, path and query are kept. ``text`` itself when
    nothing changes; a text without ``://`` costs one substring search.
    """
    if "://" not in text:
        return text
    hidden = _URL_CREDENTIALS.sub(_hide_password, text)
    return text if hidden == text else hidden


class _Sanitizer:
    """Copy values into plain, JSON-native data on the caller's thread.

    What comes out is made of str, int, float, bool, None, list and dict only,
    with nested secrets redacted, nesting cut at ``max_depth`` and cycles
    replaced by ``"<recursion>"``. Lazy fields are evaluated here. Never raises
    for a bad value: a ``repr()`` that raises gives ``<unrepresentable TypeName>``.

    Secrets are hidden wherever they can be told apart: the value of a secret
    key, the second item of a ``(name, value)`` pair in a list or tuple whose
    name is a secret key (``[("Authorization", "Bearer x")]``), and the password
    of a URL in any string, key or ``repr()`` (``https://user:[REDACTED]@host``).
    """

    def __init__(self, redactor: _Redactor, max_depth: int, max_items: int = 1000,
                 max_length: int = 65536) -> None:
        self.redactor = redactor
        self.max_depth = max_depth
        self.max_items = max_items
        self.max_length = max_length  # strings longer are cut before they are queued (_weighed)

    def fields(self, fields: dict) -> _CopiedFields:
        """Return a copy of ``fields`` whose values are all plain data (nested secrets redacted)."""
        value = self.value
        return _CopiedFields([(k, v if type(v) in _PLAIN and (type(v) is not str or "://" not in v)
                               else value(v)) for k, v in fields.items()])

    def value(self, v: Any, depth: int = 1, seen: frozenset = frozenset()) -> Any:
        t = type(v)
        if t in _PLAIN:
            return v if t is not str or "://" not in v else _redact_url_credentials(v)
        if t is LazyField:
            v = v.evaluate()
            t = type(v)
            if t in _PLAIN:
                return v if t is not str or "://" not in v else _redact_url_credentials(v)
        if isinstance(v, (dict, list, tuple, set, frozenset, deque, Mapping)):
            if depth > self.max_depth:
                return "<max depth>"
            if id(v) in seen:
                return "<recursion>"
            return self._container(v, depth, seen | {id(v)})
        try:
            v = self._scalar(v)
        except RecursionError:
            raise
        except Exception:
            v = _safe_repr(v)
        return _redact_url_credentials(v) if type(v) is str else v

    def _container(self, v: Any, depth: int, seen: frozenset) -> Any:
        """Copy a container: at most ``max_items`` items, then a marker saying how many more."""
        value, limit = self.value, self.max_items
        try:
            size = len(v)
            if isinstance(v, Mapping):
                secret = self.redactor
                out = {}
                for key, item in islice(list(v.items()), limit):
                    key = key if type(key) is str else _safe_str(key)
                    if "://" in key:
                        key = _redact_url_credentials(key)
                    out[key] = _REDACTED if secret(key) else value(item, depth + 1, seen)
                if size > limit:
                    out["…"] = f"[{size - limit} more items]"
                return out
            items = [value(item, depth + 1, seen) for item in islice(v, limit)]
            secret = self.redactor
            for pair in items:  # ("Authorization", "Bearer x"): its copy is a list made just now
                if type(pair) is list and len(pair) == 2 and type(pair[0]) is str and secret(pair[0]):
                    pair[1] = _REDACTED
            if size > limit:
                items.append(f"…[{size - limit} more items]")
            return items
        except RecursionError:
            raise
        except Exception:  # a container that fails to iterate is shown by repr
            return _safe_repr(v)

    @staticmethod
    def _scalar(v: Any) -> Any:
        if isinstance(v, enum.Enum):
            return _safe_str(v)
        if isinstance(v, bool):  # a bool subclass is impossible; kept for clarity
            return bool(v)
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return float(v)
        if isinstance(v, str):
            return str.__str__(v)
        if isinstance(v, (bytes, bytearray, memoryview)):
            return bytes(v).decode("utf-8", "backslashreplace")
        dt = sys.modules.get("datetime")  # not imported: no value can be a datetime
        if dt is not None and isinstance(v, (dt.date, dt.time)):  # a datetime is a date
            return v.isoformat()
        for module, name in _STR_TYPES:
            loaded = sys.modules.get(module)
            if loaded is not None and isinstance(v, getattr(loaded, name)):
                return str(v)
        return _safe_repr(v)


# ---- emoji ---------------------------------------------------------------

class _EmojiSet:
    """One field's markers: ``[emoji]`` per value, made once (a line asks for one per record)."""

    __slots__ = ("field", "_texts", "_other", "spaced")

    def __init__(self, field: str, mapping: Mapping[str, str], default: str) -> None:
        self.field = field
        self._texts = {value: "[%s]" % emoji for value, emoji in mapping.items()}
        self._other = "[%s]" % default
        #: what a line holds when this set's marker is its only one: (texts, other), space after
        self.spaced = ({value: text + " " for value, text in self._texts.items()}, self._other + " ")

    def marker(self, value: Any) -> str:
        return self._texts.get(value, self._other) if type(value) is str else self._other


#: The emoji sets, in the order their markers are written; DAS first.
_emoji_sets: dict[str, _EmojiSet] = {}


def register_emoji_set(field: str, mapping: Mapping[str, str], default: str = "❓") -> None:
    """Add (or replace) an emoji set: the field ``field`` adds ``[mapping[value]]`` before the event.

    An unknown value gets ``default``. Sets are looked up in a dict, never scanned.
    Thread-safe; takes effect for records written after the call.

    Raises:
        TypeError: ``field`` is not a str, ``mapping`` not a mapping of str to str.
    """
    if not isinstance(field, str) or not field:
        raise TypeError(f"register_emoji_set() field must be a non-empty str, got {field!r}")
    if not isinstance(mapping, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise TypeError(f"register_emoji_set() mapping must map str to str, got {mapping!r}")
    if not isinstance(default, str):
        raise TypeError(f"register_emoji_set() default must be a str, got {default!r}")
    for marker in (*mapping.values(), default):
        if _UNSAFE_CHAR.search(marker) or "[" in marker or "]" in marker:
            raise ValueError(f"register_emoji_set() marker {marker!r} holds a control character or a bracket")
    _emoji_sets[field] = _EmojiSet(field, mapping, default)
    for fmt in list(_all_formats):
        fmt.forget_plans()


def _default_emoji_set(field: str, mapping: dict, default: str) -> None:
    _emoji_sets[field] = _EmojiSet(field, mapping, default)


_default_emoji_set("domain", {"auth": "🔑", "database": "🗄️", "network": "🌐",
                              "system": "⚙️", "cache": "💾", "file": "📄"}, default="❓")
_default_emoji_set("action", {"login": "➡️", "logout": "⬅️", "query": "🔍", "connect": "🔗",
                              "disconnect": "💔", "start": "🚀", "stop": "🛑", "read": "📖",
                              "write": "📝", "send": "📤", "receive": "📥"}, default="❓")
_default_emoji_set("status", {"success": "✅", "complete": "🏁", "error": "🔥", "failure": "❌",
                              "retry": "🔁", "timeout": "⏱️", "warning": "⚠️"}, default="➡️")


# ---- line formats --------------------------------------------------------

class _Plan:
    """What a format decided once for one tuple of field names.

    ``names``: the names written (a user's ``timestamp`` becomes ``timestamp_``).
    ``keys``: per field, the text before its value (`` name=`` in text formats).
    ``secret``: per field, whether its value is redacted (None when none is).
    ``emoji``: (key, set) pairs for the fields that add markers.
    ``marker``: when one field adds a marker, (key, texts, other): the marker
    is ``texts.get(fields[key], other)``, its space included (a plain value
    that is not a str never matches a text); None otherwise.
    ``template``: text formats' ``%`` template for all the values at once, the
    redacted ones swallowed by ``%.0s``.
    """

    __slots__ = ("names", "keys", "secret", "emoji", "marker", "plain", "template", "count")

    def __init__(self, names: tuple, keys: tuple, secret: tuple | None, emoji: tuple,
                 renamed: bool) -> None:
        self.names = names
        self.keys = keys
        self.secret = secret
        self.emoji = emoji
        self.marker = (emoji[0][0], *emoji[0][1].spaced) if len(emoji) == 1 else None
        self.plain = secret is None and not renamed  # the fields can be written as they are
        self.count = len(names)
        hidden = secret or repeat(False)
        self.template = "".join(
            key.replace("%", "%%") + ("%.0s" + _REDACTED if h else "%s") for key, h in zip(keys, hidden))


class _Format:
    """Base of the three line formats. One instance per configuration.

    ``render(record)`` is the fast path: per-key-tuple plans, one safety check
    for all the values of a record, fragments of bound fields rendered once.
    Whatever it cannot vouch for goes to ``careful_line()``, which checks and
    cuts every value. Used by one thread at a time (the writer thread, or a
    caller holding the output lock), so its caches need no lock.
    """

    def __init__(self, *, emoji: bool, colors: bool, redactor: _Redactor,
                 max_value_length: int, max_fields: int, sanitizer: _Sanitizer,
                 callsite: bool = False) -> None:
        self.emoji = emoji
        self.callsite = callsite
        #: the keys the format writes itself; a field of that name gets a ``_``
        self.library_keys = _LIBRARY_KEYS | {"callsite"} if callsite else _LIBRARY_KEYS
        self.colors = colors
        self.redactor = redactor
        self.max_value_length = max_value_length
        self.max_fields = max_fields
        self.sanitizer = sanitizer
        self._plans: dict[tuple, _Plan] = {}
        self._fragments: dict[_SharedFields, tuple] = {}
        self._events: dict[str, str] = {}
        self._names: dict[str, str] = {}
        #: False: render optimistically, leaving the search for unsafe characters
        #: to ``_Output``, which checks each whole batch once and renders a
        #: batch that holds one again with ``strict`` True (every value checked).
        self.strict = False
        self._lo = self._hi = 0.0  # the time span the cached stamp text covers
        self._stamp = ""

    def forget_plans(self) -> None:
        """Drop the cached plans and what was rendered with them (the emoji sets changed)."""
        self._plans = {}
        self._fragments = {}

    def forget_unchecked(self) -> None:
        """Drop cached text made by the optimistic pass: it may hold an unsafe character."""
        self._fragments = {}
        self._events = {}

    # -- per key tuple -----------------------------------------------------
    def plan(self, keys: tuple) -> _Plan:
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._make_plan(keys)
            if sum(map(len, plan.names)) <= 16 * _CACHED_TEXT:  # few, short key tuples in practice
                if len(self._plans) >= 1024:
                    self._plans = {}
                self._plans[keys] = plan
        return plan

    def _make_plan(self, keys: tuple) -> _Plan:
        names = []
        library = self.library_keys
        taken = set(keys) | library
        for key in keys:
            name = key if type(key) is str else _safe_str(key)
            if name in library:
                name += "_"
                while name in taken:
                    name += "_"
                taken.add(name)
            names.append(name)
        secret = self.redactor.secret_keys(keys)
        emoji = ()
        if self.emoji:
            present = set(keys)
            emoji = tuple((s.field, s) for s in _emoji_sets.values() if s.field in present)
        return _Plan(tuple(names), tuple(self.key_text(n) for n in names), secret, emoji,
                     list(keys) != names)

    def key_text(self, name: str) -> str:
        return " %s=" % _quote(name)

    # -- per record --------------------------------------------------------
    def render(self, entry: tuple) -> str:
        """Return the line for an entry (see ``_entry()``), newline included. Never raises for bad data.

        Shared fields (a bound logger's or the context's, which cannot change)
        are rendered once: the text made of them is kept under the dict itself
        (hashed by identity).
        """
        created, levelno, name, event, fields, exc_text, stack, filename, lineno = entry
        fields = _fields_of(fields)
        try:
            markers = part = ""
            if fields:
                if type(fields) is _SharedFields:
                    markers, part, _ = self._fragments.get(fields) or self.fragment(fields)
                else:
                    if len(fields) > self.max_fields:
                        fields = self._cap_fields(fields)
                    plan = self._plans.get(tuple(fields)) or self.plan(tuple(fields))
                    if plan.emoji:
                        markers = self.markers(plan, fields)
                    part = self.fields_part(fields, plan, type(fields) is not _CopiedFields)
            if self.callsite and lineno:
                part = self.callsite_part("%s:%s" % (filename, lineno)) + part
            line = self.compose(created, _LEVEL_LABELS.get(levelno) or _level_label(levelno),
                                name, event, markers, part, exc_text, stack)
            if len(line) <= self.max_value_length:
                return line
        except RecursionError:
            raise
        except Exception:  # e.g. an int past the digit limit, NaN in JSON: the careful path
            pass
        return self.careful_line(created, _level_label(levelno), name, event, _fields_of(entry[_FIELDS]), exc_text,
                                 stack, _callsite_text(filename, lineno) if self.callsite else None)

    def render_all(self, entries: list) -> list:
        """Return the lines of a batch of entries, as ``render()`` makes each."""
        render = self.render
        return [render(entry) for entry in entries]

    def fragment(self, shared: _SharedFields) -> tuple[str, str, int]:
        """The markers and the text of a bound logger's (or the context's) fields, rendered
        once, and the room they leave: kept under the dict itself (hashed by identity), when short.

        The room is how many fields a call may add to them and still be joined
        as it is (``render_all()``): none (-1) when they have markers, which
        ``render()`` orders with the call's; else what ``max_fields`` leaves.
        """
        fields = self._cap_fields(shared) if len(shared) > self.max_fields else shared
        plan = self._plans.get(tuple(fields)) or self.plan(tuple(fields))
        markers = self.markers(plan, fields) if plan.emoji else ""
        part = self.fields_part(fields, plan, True)
        made = (markers, part, -1 if markers else self.max_fields - len(shared))
        if len(part) <= 16 * _CACHED_TEXT:
            if len(self._fragments) >= 256:
                self._fragments = {}
            self._fragments[shared] = made
        return made

    def careful_line(self, created: Any, level: Any, name: Any, event: Any, fields: dict,
                     exc_text: Any, stack: Any, callsite: Any = None) -> str:
        """Render with every value checked and cut to the limit: the slow, safe path."""
        limit = self.max_value_length
        clean = self._clean
        fields = {k: clean(v, limit) for k, v in self.sanitizer.fields(fields).items()}
        if len(fields) > self.max_fields:
            fields = self._cap_fields(fields)
        markers = part = ""
        if fields:
            plan = self.plan(tuple(fields))
            if plan.emoji:
                markers = self.markers(plan, fields)
            part = self.careful_fields_part(fields, plan)
        if callsite is not None:
            part = self.callsite_part(_truncate(_safe_str(callsite), limit)) + part
        if type(created) is int and -1e15 < created < 1e15:
            created = float(created)
        return self.compose(created, _truncate(_safe_str(level), limit),
                            _truncate(_safe_str(name), limit), _truncate(_safe_str(event), limit),
                            markers, part,
                            None if exc_text is None else _truncate(_safe_str(exc_text), limit),
                            None if stack is None else _truncate(_safe_str(stack), limit))

    def callsite_part(self, callsite: str) -> str:
        """The library key ``callsite`` (``file.py:42``), as the fields are written."""
        return " callsite=" + self.value_text(callsite)

    def _clean(self, v: Any, limit: int) -> Any:
        t = type(v)
        if t is str:
            return _truncate(v, limit)
        if t is int:
            text = _int_text(v)
            return v if len(text) <= min(limit, 4000) else _truncate(text, limit)
        if t is float:
            return v if v - v == 0.0 else self.float_text(v)  # inf - inf and nan - nan are nan
        if t is list:
            return [self._clean(item, limit) for item in v]
        if t is dict:
            return {k: self._clean(item, limit) for k, item in v.items()}
        return v

    @staticmethod
    def float_text(v: float) -> Any:
        return v

    def _cap_fields(self, fields: dict) -> dict:
        keep = dict(list(fields.items())[:self.max_fields])
        keep["fields_dropped"] = len(fields) - self.max_fields
        return keep

    def markers(self, plan: _Plan, fields: dict) -> str:
        """The ``[emoji] `` markers of a line whose plan has some; one set's, the common case,
        without a call per set."""
        marker = plan.marker
        if marker is not None:
            value = fields[marker[0]]
            return marker[1].get(value, marker[2]) if type(value) is str else marker[2]
        return "".join([s.marker(fields[key]) for key, s in plan.emoji]) + " "

    def utc_stamp(self, created: float) -> str:
        """RFC 3339 UTC with microseconds, ``2026-11-26T18:04:43.803123Z``; cached per second.

        Raises TypeError for a timestamp that is not a number (a processor's).
        """
        if not self._lo <= created < self._hi:
            second = math.floor(created)
            self._stamp = _strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime, second)
            self._lo, self._hi = float(second), second + 1.0
        return "%s%06dZ" % (self._stamp, (created - self._lo) * 1e6)

    def fields_part(self, fields: dict, plan: _Plan, plain: bool) -> str:
        return self.careful_fields_part(fields, plan)

    def careful_fields_part(self, fields: dict, plan: _Plan) -> str:
        value_text = self.value_text
        parts = []
        for key, v, hidden in zip(plan.keys, fields.values(), plan.secret or repeat(False)):
            parts.append(key)
            parts.append(_REDACTED if hidden else value_text(v))
        return "".join(parts)

    value_text = staticmethod(_safe_str)

    def compose(self, created: Any, level: str, name: str, event: str, markers: str, part: str,
                exc_text: str | None, stack: str | None) -> str:
        raise NotImplementedError


def _callsite_text(filename: Any, lineno: Any) -> str | None:
    """``file.py:42``, the ``callsite`` key's value; None for a record with no source location."""
    return "%s:%s" % (_safe_str(filename), _safe_str(lineno)) if lineno else None


def _strftime(layout: str, convert: Callable[[float], time.struct_time], second: float) -> str:
    """``time.strftime`` of a second, or its number if the platform cannot convert it."""
    try:
        return time.strftime(layout, convert(second))
    except (OverflowError, OSError, ValueError):
        return f"<time {second!r}>."


def _quote(text: str, escape: Callable[[re.Match], str] = _escape_char) -> str:
    """Quote ``text`` when it is empty or holds a space, quote, ``=`` or an unsafe character."""
    printable = text.isprintable()  # no unsafe character: each is one isprintable() rejects
    if text and printable and not (" " in text or '"' in text or "=" in text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"%s"' % (escaped if printable else _UNSAFE_CHAR.sub(escape, escaped))


def _logfmt_quote(text: str) -> str:
    """Quote ``text`` as go-logfmt does: unsafe characters as ``\\n``, ``\\t``, ``\\u001b``."""
    return _quote(text, _escape_char_u)


def _logfmt_key(name: str) -> str:
    """A key as logfmt parsers read it: never quoted; a space, ``=``, ``"`` or control becomes ``_``."""
    if name.isprintable() and not (" " in name or "=" in name or '"' in name):
        return name or "_"
    return _UNSAFE_CHAR.sub("_", name).replace(" ", "_").replace("=", "_").replace('"', "_") or "_"


def _nested_text(v: Any) -> str:
    """Render a list or dict for the text formats: compact JSON, quoted."""
    return _quote(json.dumps(v, ensure_ascii=False, separators=(",", ":")))


def _kv_value(v: Any) -> str:
    """A value in key_value: as ``%s`` shows it (``True``, ``None``), quoted when needed."""
    t = type(v)
    if t is str:
        return _quote(v)
    if t is list or t is dict:
        return _nested_text(v)
    return _quote(str(v))


def _logfmt_value(v: Any) -> str:
    """A value in logfmt: ``true``, ``false``, ``null``, numbers, quoted strings."""
    t = type(v)
    if t is str:
        return _logfmt_quote(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    if t is list or t is dict:
        return _logfmt_quote(json.dumps(v, ensure_ascii=False, separators=(",", ":")))
    return _logfmt_quote(str(v))


_COLORS = {"trace": "\x1b[2m", "debug": "\x1b[34m", "info": "\x1b[32m",
           "warning": "\x1b[33m", "error": "\x1b[31m", "critical": "\x1b[1;31m"}
_RESET = "\x1b[0m"


class _KeyValueFormat(_Format):
    """``2026-11-26 18:04:43.803 [info    ] [🔑] user_login [app] user_id=42``, in local time.

    Values are shown as ``%s`` shows them (``ok=True``, ``x=None``), quoted when
    they hold a space, a quote or ``=``, or are empty.
    """

    value_text = staticmethod(_kv_value)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tags: dict[str, str] = {}
        self._level_tags: dict[int, str] = {}
        self._second = None
        self._stamp_text = ""

    def fields_part(self, fields: dict, plan: _Plan, plain: bool) -> str:
        if plain:
            text = plan.template % tuple(fields.values())
            count = plan.count
            # One check for all the values: each added exactly one space and one
            # "=", none is empty, none holds a quote (and, when strict, none holds
            # an unsafe character; otherwise the batch check looks for those).
            if (text.count(" ") == count and text.count("=") == count and '"' not in text
                    and "= " not in text and text[-1] != "=" and not (
                        self.strict and not text.isprintable())):
                return text
        return self.careful_fields_part(fields, plan)

    def render_all(self, entries: list) -> list:
        """Return the lines of a batch of entries, as ``render()`` makes each.

        The common entry is written in this one loop: a plain dict of fields
        (not shared, not copied), or a bound logger's and the call's joined,
        with no traceback. The fields' text of every line made here is checked
        once, joined (``fields_part()``'s check for the whole batch); if a value
        needs quoting, every line is made again by ``render()``. Any other
        entry, and every entry when values are checked one by one (``strict``)
        or a callsite is written, goes to ``render()``.
        """
        render = self.render
        if self.strict or self.callsite:
            return [render(entry) for entry in entries]
        lines: list = []
        append = lines.append
        texts: list = []  # the fields' text of each line made here: checked once, joined
        keep = texts.append
        count = 0  # ... and how many fields they hold
        plans, names, tags = self._plans, self._names, self._level_tags
        most, limit = self.max_fields, self.max_value_length
        lo, hi, stamp = self._lo, self._hi, self._stamp_text
        for entry in entries:
            created, levelno, name, event, fields, exc_text, stack, _, _ = entry
            try:
                head, room = "", most
                if type(fields) is tuple:  # (bound, call): the bound text is made once (_fields_of())
                    bound, fields = fields
                    _, head, room = self._fragments.get(bound) or self.fragment(bound)
                if type(fields) is dict and exc_text is None and stack is None and len(fields) <= room:
                    keys = tuple(fields)
                    plan = plans.get(keys) or self.plan(keys)
                    text = plan.template % tuple(fields.values())
                    if not lo <= created < hi:
                        stamp = self.local_stamp(created)
                        lo, hi = self._lo, self._hi
                    marker = plan.marker
                    markers = (marker[1].get(fields[marker[0]], marker[2]) if marker is not None
                               else self.markers(plan, fields) if plan.emoji else "")
                    line = (f"{stamp} {tags.get(levelno) or self._level_tag(levelno)} {markers}{event}"
                            f"{names.get(name) or self._name(name)}{head}{text}\n")
                    if len(line) <= limit:
                        append(line)
                        keep(text)
                        count += plan.count
                        continue
            except RecursionError:
                raise
            except Exception:  # render() takes it the careful way
                pass
            append(render(entry))
            lo, hi, stamp = self._lo, self._hi, self._stamp_text
        # fields_part()'s check, once for the batch: each value added one space and one
        # "=", none is empty, none holds a quote. Else each line is made on its own.
        text = "".join(texts)
        if (text.count(" ") == count and text.count("=") == count and '"' not in text
                and "= " not in text and text[-1:] != "="):
            return lines
        return [render(entry) for entry in entries]

    def _level_tag(self, levelno: int) -> str:
        """The ``[info    ]`` of a level number, kept per number (bounded)."""
        level = _LEVEL_LABELS.get(levelno) or _level_label(levelno)
        tag = self._tags.get(level) or self._tag(level)
        if len(self._level_tags) < 256:
            self._level_tags[levelno] = tag
        return tag

    def _tag(self, level: str) -> str:
        tag = "[%-8s]" % _escape_control(level)
        if self.colors:
            tag = f"{_COLORS.get(level, '')}{tag}{_RESET}"
        if len(self._tags) < 256 and len(level) <= _CACHED_TEXT:
            self._tags[level] = tag
        return tag

    def _name(self, name: str) -> str:
        text = "" if name == "root" else " [%s]" % _escape_control(name)
        if len(self._names) < 4096 and len(name) <= _CACHED_TEXT:
            self._names[name] = text
        return text

    def local_stamp(self, created: float) -> str:
        """``2026-11-26 18:04:43.803`` in local time; the text is kept for the millisecond.

        Raises TypeError for a timestamp that is not a number (a processor's).
        """
        millis = math.floor(created * 1000)
        second, milli = divmod(millis, 1000)
        if second != self._second:
            self._second = second
            self._stamp = _strftime("%Y-%m-%d %H:%M:%S.", time.localtime, second)
        self._lo, self._hi = millis / 1000, (millis + 1) / 1000
        self._stamp_text = text = "%s%03d" % (self._stamp, milli)
        return text

    def compose(self, created: Any, level: str, name: str, event: str, markers: str, part: str,
                exc_text: str | None, stack: str | None) -> str:
        try:
            stamp = self._stamp_text if self._lo <= created < self._hi else self.local_stamp(created)
        except (TypeError, ValueError, OverflowError):  # a processor's "timestamp": not a usable number
            stamp = _escape_control(_safe_str(created))
        if self.strict and not event.isprintable():
            event = _escape_control(event)
        tail = "" if exc_text is None and stack is None else _text_tail(exc_text, stack)
        return (f"{stamp} {self._tags.get(level) or self._tag(level)} {markers}{event}"
                f"{self._names.get(name) or self._name(name)}{part}{tail}\n")


def _text_tail(exc_text: str | None, stack: str | None, quote: Callable[[str], str] = _quote) -> str:
    """The ``exception=`` and ``stack=`` fields of the text formats, quoted and escaped."""
    tail = "" if exc_text is None else " exception=" + quote(exc_text)
    return tail if stack is None else tail + " stack=" + quote(stack)


class _LogfmtFormat(_Format):
    """``timestamp=2026-11-26T18:04:43.803123Z level=info logger=app event=user_login user_id=42``."""

    value_text = staticmethod(_logfmt_value)

    def key_text(self, name: str) -> str:
        return " %s=" % _logfmt_key(name)

    def compose(self, created: Any, level: str, name: str, event: str, markers: str, part: str,
                exc_text: str | None, stack: str | None) -> str:
        try:
            stamp = self.utc_stamp(created)
        except (TypeError, ValueError, OverflowError):  # a processor's "timestamp": not a usable number
            stamp = _safe_str(created)
        quote = _logfmt_quote
        tail = "" if exc_text is None and stack is None else _text_tail(exc_text, stack, quote)
        return (f"timestamp={quote(stamp)} level={quote(level)} logger={quote(name)} "
                f"event={quote(markers + event)}{part}{tail}\n")


def _json_encoder(ensure_ascii: bool) -> Callable[[Any], str]:
    """Return a function encoding plain data as compact, strict JSON.

    It is the C encoder behind ``json.dumps``, made once: ``json.dumps`` and
    ``JSONEncoder.encode`` build it anew on every call, which costs more than
    encoding a log line. Falls back to ``JSONEncoder.encode`` where the C
    accelerator is missing. Raises ValueError for NaN and the infinities.
    """
    encoder = json.JSONEncoder(ensure_ascii=ensure_ascii, allow_nan=False, separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    escape = json.encoder.c_encode_basestring_ascii if ensure_ascii else json.encoder.c_encode_basestring
    if make is None or escape is None:
        return encoder.encode
    try:
        chunks = make(None, encoder.default, escape, None, ":", ",", False, False, False)
        fast = lambda value: "".join(chunks(value, 0))  # noqa: E731
        sample = {"a": [1, 2.5, None, True, "é\n"], "b": {}}
        if fast(sample) == encoder.encode(sample):
            return fast
    except Exception:  # a C encoder of another signature: use the public one
        pass
    return encoder.encode


_json_text = _json_encoder(ensure_ascii=False)
_json_ascii = _json_encoder(ensure_ascii=True)
_json_string = json.encoder.encode_basestring
_json_string_ascii = json.encoder.encode_basestring_ascii


class _JsonFormat(_Format):
    """One strict JSON object a line (no NaN tokens), valid UTF-8, fields in insertion order.

    Characters JSON leaves raw but a log line must not hold (U+2028, DEL, C1
    controls, lone surrogates) are written as ``\\uXXXX`` escapes.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._levels: dict[str, str] = {}
        self._level_texts: dict[int, str] = {}

    def key_text(self, name: str) -> str:
        return name

    def callsite_part(self, callsite: str) -> str:
        return ',"callsite":' + self.string(callsite)

    def render_all(self, entries: list) -> list:
        """Return the lines of a batch of entries, as ``render()`` makes each.

        The common entry is written in this one loop: a plain dict of fields
        (not shared, not copied; a bound logger's and the call's are merged)
        with no secret key and no traceback. Any other entry, and every entry
        when values are checked one by one (``strict``) or a callsite is
        written, goes to ``render()``.
        """
        render = self.render
        if self.strict or self.callsite:
            return [render(entry) for entry in entries]
        lines: list = []
        append = lines.append
        plans, names, levels, events = self._plans, self._names, self._level_texts, self._events
        most, limit, encode = self.max_fields, self.max_value_length, _json_text
        lo, hi, stamp = self._lo, self._hi, self._stamp
        for entry in entries:
            created, levelno, name, event, fields, exc_text, stack, _, _ = entry
            try:
                if type(fields) is tuple:  # a bound logger's and the call's: merged for JSON
                    fields = _fields_of(fields)
                if type(fields) is dict and exc_text is None and stack is None and len(fields) <= most:
                    keys = tuple(fields)
                    plan = plans.get(keys) or self.plan(keys)
                    if plan.secret is None:
                        body = encode(fields if plan.plain else dict(zip(plan.names, fields.values())))
                        if not lo <= created < hi:
                            self.utc_stamp(created)
                            lo, hi, stamp = self._lo, self._hi, self._stamp
                        marker = plan.marker
                        if marker is not None:
                            event = self.string(marker[1].get(fields[marker[0]], marker[2]) + event)
                        elif plan.emoji:
                            event = self.string(self.markers(plan, fields) + event)
                        else:
                            event = events.get(event) or self._event(event)
                        line = ('{"timestamp":"%s%06dZ","level":%s,"logger":%s,"event":%s%s%s\n' % (
                            stamp, (created - lo) * 1e6, levels.get(levelno) or self._level_text(levelno),
                            names.get(name) or self._name(name), event, "," if fields else "", body[1:]))
                        if len(line) <= limit:
                            append(line)
                            continue
            except RecursionError:
                raise
            except Exception:  # render() takes it the careful way
                pass
            append(render(entry))
            lo, hi, stamp = self._lo, self._hi, self._stamp
        return lines

    def _level_text(self, levelno: int) -> str:
        """The JSON string of a level number's name, kept per number (bounded)."""
        level = _LEVEL_LABELS.get(levelno) or _level_label(levelno)
        text = self._levels.get(level) or self._level(level)
        if len(self._level_texts) < 256:
            self._level_texts[levelno] = text
        return text

    def fields_part(self, fields: dict, plan: _Plan, plain: bool) -> str:
        if plan.secret is not None:
            fields = {name: _REDACTED if hidden else v for name, v, hidden in
                      zip(plan.names, fields.values(), plan.secret)}
        elif not plan.plain:  # renamed only (a field named "timestamp"): made in C
            fields = dict(zip(plan.names, fields.values()))
        body = _json_text(fields)
        if self.strict and not body.isprintable():
            body = _json_ascii(fields)
        return "," + body[1:-1]

    def careful_fields_part(self, fields: dict, plan: _Plan) -> str:
        return self.fields_part(fields, plan, False)

    def string(self, text: str) -> str:
        """``text`` as a JSON string; when strict, in ASCII escapes if it holds an unsafe character."""
        if self.strict and not text.isprintable():
            return _json_string_ascii(text)
        if '"' in text or "\\" in text:
            return _json_string(text)
        return '"%s"' % text

    def _event(self, event: str) -> str:
        text = self.string(event)
        if len(event) <= _CACHED_TEXT:  # events are mostly short constants; others are not kept
            if len(self._events) >= 4096:
                self._events = {}
            self._events[event] = text
        return text

    def _name(self, name: str) -> str:
        text = _json_string_ascii(name) if not name.isprintable() else self.string(name)
        if len(self._names) < 4096 and len(name) <= _CACHED_TEXT:
            self._names[name] = text
        return text

    def _level(self, level: str) -> str:
        text = _json_string_ascii(level) if not level.isprintable() else self.string(level)
        if len(self._levels) < 256 and len(level) <= _CACHED_TEXT:
            self._levels[level] = text
        return text

    def compose(self, created: Any, level: str, name: str, event: str, markers: str, part: str,
                exc_text: str | None, stack: str | None) -> str:
        try:
            if self._lo <= created < self._hi:
                stamp = '"%s%06dZ"' % (self._stamp, (created - self._lo) * 1e6)
            else:
                stamp = '"%s"' % self.utc_stamp(created)
        except (TypeError, ValueError, OverflowError):  # a processor's "timestamp": not a usable number
            stamp = self.string(_safe_str(created))
        string = self.string
        tail = ""
        if exc_text is not None:
            tail = ',"exception":' + string(exc_text)
        if stack is not None:
            tail += ',"stack":' + string(stack)
        return (f'{{"timestamp":{stamp},"level":{self._levels.get(level) or self._level(level)},'
                f'"logger":{self._names.get(name) or self._name(name)},'
                f'"event":{string(markers + event) if markers else self._events.get(event) or self._event(event)}'
                f'{part}{tail}}}\n')

    @staticmethod
    def float_text(v: float) -> str:
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")


#: syslog facility names (RFC 5424, table 1) and their codes.
_SYSLOG_FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
    "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14,
    "solaris-cron": 15, **{f"local{n}": 16 + n for n in range(8)}}
#: The SD-ID of the element that holds a record's fields: "fields" under 32473, the
#: private enterprise number RFC 5424 and RFC 5612 set aside for examples and documentation.
_SD_ID = "fields@32473"
#: A PARAM-NAME's characters (RFC 5424: printable US-ASCII but ``=``, space, ``]`` and ``"``).
_NOT_SD_NAME = re.compile(r'[^!#-<>-\\^-~]')
#: A header field's characters (printable US-ASCII, no space).
_NOT_HEADER = re.compile(r"[^!-~]")


def _syslog_severity(levelno: int) -> int:
    """The RFC 5424 severity of a level: critical 2, error 3, warning 4, between warning and
    info 5 (notice), info 6, below info 7 (debug)."""
    if levelno >= WARNING:
        return 2 if levelno >= CRITICAL else 3 if levelno >= ERROR else 4
    return 5 if levelno > INFO else 6 if levelno == INFO else 7


def _level_of_label(label: str) -> int:
    """The level number of a label the formats write (``"info"``, ``"level 25"``); 0 if none has it."""
    number = _LABEL_LEVELS.get(label)
    if number is None:
        numbers = [n for n, known in list(_LEVEL_LABELS.items()) if known == label]
        number = numbers[0] if numbers else 0
        if len(_LABEL_LEVELS) < 256:
            _LABEL_LEVELS[label] = number
    return number


_LABEL_LEVELS: dict[str, int] = {}


def _label_severity(label: str) -> int:
    """The syslog severity of a level's label (debug, 7, for a label no level has)."""
    return _syslog_severity(_level_of_label(label))


def _default_app_name() -> str:
    """APP-NAME (SYSLOG_IDENTIFIER) when none is given: the script's name."""
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"


def _header_field(text: str, most: int) -> str:
    """A header field (HOSTNAME, APP-NAME, MSGID): printable ASCII, other characters as ``_``,
    cut to ``most``; ``-`` (the nil value) for an empty one."""
    return _NOT_HEADER.sub("_", text)[:most] or "-"


def _sd_name(name: str) -> str:
    """A field name as a PARAM-NAME: 1 to 32 allowed characters, others as ``_``."""
    return _NOT_SD_NAME.sub("_", name)[:32] or "_"


def _sd_text(v: Any) -> str:
    """A value as a PARAM-VALUE holds it, before escaping: strings as they are, other scalars
    as JSON writes them (``true``, ``null``, ``2.5``), lists and dicts as compact JSON."""
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    if t is list or t is dict:
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return str(v)


def _sd_escape(text: str) -> str:
    """``text`` in a PARAM-VALUE. First as key_value quotes a value (a backslash doubled,
    an unsafe character escaped: a newline as ``\\n``), then RFC 5424's escapes of
    ``\\``, ``"`` and ``]``: decoded in that order again, the value is the one logged."""
    if text.isprintable() and not ("\\" in text or '"' in text or "]" in text):
        return text
    text = text.replace("\\", "\\\\")
    if not text.isprintable():
        text = _UNSAFE_CHAR.sub(_escape_char, text)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


class _SyslogFormat(_Format):
    """RFC 5424: ``<14>1 2026-12-01T11:15:07.123456Z host app 4242 user_login [fields@32473
    logger="app" user_id="42"] user_login``, one message a line.

    PRI from the facility and the level (left out for ``logging.handlers.SysLogHandler``,
    which puts its own); the timestamp in UTC with microseconds; MSGID the event when it
    is a valid one (1 to 32 printable ASCII characters), else ``-``; the fields, the
    logger's name, an exception and a stack as SD-PARAMs; MSG the event. A message never
    holds a newline or another unsafe character (they are escaped, as in every format):
    one message is one line, whatever the framing.
    """

    def __init__(self, *, facility: int = 1, app_name: str | None = None, pri: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.library_keys = self.library_keys & {"logger", "exception", "stack", "callsite"}
        self.facility = facility
        self.pri = pri
        self.hostname = _header_field(socket.gethostname(), 255)
        self.app_name = _header_field(_default_app_name() if app_name is None else app_name, 48)
        self._msgids: dict[str, str] = {}

    def key_text(self, name: str) -> str:
        return ' %s="' % _sd_name(name)

    def fields_part(self, fields: dict, plan: _Plan, plain: bool) -> str:
        return self.careful_fields_part(fields, plan)

    def careful_fields_part(self, fields: dict, plan: _Plan) -> str:
        hidden = plan.secret or repeat(False)
        return "".join([key + (_SD_REDACTED if h else _sd_escape(_sd_text(v))) + '"'
                        for key, v, h in zip(plan.keys, fields.values(), hidden)])

    def callsite_part(self, callsite: str) -> str:
        return ' callsite="%s"' % _sd_escape(callsite)

    def _msgid(self, event: str) -> str:
        msgid = self._msgids.get(event)
        if msgid is None:
            msgid = event if 0 < len(event) <= 32 and not _NOT_HEADER.search(event) else "-"
            if len(self._msgids) < 4096 and len(event) <= _CACHED_TEXT:
                self._msgids[event] = msgid
        return msgid

    def compose(self, created: Any, level: str, name: str, event: str, markers: str, part: str,
                exc_text: str | None, stack: str | None) -> str:
        try:
            stamp = self.utc_stamp(created)
        except (TypeError, ValueError, OverflowError):  # a processor's "timestamp": not a usable number
            stamp = "-"
        pri = "<%d>" % (self.facility * 8 + _label_severity(level)) if self.pri else ""
        tail = "" if exc_text is None else ' exception="%s"' % _sd_escape(exc_text)
        if stack is not None:
            tail += ' stack="%s"' % _sd_escape(stack)
        return (f"{pri}1 {stamp} {self.hostname} {self.app_name} {os.getpid()} {self._msgid(event)} "
                f'[{_SD_ID} logger="{_sd_escape(name)}"{part}{tail}] {_escape_control(markers + event)}\n')


_SD_REDACTED = _sd_escape(_REDACTED)

#: Where systemd-journald takes native-protocol datagrams.
_JOURNAL_SOCKET = "/run/systemd/journal/socket"
#: The journal fields we write ourselves; a record's field of the same name gets a ``_``.
_JOURNAL_OWN = frozenset({"MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "LOGGER", "TIMESTAMP",
                          "EXCEPTION", "STACK", "CALLSITE"})
_NOT_JOURNAL_NAME = re.compile(r"[^A-Z0-9_]")


def _journal_name(key: str) -> str:
    """A field name as a journal field: upper case, ``A-Z``, ``0-9`` and ``_``, a letter first
    (``_`` starts the fields journald itself vouches for), at most 64 characters."""
    name = _NOT_JOURNAL_NAME.sub("_", key.upper())
    if not name[:1].isalpha():
        name = "F" + name
    name = name[:64]
    return name[:63] + "_" if name in _JOURNAL_OWN else name


def _journal_field(name: str, text: str) -> bytes:
    """One field of the native journal protocol: ``NAME=value``, or for a value with a
    newline, ``NAME``, its length as 64-bit little endian, then the value."""
    data = text.encode("utf-8", "surrogatepass")
    if b"\n" in data:
        return b"%s\n%s%s\n" % (name.encode(), len(data).to_bytes(8, "little"), data)
    return b"%s=%s\n" % (name.encode(), data)


def _journal_datagram(line: bytes, app_name: str) -> bytes:
    """A record as one native-protocol datagram, from its JSON line: MESSAGE the event,
    PRIORITY its syslog severity, SYSLOG_IDENTIFIER, LOGGER, TIMESTAMP (RFC 3339, UTC),
    EXCEPTION, STACK and CALLSITE when there, then each field under its journal name."""
    record = json.loads(line)
    pop = record.pop
    fields = [("MESSAGE", pop("event", "")), ("PRIORITY", str(_label_severity(pop("level", "")))),
              ("SYSLOG_IDENTIFIER", app_name), ("LOGGER", pop("logger", "")),
              ("TIMESTAMP", pop("timestamp", ""))]
    fields += [(name.upper(), pop(name)) for name in ("exception", "stack", "callsite") if name in record]
    fields += [(_journal_name(key), value) for key, value in record.items()]
    return b"".join([_journal_field(name, _sd_text(value)) for name, value in fields])


def _otlp_severity(levelno: int) -> int:
    """OTLP's SeverityNumber: TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21 (0: unknown)."""
    if levelno <= 0:
        return 0
    for floor, number in ((CRITICAL, 21), (ERROR, 17), (WARNING, 13), (INFO, 9), (DEBUG, 5)):
        if levelno >= floor:
            return number
    return 1


def _otlp_value(v: Any) -> dict:
    """A value as an OTLP AnyValue (OTLP/JSON: 64-bit ints as strings, null as an empty value)."""
    t = type(v)
    if t is str:
        return {"stringValue": v}
    if t is bool:
        return {"boolValue": v}
    if t is int:
        return {"intValue": str(v)} if -(1 << 63) <= v < 1 << 63 else {"stringValue": str(v)}
    if t is float:
        return {"doubleValue": v}
    if v is None:
        return {}
    if t is list:
        return {"arrayValue": {"values": [_otlp_value(item) for item in v]}}
    if t is dict:
        return {"kvlistValue": {"values": [{"key": str(k), "value": _otlp_value(item)} for k, item in v.items()]}}
    return {"stringValue": str(v)}


_HEX = re.compile(r"[0-9a-f]+")


def _otlp_id(value: Any, digits: int) -> str | None:
    """A ``trace_id`` (32 hex digits) or ``span_id`` (16) as OTLP/JSON writes it, or None."""
    if type(value) is not str:
        return None
    value = value.lower()
    return value if len(value) == digits and _HEX.fullmatch(value) and value.strip("0") else None


def _stamp_nanos(stamp: Any, seconds: dict) -> int:
    """Nanoseconds since the epoch of a JSON line's ``timestamp`` (``2026-12-01T12:16:28.123456Z``);
    now, for one a processor made something else. ``seconds`` keeps each second's epoch."""
    try:
        second = seconds.get(stamp[:19])
        if second is None:
            import calendar  # here, not at import: only OTLP export needs it

            second = seconds[stamp[:19]] = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
        return (second * 1_000_000 + int(stamp[20:26])) * 1000
    except (TypeError, ValueError):
        return time.time_ns()


def _otlp_record(line: bytes, seconds: dict) -> tuple[str, dict]:
    """A record's JSON line as (logger, OTLP LogRecord): the time in nanoseconds, severity
    number and text, body the event, the fields as attributes (``trace_id`` and ``span_id``
    as the record's ``traceId`` and ``spanId`` when they are valid ids), an exception as
    ``exception.stacktrace``. ``seconds`` keeps the epoch second of each stamp's second."""
    record = json.loads(line)
    pop = record.pop
    label = _safe_str(pop("level", ""))
    item = {"timeUnixNano": str(_stamp_nanos(pop("timestamp", ""), seconds)),
            "severityNumber": _otlp_severity(_level_of_label(label)), "severityText": label.upper(),
            "body": _otlp_value(pop("event", ""))}
    logger = _safe_str(pop("logger", ""))
    for key, name, digits in (("trace_id", "traceId", 32), ("span_id", "spanId", 16)):
        found = _otlp_id(record.get(key), digits)
        if found is not None:
            item[name] = found
            del record[key]
    if "exception" in record:
        record["exception.stacktrace"] = pop("exception")
    item["attributes"] = [{"key": key, "value": _otlp_value(value)} for key, value in record.items()]
    return logger, item

_FORMATS = {"key_value": _KeyValueFormat, "json": _JsonFormat, "logfmt": _LogfmtFormat}

#: Every line format made, so that a new emoji set reaches their cached plans.
_all_formats: weakref.WeakSet = weakref.WeakSet()


def _make_format(cfg: dict, sink: _Sink | None = None, syslog: dict | None = None) -> _Format:
    """Build the line format of checked options ``cfg`` (colors and emoji as ``sink`` allows);
    with ``syslog`` (``_SyslogFormat``'s own arguments), RFC 5424 messages, whatever ``format``."""
    redactor = _Redactor(cfg["redact"])
    common = dict(
        redactor=redactor, max_value_length=cfg["max_value_length"], max_fields=cfg["max_fields"],
        sanitizer=_Sanitizer(redactor, cfg["max_depth"], cfg["max_fields"], cfg["max_value_length"]),
        callsite=cfg["callsite"])
    if syslog is not None:
        fmt: _Format = _SyslogFormat(emoji=False, colors=False, **syslog, **common)
    else:
        fmt = _FORMATS[cfg["format"]](
            emoji=_emoji_wanted(cfg["emoji"], cfg["format"], sink),
            colors=cfg["format"] == "key_value" and _colors_wanted(cfg["colors"], sink), **common)
    _all_formats.add(fmt)
    return fmt


class Formatter(logging.Formatter):
    """A ``logging.Formatter`` that writes foundation's lines, for any handler.

    ``format(record)`` returns one line without its newline, for foundation's
    records and for plain ones (their ``extra=`` values become fields): give it
    to a ``RotatingFileHandler``, a ``SysLogHandler`` or pytest's handlers, or
    name it in ``dictConfig`` as ``{"()": "foundation.Formatter", "format": "json"}``.
    The pipeline is the one the writer uses. Thread-safe; never raises for bad data.

    Args:
        format: ``"key_value"``, ``"json"`` or ``"logfmt"``.
        emoji: markers before the event; None means on for key_value.
        colors: colored levels (key_value only); None means on when
            ``FORCE_COLOR`` is set (a formatter does not know its stream).
        redact, max_value_length, max_fields, max_depth, callsite: as in ``configure()``.

    Raises:
        TypeError, ValueError: a bad option, named in the message.
    """

    #: How any copy of this module recognises a foundation formatter (not by class).
    _foundation_formatter = True

    def __init__(self, format: str = "key_value", *, emoji: bool | None = None,  # noqa: A002
                 colors: bool | None = False, redact: Iterable[str] = DEFAULT_REDACT,
                 max_value_length: int = 65536, max_fields: int = 1000, max_depth: int = 10,
                 callsite: bool = False) -> None:
        super().__init__()
        self.options = _formatter_config({
            "format": format, "emoji": emoji, "colors": colors, "redact": redact,
            "max_value_length": max_value_length, "max_fields": max_fields,
            "max_depth": max_depth, "callsite": callsite})
        self._pipeline = _make_format(self.options)
        self._pipeline.strict = True  # no batch check here: every value is checked
        self._lock = threading.Lock()

    def format(self, record: logging.LogRecord) -> str:
        """Return the line for ``record``, without its newline."""
        if type(record) is not _Record:
            record = _adopt(record, self._pipeline.sanitizer)
        entry = _entry(record)
        with self._lock:  # the pipeline's caches serve one thread at a time
            return self._pipeline.render(entry)[:-1]


class SyslogFormatter(Formatter):
    """RFC 5424 messages for ``logging.handlers.SysLogHandler`` (UDP, TCP or a Unix socket).

    ``format(record)`` returns ``1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
    [fields@32473 logger="..." key="value" ...] MSG`` without the PRI, which
    ``SysLogHandler`` puts in front from its ``facility`` and the record's
    level. Over UDP and a Unix socket give the handler ``append_nul=False``
    (RFC 5424 has no NUL); over TCP keep it: it ends each message. Values
    are redacted and escaped as in every format (a newline as ``\\n``), then
    with RFC 5424's escapes of ``\\``, ``"`` and ``]``: a message is one line.
    ``configure(syslog=...)`` sends the same messages, PRI included, from the
    writer thread.

    Args:
        app_name: APP-NAME; None means the script's name (``sys.argv[0]``).
        redact, max_value_length, max_fields, max_depth, callsite: as in ``configure()``.

    Raises:
        TypeError, ValueError: a bad option, named in the message.
    """

    def __init__(self, *, app_name: str | None = None, redact: Iterable[str] = DEFAULT_REDACT,
                 max_value_length: int = 65536, max_fields: int = 1000, max_depth: int = 10,
                 callsite: bool = False) -> None:
        logging.Formatter.__init__(self)
        self.options = _formatter_config({
            "redact": redact, "max_value_length": max_value_length, "max_fields": max_fields,
            "max_depth": max_depth, "callsite": callsite})
        app_name = _OPTIONS["syslog_app_name"].check(app_name, "app_name")
        self._pipeline = _make_format(self.options, syslog={"app_name": app_name, "pri": False})
        self._pipeline.strict = True
        self._lock = threading.Lock()


#---------------------------------------------------------------------------
#   Batching writer: sinks, output, queue, writer thread, handlers
#---------------------------------------------------------------------------

class _Sink:
    """Where lines go: a file we opened (binary, one syscall a write), a stream, or stderr.

    With neither a stream nor a path, lines go to whatever ``sys.stderr`` is at
    the moment of each write (``redirect_stderr`` and pytest's capture receive
    them); a capture stream that has been closed is never written to: the
    process's real stderr is used instead. A file may rotate by size, as
    ``RotatingFileHandler`` does, checked after each write. ``write()`` raises
    on failure; the caller counts the loss.
    """

    def __init__(self, stream: Any = None, path: str | os.PathLike | None = None,
                 max_bytes: int = 0, backups: int = 0) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.follows_stderr = stream is None and path is None
        self.opened = path is not None  # close_sink() closes the file (a later write opens it again)
        self._file = None
        self.stream = stream
        self.broken = False
        if path is not None:
            self._open()
            self.is_tty = False
            self.encoding = "utf-8"
            return
        shown = self.current()
        try:
            self.is_tty = bool(shown.isatty())
        except Exception:
            self.is_tty = False
        self.encoding = getattr(shown, "encoding", None) or "utf-8"

    def _open(self) -> None:
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        self.size = os.fstat(self._file.fileno()).st_size

    def current(self) -> Any:
        """The stream written to now: the given one, or the current (open) stderr."""
        if not self.follows_stderr:
            return self.stream
        stream = sys.stderr
        if stream is None or getattr(stream, "closed", False):
            stream = sys.__stderr__
        return stream

    def write(self, text: str, data: bytes) -> None:
        """Write one batch: ``data`` (its UTF-8) to a file, ``text`` to a stream, then flush."""
        if self.path is not None:
            if self._file is None:  # closed by close(): logged to again (at exit, say)
                self._open()
            self._write_file(data)
            return
        stream = self.current()
        try:
            stream.write(text)
        except UnicodeEncodeError:  # e.g. emoji to a cp1252 console: write escapes instead
            encoding = getattr(stream, "encoding", None) or "utf-8"
            stream.write(text.encode(encoding, "backslashreplace").decode(encoding, "replace"))
        flush = getattr(stream, "flush", None)
        if flush is not None:
            flush()

    def _write_file(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = self._file.write(view)
                if written is None:  # non-blocking file with no room: wait a little
                    time.sleep(0.001)
                    continue
                view = view[written:]
        except OSError:
            # Disk full halfway through: cut what this write added, so that no
            # half line (or half a UTF-8 character) stays in the file.
            partial = len(data) - len(view)
            if partial:
                try:
                    os.ftruncate(self._file.fileno(), os.fstat(self._file.fileno()).st_size - partial)
                except OSError:
                    pass
            raise
        self.size += len(data)
        if self.max_bytes and self.size >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        """``app.log`` becomes ``app.log.1``, ``.1`` becomes ``.2``, ...; the oldest beyond ``backups`` goes."""
        self._file.close()
        try:
            for n in range(self.backups - 1, 0, -1):
                older = f"{self.path}.{n}"
                if os.path.exists(older):
                    os.replace(older, f"{self.path}.{n + 1}")
            os.replace(self.path, f"{self.path}.1")
        except OSError as exc:  # keep writing to the same file rather than lose records
            _report_error("rotate", exc)
        self._open()

    def flush(self) -> None:
        if self.path is not None or self.broken:
            return
        stream = self.current()
        flush = getattr(stream, "flush", None)
        if flush is not None and not getattr(stream, "closed", False):
            flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def is_stdout(self) -> bool:
        """True when this sink writes to the process's standard output."""
        stream = self.current() if self.path is None else None
        try:
            return stream is not None and stream.fileno() == 1
        except Exception:
            return stream is sys.__stdout__


#: Bytes that never appear in a line: C0 controls but the newline that ends it, and DEL.
_UNSAFE_BYTES = bytes(range(0x20)).replace(b"\n", b"") + b"\x7f"
#: UTF-8 of the unsafe characters above U+007F (``_INVISIBLE`` and C1 controls),
#: the zero-width joiner wherever it is: a batch that holds one is rendered again
#: with every value checked. (Lone surrogates cannot be encoded at all.)
_UNSAFE_UTF8 = _Pattern(
    rb"\xc2[\x80-\x9f\xad]|\xd8[\x80-\x85\x9c]|\xdb\x9d|\xdc\x8f|\xe0\xa2[\x90\x91]|\xe0\xa3\xa2"
    rb"|\xe1\xa0\x8e|\xe2\x80[\x8b-\x8f\xa8-\xae]|\xe2\x81[\xa0-\xaf]|\xef\xbb\xbf|\xef\xbf[\xb9-\xbb]"
    rb"|\xf0\x91\x82\xbd|\xf0\x91\x83\x8d|\xf0\x93\x90[\xb0-\xbf]|\xf0\x9b\xb2[\xa0-\xa3]"
    rb"|\xf0\x9d\x85[\xb3-\xba]|\xf3\xa0[\x80\x81]")
#: The printable ASCII bytes: deleted from a batch, they leave its newlines, its
#: unsafe bytes and its other characters, whole (UTF-8 never splits one), which is
#: all the pattern above needs to search.
_SAFE_ASCII = bytes(range(0x20, 0x7f))
#: The first bytes of those sequences (two where emoji share the first): a batch
#: with none of them (most non-English text, emoji) is not searched at all.
_UNSAFE_UTF8_LEADS = (b"\xc2", b"\xd8", b"\xdb", b"\xdc", b"\xe0", b"\xe1", b"\xe2\x80", b"\xe2\x81",
                      b"\xef\xbb", b"\xef\xbf", b"\xf0\x91", b"\xf0\x93", b"\xf0\x9b", b"\xf0\x9d", b"\xf3")


#: Batches smaller than this are rendered with every value checked instead.
_STRICT_BELOW = 8


def _safe_bytes(text: str, lines: int) -> bytes | None:
    """Return ``text`` as UTF-8 if it is exactly ``lines`` lines free of unsafe characters.

    One pass over a whole batch, in C: cheaper than checking each value. None
    means the batch must be rendered again with every value checked.
    """
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return None
    rest = data.translate(None, _SAFE_ASCII)  # one pass over the batch: mostly its newlines
    if rest.count(b"\n") != lines:
        return None
    if len(rest) > lines and (len(rest.translate(None, _UNSAFE_BYTES)) != len(rest) or (
            any(lead in rest for lead in _UNSAFE_UTF8_LEADS) and _UNSAFE_UTF8.search(rest))):
        return None
    return data


class _SinkBroken(Exception):
    """The sink's reader has gone (broken pipe): nothing more is written."""


class _SinkLost(Exception):
    """A sink sent part of a batch: the lines at ``lost`` (indices) did not go out.

    They are counted as dropped, not tried again: the others went out, and a
    second try would send them twice. The cause is the exception chained.
    """

    def __init__(self, lost: list) -> None:
        super().__init__(f"{len(lost)} line(s) not sent")
        self.lost = lost


def _syslog_address(value: Any, what: str) -> str:
    """Check the ``syslog`` option: ``udp://host:port``, ``tcp://host:port`` or ``unix:///path``."""
    _syslog_target(value, what)
    return value


def _syslog_target(value: Any, what: str = "syslog") -> tuple[str, Any]:
    """A ``syslog`` option's (kind, address): ``("udp", (host, port))``, ``("unix", path)``."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str like 'udp://host:514', 'tcp://host:601' or "
                        f"'unix:///dev/log', got {value!r}")
    kind, sep, rest = value.partition("://")
    if sep and kind == "unix" and rest.startswith("/"):
        return kind, rest
    host, _, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]
    if not (sep and kind in ("udp", "tcp") and host and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{what} must look like 'udp://host:514', 'tcp://host:601' or "
                         f"'unix:///dev/log', got {value!r}")
    return kind, (host, int(port))


class _SocketSink:
    """Where a syslog or journald Handler's messages go: a datagram each over UDP and a Unix
    socket (``/dev/log``, journald's), octet-counted frames (RFC 6587) over TCP, all of a
    batch in one send.

    Messages are the lines of a batch (no format puts a newline in one),
    made into what is sent by ``encode`` when given (journald's native
    protocol). A socket that fails is closed and opened again by the next write, at
    most once a second (``_RETRY_AFTER``): a server that is down costs one try
    a second, not one a batch, and what could not be sent is counted
    (``_SinkLost``). UDP has no acknowledgement: what the network or a full
    receive buffer loses is lost unseen; TCP loses unseen only what the kernel
    had taken when the server went away.
    """

    _RETRY_AFTER = 1.0

    def __init__(self, kind: str, address: Any, encode: Callable[[bytes], bytes] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.kind, self.address = kind, address
        self.encode = encode
        self.opened = True  # close_sink() closes the socket (a later write opens it again)
        self.is_tty = False  # what Handler and _Output ask of every sink
        self.broken = False
        self._socket: socket.socket | None = None
        self._clock = clock
        self._failed_at = -math.inf

    def _connect(self) -> socket.socket:
        try:
            if self.kind == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.connect(self.address)
            else:
                host, port = self.address
                family, kind, proto, _, target = socket.getaddrinfo(
                    host, port, 0, socket.SOCK_STREAM if self.kind == "tcp" else socket.SOCK_DGRAM)[0]
                sock = socket.socket(family, kind, proto)
                if self.kind == "tcp":
                    sock.settimeout(5.0)
                    try:
                        sock.connect(target)
                    except BaseException:
                        sock.close()
                        raise
                    sock.settimeout(None)
                else:  # not connected: a port with no listener gives no error on the next send
                    self.target = target
        except OSError:
            self._failed_at = self._clock()
            raise
        self._socket = sock
        return sock

    def write(self, text: str, data: bytes) -> None:
        messages = data.split(b"\n")[:-1]
        if self.encode is not None:
            messages = [self.encode(message) for message in messages]
        sock = self._socket
        if sock is None:
            if self._clock() - self._failed_at < self._RETRY_AFTER:  # the failure was reported
                raise _SinkLost(list(range(len(messages))))
            try:
                sock = self._connect()
            except OSError as exc:
                raise _SinkLost(list(range(len(messages)))) from exc
        if self.kind == "tcp":
            self._send_frames(sock, messages)
            return
        lost, cause = [], None
        for index, message in enumerate(messages):
            try:
                if self.kind == "udp":
                    sock.sendto(message, self.target)
                else:
                    sock.send(message)
            except OSError as exc:  # too long for a datagram, or the server went away
                lost.append(index)
                cause = exc
                if not isinstance(exc, (ConnectionError, FileNotFoundError)):
                    continue
                self.close()
                self._failed_at = self._clock()
                lost.extend(range(index + 1, len(messages)))
                break
        if lost:
            raise _SinkLost(lost) from cause

    def _send_frames(self, sock: socket.socket, messages: list) -> None:
        """Send octet-counted frames; on failure, what was not wholly sent is lost."""
        frames = [b"%d %s" % (len(m), m) for m in messages]
        view, sent = memoryview(b"".join(frames)), 0
        try:
            while sent < len(view):
                sent += sock.send(view[sent:])
        except OSError as exc:
            self.close()
            self._failed_at = self._clock()
            done, whole = 0, 0
            for frame in frames:
                if whole + len(frame) > sent:
                    break
                whole += len(frame)
                done += 1
            raise _SinkLost(list(range(done, len(frames)))) from exc

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def after_fork_in_child(self) -> None:
        """Leave the parent's connection to the parent: two processes sending frames on one
        TCP connection would interleave them. The child connects on its first write."""
        self.close()  # this process's descriptor only: the parent's connection stays open
        self._failed_at = -math.inf

    def current(self) -> None:
        return None

    def is_stdout(self) -> bool:
        return False


class _OtlpSink:
    """OTLP/HTTP with JSON encoding: each batch (JSON lines) as one ``ExportLogsServiceRequest``
    POSTed to ``url``, the records grouped by logger (the instrumentation scope).

    Sent from the writer thread with ``urllib``. 429, 502, 503 and 504 (and a
    server that cannot be reached) are tried again, after the ``Retry-After``
    the server gives or else after 0.5, 1, 2, ... seconds, at most
    ``_ATTEMPTS`` times and ``_GIVE_UP_AFTER`` seconds in all; then, or at once
    for any other error, the batch is counted as lost (``_SinkLost``).
    """

    _ATTEMPTS = 5
    _GIVE_UP_AFTER = 30.0
    _LONGEST_WAIT = 10.0

    def __init__(self, url: str, headers: dict, service_name: str, timeout: float,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        import urllib.request  # here, not at import: only OTLP export needs it

        self.urllib = urllib.request
        self.url = url
        self.headers = {"Content-Type": "application/json", **headers}
        self.resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service_name}}]}
        self.timeout = timeout
        self.opened = False
        self.is_tty = False  # what Handler and _Output ask of every sink
        self.broken = False
        self._clock, self._sleep = clock, sleep
        self._seconds: dict[str, int] = {}

    def write(self, text: str, data: bytes) -> None:
        lines = data.split(b"\n")[:-1]
        scopes: dict[str, list] = {}
        if len(self._seconds) > 64:
            self._seconds.clear()
        for line in lines:
            logger, record = _otlp_record(line, self._seconds)
            scopes.setdefault(logger, []).append(record)
        body = _json_text({"resourceLogs": [{"resource": self.resource, "scopeLogs": [
            {"scope": {"name": logger}, "logRecords": records} for logger, records in scopes.items()]}]})
        self._post(body.encode("utf-8"), len(lines))

    def _post(self, body: bytes, count: int) -> None:
        start, delay = self._clock(), 0.5
        for attempt in range(1, self._ATTEMPTS + 1):
            request = self.urllib.Request(self.url, body, self.headers, method="POST")
            try:
                with self.urllib.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                return
            except self.urllib.HTTPError as exc:
                failure: Exception = exc
                exc.close()  # it holds the response, and its socket
                if exc.code not in (429, 502, 503, 504):
                    break
                wait = _retry_after(exc.headers.get("Retry-After"), delay)
            except OSError as exc:  # refused, unreachable, timed out (URLError is an OSError)
                failure, wait = exc, delay
            wait = min(wait, self._LONGEST_WAIT)
            if attempt == self._ATTEMPTS or self._clock() - start + wait > self._GIVE_UP_AFTER:
                break
            self._sleep(wait)
            delay *= 2
        raise _SinkLost(list(range(count))) from failure

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def current(self) -> None:
        return None

    def is_stdout(self) -> bool:
        return False


def _retry_after(header: str | None, otherwise: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds, or an HTTP date), else ``otherwise``."""
    if header is None:
        return otherwise
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        import email.utils  # here, not at import: only OTLP export needs it

        return max(0.0, email.utils.parsedate_to_datetime(header).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return otherwise


#: Records logged while the output is writing, on the same thread (by the sink, a
#: processor or a signal handler), wait at most this many at a time.
_MAX_DEFERRED = 1000


#: A batch write failed and its lines are tried one by one: after this many
#: failures in a row the sink is failing for every line, not for a bad one.
_GIVE_UP_AFTER = 8


class _Output:
    """Renders records and writes them to the sink: one ``write()`` per call.

    Shared by both modes: the writer thread calls it in queue mode, callers do in
    sync mode. ``_lock`` makes one call at a time. It is an RLock because a
    signal handler, or a sink or processor that logs, re-enters on the same
    thread: such records are deferred, and written by one more pass right after
    the current write (what they log in turn waits for the next write or flush).
    Counts what it writes, drops and what its processors drop in ``ledger``.
    """

    def __init__(self, fmt: _Format, sink: _Sink, processors: tuple, batch_size: int) -> None:
        self.format = fmt
        self.sink = sink
        self.processors = processors
        self.batch_size = batch_size
        self.ledger: _Ledger | _RetiredLedger = _LEDGER  # where it counts
        self.in_sink = 0  # records of the write under way (what a stuck sink holds)
        self._lock = threading.RLock()
        self._busy = False
        self._stuck = False
        self._fork_held = False
        self._deferred: list = []

    def write_entries(self, entries: list, timeout: float = -1) -> None:
        """Render ``_entry()`` tuples and write them with one ``write()``. Never raises.

        With a ``timeout``, gives up (counting the records as dropped) if another
        thread's write does not finish in time: a stuck sink must not hold callers.
        """
        if not self._acquire(timeout):
            if entries:
                self.ledger.dropped(len(entries))
            return
        try:
            self._write_locked(entries)
        finally:
            self._lock.release()

    def _acquire(self, timeout: float) -> bool:
        """Take the lock; with a timeout, wait only until one wait has timed out.

        Exit calls several of these (shutdown hooks, logging.shutdown's flush and
        close): with a sink stuck in a write, only the first waits.
        """
        if timeout >= 0 and self._stuck:
            timeout = 0
        if self._lock.acquire(True, timeout):
            self._stuck = False
            return True
        self._stuck = True
        return False

    def _write_locked(self, entries: list) -> None:
        if self._busy:  # re-entered on this thread: write it after the current write
            if len(self._deferred) + len(entries) <= _MAX_DEFERRED:
                self._deferred.extend(entries)
            else:
                self.ledger.dropped(len(entries))
            return
        batch, passes = entries, 0
        while True:
            self._busy = True
            try:
                self._write(batch)
            finally:
                self._busy = False
            # Checked once _busy is False: a record deferred after this check
            # could not have been (a re-entrant call now writes at once).
            if not self._deferred or passes:
                break
            batch, self._deferred = self._deferred, []
            passes += 1

    def flush(self, timeout: float = -1) -> bool:
        """Write what waits (deferred records, a drop report), then flush the sink.

        False if another thread's write did not finish within ``timeout``.
        """
        if not self._acquire(timeout):
            return False
        try:
            self._write_locked([])
            self.sink.flush()
        except BrokenPipeError as exc:
            self._broken_pipe(exc)
        except RecursionError:
            raise
        except Exception as exc:
            _report_error("flush", exc)
        finally:
            self._lock.release()
        return True

    def _write(self, entries: list) -> None:
        fmt = self.format
        items = self._process(entries) if self.processors else entries
        report = None
        unreported = self.ledger.take_unreported() if not self.sink.broken else 0
        if unreported:
            report = fmt.render(_entry(_Record(_SELF_NAME, WARNING, "logs_dropped", {"count": unreported})))
            if len(items) >= self.batch_size:  # a write carries at most batch_size records
                self._send([report], report.encode("utf-8"), unreported)
                report = None
        if not items and report is None:
            return
        # Small batches (sync mode writes one record at a time) and colored lines
        # are rendered with every value checked; other batches optimistically,
        # then checked once as a whole and rendered again if a line has an
        # unsafe character.
        strict = fmt.colors or len(items) < _STRICT_BELOW
        lines = self._render(items, strict)
        if report is not None:
            lines.insert(0, report)
        text = "".join(lines)
        data = text.encode("utf-8", "backslashreplace") if strict else _safe_bytes(text, len(lines))
        if data is None:
            fmt.forget_unchecked()
            lines = self._render(items, True)
            if report is not None:
                lines.insert(0, report)
            text = "".join(lines)
            data = text.encode("utf-8", "backslashreplace")
        self._send(lines, data, unreported if report is not None else 0, text)

    def _send(self, lines: list, data: bytes, reported: int = 0, text: str | None = None) -> bool:
        """Write one batch and count its records written or dropped; True if the write returned.

        ``reported``: the count of the drop report that leads the batch, if one
        does. A report that cannot be written is no record: its count waits
        for the next write. Not swallowed (counted first): RecursionError,
        KeyboardInterrupt, SystemExit. ``text``: the lines joined, when the caller has it.
        """
        count = len(lines) - (1 if reported else 0)
        if text is None:
            text = lines[0] if len(lines) == 1 else "".join(lines)
        self.in_sink = count
        try:
            if self.sink.broken:
                raise _SinkBroken
            self.sink.write(text, data)
        except _SinkLost as exc:  # some lines went out: the others are lost, not tried again
            self.in_sink = 0
            report_lost = bool(reported) and 0 in exc.lost  # the report leads the batch
            self.ledger.wrote(len(lines) - len(exc.lost),
                              len(data) - sum(len(lines[i].encode("utf-8", "replace")) for i in exc.lost))
            self.ledger.dropped(len(exc.lost) - report_lost)
            if report_lost:
                self.ledger.report_again(reported)
            if exc.__cause__ is not None:  # none: the sink knew the server was down (reported then)
                _report_error("write", exc.__cause__)
            return False
        except BaseException as exc:
            self.in_sink = 0
            if len(lines) > 1 and isinstance(exc, Exception) and not isinstance(
                    exc, (BrokenPipeError, RecursionError, _SinkBroken)):
                self._send_each(lines[1:] if reported else lines)
                if reported:  # not a record: its count waits for the next write
                    self.ledger.report_again(reported)
                return False
            self.ledger.dropped(count)
            if reported:
                self.ledger.report_again(reported)
            if isinstance(exc, BrokenPipeError):
                self._broken_pipe(exc)
            elif isinstance(exc, (RecursionError, KeyboardInterrupt, SystemExit)) or not isinstance(exc, Exception):
                raise
            elif type(exc) is not _SinkBroken:
                _report_error("write", exc)
            return False
        self.in_sink = 0
        self.ledger.wrote(len(lines), len(data))
        return True

    def _send_each(self, lines: list) -> None:
        """A batch write failed: write its lines one by one, so that only the lines the sink rejects are lost.

        Each failure is counted and reported as any failed write is. After
        ``_GIVE_UP_AFTER`` failures in a row the sink is taken to be failing for
        every line: the rest are counted as dropped without a try.
        """
        failed_in_a_row = 0
        for line in lines:
            if failed_in_a_row >= _GIVE_UP_AFTER:
                self.ledger.dropped(1)
                continue
            sent = self._send([line], line.encode("utf-8", "backslashreplace"))
            failed_in_a_row = 0 if sent else failed_in_a_row + 1

    def _render(self, items: list, strict: bool) -> list:
        """Render ``items``; ``strict``: check every value (else the batch check does)."""
        render = self._render_event if self.processors else self.format.render
        self.format.strict = strict
        try:
            try:
                return [render(item) for item in items] if self.processors else self.format.render_all(items)
            except Exception:  # rare: find the item whose careful path failed too
                lines = [self._render_one(render, item) for item in items]
                return [line for line in lines if line is not None]
        finally:
            self.format.strict = False

    def _render_one(self, render: Callable[[Any], str], item: Any) -> str | None:
        try:
            return render(item)
        except Exception as exc:
            self.ledger.dropped(1)
            _report_error("render", exc)
            return None

    def _broken_pipe(self, exc: BrokenPipeError) -> None:
        """The reader went away (``app | head -1``): stop writing, say so once.

        When the sink is stdout, point file descriptor 1 at devnull, as the
        Python docs advise for SIGPIPE, so that the interpreter's own flush at
        exit neither prints a second error nor changes the exit code.
        """
        sink = self.sink
        sink.broken = True
        if sink.is_stdout():
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.close(devnull)
            except OSError:
                pass
        _report_error("output closed (broken pipe); later records are counted as dropped", exc)

    # -- processors --------------------------------------------------------
    def _process(self, entries: list) -> list:
        """Run the processors once per record; return the flat dicts they kept."""
        events = []
        for entry in entries:
            try:
                event = self._processed(entry)
            except Exception as exc:
                if isinstance(exc, RecursionError):
                    raise
                self.ledger.dropped(1)
                _report_error("processors", exc)
                continue
            if event is not None:
                events.append(event)
        return events

    def _processed(self, entry: tuple) -> dict | None:
        """The record's flat dict after the processors, or None when one dropped it."""
        created, levelno, name, text, fields, exc_text, stack, filename, lineno = entry
        fields = _fields_of(fields)
        event = {"timestamp": created, "level": _level_label(levelno), "logger": name, "event": text}
        callsite = _callsite_text(filename, lineno) if self.format.callsite else None
        if callsite is not None:
            event["callsite"] = callsite
        if fields:
            plan = self.format.plan(tuple(fields))
            for key, v, hidden in zip(plan.names, fields.values(), plan.secret or repeat(False)):
                event[key] = _REDACTED if hidden else v
        if exc_text is not None:
            event["exception"] = exc_text
        if stack is not None:
            event["stack"] = stack
        for processor in self.processors:
            try:
                result = processor(event)
            except RecursionError:
                raise
            except Exception as exc:
                _report_error(f"processor {_safe_repr(processor)}", exc)
                continue
            if result is None:
                self.ledger.processed_out()
                return None
            if not isinstance(result, dict):
                _report_error(f"processor {_safe_repr(processor)}",
                              TypeError(f"returned {type(result).__name__}, not a dict or None"))
                continue
            event = result
        return event

    def _render_event(self, event: dict) -> str:
        """Render a processed flat dict (it may be rendered twice: it is not changed)."""
        fields = dict(event)
        pop = fields.pop
        fmt = self.format
        return fmt.careful_line(pop("timestamp", 0.0), pop("level", ""), pop("logger", ""),
                                pop("event", ""), fmt.redactor.fields(fields), pop("exception", None),
                                pop("stack", None), pop("callsite", None) if fmt.callsite else None)

    def use_format(self, fmt: _Format) -> None:
        """Render with ``fmt`` from the next write on."""
        with self._lock:
            self.format = fmt

    def close_sink(self, timeout: float) -> None:
        """Close a file or socket the sink opened (a later write opens it again), unless a write is stuck."""
        if not self.sink.opened or not self._acquire(timeout):
            return
        try:
            self.sink.close()
        except Exception as exc:
            _report_error("close", exc)
        finally:
            self._lock.release()

    # -- fork ----------------------------------------------------------------
    def before_fork(self) -> None:
        """Wait (a little) for a write in progress, so the child never inherits it half done."""
        self._fork_held = self._lock.acquire(timeout=1.0)

    def after_fork_in_parent(self) -> None:
        if self._fork_held:
            self._fork_held = False
            self._lock.release()

    def after_fork_in_child(self) -> None:
        self._lock = threading.RLock()
        self._busy = False
        self._fork_held = False
        self._deferred = []
        self.in_sink = 0
        if isinstance(self.sink, _SocketSink):
            self.sink.after_fork_in_child()


class _Control:
    """An item in the queue that is not a record: a flush barrier or the stop signal.

    Its end is a lock released, not an ``Event`` set: a release never waits,
    so the writer cannot block on the one who waits (a signal handler may
    interrupt that one inside ``Event.wait()``, holding its lock, and then
    wait for the writer itself).
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = threading.Lock()
        self._pending.acquire()

    def set_done(self) -> None:
        try:
            self._pending.release()
        except RuntimeError:  # done already: the stop signal is shared by every stop
            pass

    def wait(self, timeout: float | None) -> bool:
        """Wait until done (``timeout`` None: for ever); False if ``timeout`` passed first."""
        if not self._pending.acquire(True, -1 if timeout is None else max(timeout, 0.0)):
            return False
        self._pending.release()
        return True


_STOP = _Control()  # tells the writer thread to exit once the records before it are written

class _BatchQueue:
    """A bounded FIFO of records, taken by the writer thread in batches.

    Producers append to a ``deque`` (atomic under the GIL) and only signal the
    writer when a batch is ready, an ERROR arrives, or a barrier is queued; the
    writer otherwise wakes every ``interval`` seconds. The bound is checked
    before the append, so concurrent producers may overshoot it by a record (or
    a batch) each. Thread-safe; ``put()`` never blocks in ``"drop"`` mode.

    Every primitive a producer touches is re-entrant, so a signal handler that
    logs in the middle of a put cannot deadlock: the wake-up is a token in a
    ``SimpleQueue`` (whose ``put`` is documented re-entrant), the room to wait
    for is a ``Condition`` on an RLock. And the writer never waits for that
    lock: what it takes is counted on its own side (``text_out``,
    ``controls_out``), so a signal handler that waits for the writer (exit on
    SIGTERM) cannot deadlock with the frame it interrupted inside a put.
    """

    def __init__(self, maxsize: int, overflow: str, batch_size: int, interval: float,
                 max_text: int = 32 << 20) -> None:
        self.maxsize = maxsize
        self.max_text = max_text  # queue_bytes: the text of the heavy entries queued, at most
        self.text_in = 0  # ... of every heavy entry queued (changed under _room)
        self.text_out = 0  # ... of those the writer took (changed by the writer alone)
        self.overflow = overflow
        self.block = overflow == "block"
        self.batch_size = batch_size
        self.interval = interval
        self._items: deque = deque()
        self._wake_len = max(min(batch_size, maxsize) - 1, 0)
        self._wake = queue_module.SimpleQueue()
        self._sleeping = False
        self._urgent = False
        self._controls_in = 0  # barriers queued (changed under _room)
        self._controls_out = 0  # ... and taken (changed by the writer alone)
        self._room = threading.Condition(threading.RLock())
        self._waiting = 0
        self.writer_ident: int | None = None
        self.alive = True
        self.taken = 0  # records the writer has taken and not yet written (or counted)
        self.ledger: _Ledger | _RetiredLedger = _LEDGER  # where its drops count
        _LEDGER.watch(self)  # what it holds counts in stats()'s queue_depth

    def __len__(self) -> int:
        return len(self._items)

    @property
    def text(self) -> int:
        """Characters of text of the heavy entries queued now (``queue_bytes`` bounds it)."""
        return self.text_in - self.text_out

    def _has_controls(self) -> bool:
        return self._controls_in != self._controls_out

    def put(self, entry: tuple) -> None:
        items = self._items
        n = len(items)
        if n < self.maxsize and type(entry) is tuple:
            items.append(entry)
            if self._sleeping and (n >= self._wake_len or entry[_LEVELNO] >= ERROR):
                self._wake.put(None)
        else:
            self._put_full(entry)

    def put_many(self, entries: list) -> None:
        items = self._items
        if len(items) + len(entries) <= self.maxsize and _HeavyEntry not in set(map(type, entries)):
            items.extend(entries)
            if self._sleeping and len(items) > self._wake_len:
                self._wake.put(None)
        else:
            for entry in entries:
                self.put(entry)

    def _put_full(self, entry: tuple) -> None:
        """The queue is full: drop and count, or wait for room.

        Nobody waits for a writer that has stopped (the record goes in; the
        handler writes what the drain missed), and the writer thread does not
        wait for itself: what it logs into its own full queue (a sink or a
        processor that logs) is dropped and counted, as in drop mode.
        """
        text = entry.text if type(entry) is _HeavyEntry else 0
        if not self.alive:
            self._items.append(entry)
            return
        if not (text or self.block):  # drop mode, a light entry: nothing to wait for, no lock
            if len(self._items) < self.maxsize:  # the writer took some meanwhile
                self._items.append(entry)
            else:
                self.ledger.dropped(1)
                if not self._urgent:  # the writer was told once: it takes the full queue next
                    self._urgent = True
                    self._wake.put(None)
            return
        with self._room:
            if not self._fits(text):
                if not self.block or threading.get_ident() == self.writer_ident:
                    self.ledger.dropped(1)
                    self._urgent = True
                    self._wake.put(None)
                    return
                self._waiting += 1
                try:
                    while not self._fits(text) and self.alive:
                        self._urgent = True
                        self._wake.put(None)
                        self._room.wait(0.05)
                finally:
                    self._waiting -= 1
            self.text_in += text
            self._items.append(entry)
        if self._sleeping and text:
            self._wake.put(None)

    def _fits(self, text: int) -> bool:
        """Whether an entry with ``text`` characters (0 if light) keeps both bounds.

        A heavy entry always fits an empty text budget, whatever its size.
        """
        return len(self._items) < self.maxsize and (
            not text or not self.text or self.text + text <= self.max_text)

    def room(self) -> int:
        """How many records fit before the bound (0 or less: full).

        Always room in drop mode and once the writer has stopped: nobody waits then.
        """
        if not (self.block and self.alive):
            return self.maxsize
        return 0 if self.full() else self.maxsize - len(self._items)

    def full(self) -> bool:
        """Whether a record put now would wait for room: in block mode, the queue holds
        ``maxsize`` records or ``max_text`` of text, and the writer runs. (The async calls
        ask this, one call, before every record.)"""
        return self.block and (len(self._items) >= self.maxsize or self.text_in - self.text_out >= self.max_text
                               ) and self.alive

    async def wait_for_room(self, count: int = 1) -> None:
        """Sleep on the event loop until ``count`` records fit (or the writer has stopped)."""
        import asyncio  # here, not at import: only async programs pay for it

        delay = 0.0005
        while (len(self._items) + count > self.maxsize or self.text >= self.max_text) and self.alive:
            self._urgent = True
            self._wake.put(None)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def put_control(self, control: _Control) -> None:
        """Queue a barrier or the stop signal; it bypasses the bound and wakes the writer."""
        with self._room:
            self._controls_in += 1
        self._items.append(control)
        self._urgent = True
        self._wake.put(None)

    def take(self) -> list | _Control:
        """Wait for work, then return up to ``batch_size`` records, or a control item.

        Called by the writer thread only.
        """
        items = self._items
        if len(items) <= self._wake_len and not self._urgent and not self._has_controls():
            self._sleeping = True
            # Check again once _sleeping is visible: a producer that appended in
            # between either sees _sleeping and wakes us, or is seen here.
            if len(items) <= self._wake_len and not self._urgent and not self._has_controls():
                try:
                    self._wake.get(True, self.interval)
                except queue_module.Empty:
                    pass
            self._sleeping = False
            try:  # tokens from several producers: one wake-up is enough
                while True:
                    self._wake.get_nowait()
            except queue_module.Empty:
                pass
        self._urgent = False
        pop = items.popleft
        count = min(len(items), self.batch_size)
        self.taken = count  # before the records leave the queue: exit counts them as in the writer's hands
        if not self._has_controls() and not self.text:
            batch = [pop() for _ in repeat(None, count)]
        else:  # a barrier ends a batch, and so does a quarter of queue_bytes of text
            batch = []
            text = 0
            for _ in repeat(None, count):
                item = pop()
                if type(item) is _HeavyEntry:
                    text += item.text
                    if text > self.max_text // 4 and batch:
                        items.appendleft(item)
                        self._urgent = True
                        break
                elif type(item) is _Control:
                    if batch:
                        items.appendleft(item)  # handled first on the next take
                        self._urgent = True
                        break
                    self._controls_out += 1
                    self.taken = 0
                    return item
                batch.append(item)
        if self.text:
            self.text_out += sum([e.text for e in batch if type(e) is _HeavyEntry])
        self.taken = len(batch)
        if self._waiting:
            self._notify_room()
        return batch

    def _notify_room(self) -> None:
        """Wake the producers waiting for room (they also look again every 50 ms).

        Under the lock, so a producer about to wait is not missed; but waiting
        for it at most 50 ms: a signal handler may hold it, waiting for us.
        """
        if self._room.acquire(True, 0.05):
            try:
                self._room.notify_all()
            finally:
                self._room.release()

    def drain(self) -> tuple[list, list]:
        """Remove everything left (the writer has stopped): the records, and the controls."""
        items = self._items
        records, controls = [], []
        while items:
            item = items.popleft()
            (controls if type(item) is _Control else records).append(item)
        with self._room:
            self.text_in = self.text_out
        return records, controls


class _Writer:
    """The writer thread: takes batches from a ``_BatchQueue`` and writes each with one ``write()``.

    A named daemon thread that never dies: every error is counted and reported.
    ``stop()`` is safe to call twice, and returns at once from the thread itself.
    """

    def __init__(self, queue: _BatchQueue, output: _Output) -> None:
        self.queue = queue
        self.output = output
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread. Raises RuntimeError at interpreter shutdown (3.12+)."""
        thread = threading.Thread(target=self._run, name="foundation-writer", daemon=True)
        thread.start()
        self._thread = thread
        self.queue.writer_ident = thread.ident

    def _run(self) -> None:
        take, output = self.queue.take, self.output
        while True:
            try:
                item = take()
                if item is _STOP:
                    return
                if type(item) is _Control:  # a flush barrier
                    output.flush()
                    item.set_done()
                else:
                    output.write_entries(item)
                    self.queue.taken = 0
            except BaseException as exc:  # noqa: BLE001 - the writer thread must survive anything
                _report_error("writer", exc)

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the thread to finish the queued records and exit; True if it did within ``timeout``."""
        thread = self._thread
        if thread is None:
            return True
        if thread.ident == threading.get_ident():
            return False  # asked from the writer thread itself (a sink that shuts down)
        self.queue.put_control(_STOP)
        thread.join(timeout)
        if thread.is_alive():
            return False
        self._thread = None
        return True

    def is_alive(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()


#: Where a Handler sends records: its ``route``, an explicit field read once per record.
_QUEUED = "queued"  #: to the writer thread
_DIRECT = "direct"  #: written in the caller's thread (sync mode, a terminal, after stop())
_STUCK = "stuck"    #: stop() timed out with the writer inside the sink: records are counted as dropped

#: Every Handler not yet closed: flush(), stats() and shutdown() act on all of them.
_live_handlers: list = []
_live_lock = threading.RLock()  # RLock: a signal handler may flush while the main thread configures


class Handler(logging.Handler):
    """The handler ``configure()`` installs; usable alone, beside others, or from ``dictConfig``.

    ``Handler(format="json", file="app.log")`` takes the output options of
    ``configure()`` (``format``, ``stream``, ``file``, ``mode``, ``queue_size``,
    ``queue_bytes``, ``overflow``, ``batch_size``, ``flush_interval``, ``processors``,
    ``redact``, ``emoji``, ``colors``, ``max_value_length``, ``max_fields``,
    ``max_depth``, ``max_bytes``, ``backups``, ``callsite``,
    ``shutdown_timeout``) and reads no environment variable. In queue mode a
    writer thread renders and writes batches, so ``handle()`` never waits on
    I/O (except with ``overflow="block"`` and a full queue); on an interactive
    terminal, and in sync mode, each record is written before ``handle()``
    returns. Thread-safe. Every copy of this module recognises it
    (``configure()`` replaces any of them).

    Raises:
        TypeError, ValueError: an unknown option or a bad value.
        OSError: ``file`` cannot be opened.
    """

    #: How any copy of this module recognises a foundation handler (not by class).
    _foundation_handler = True

    def __init__(self, **options: Any) -> None:
        cfg = _handler_config(options)
        super().__init__()
        self.formatter = Formatter(**{name: cfg[name] for name in _FORMATTER_OPTIONS})
        if cfg["syslog"] is not None:
            sink: Any = _SocketSink(*_syslog_target(cfg["syslog"]))
            fmt = _make_format(cfg, sink, syslog={
                "facility": _SYSLOG_FACILITIES[cfg["syslog_facility"]], "app_name": cfg["syslog_app_name"]})
        elif cfg["journald"] is not None or cfg["otlp"] is not None:  # exporters: they take JSON lines
            if cfg["journald"] is not None:  # each sent as one native-protocol datagram
                app_name = cfg["syslog_app_name"] or _default_app_name()
                sink = _SocketSink("unix", cfg["journald"], lambda line: _journal_datagram(line, app_name))
            else:  # a batch as one ExportLogsServiceRequest
                sink = _OtlpSink(*_otlp_settings(cfg))
            fmt = _make_format({**cfg, "format": "json", "emoji": False, "colors": False}, sink)
        else:
            sink = _Sink(cfg["stream"], cfg["file"], cfg["max_bytes"], cfg["backups"])
            fmt = _make_format(cfg, sink)
        self.output = _Output(fmt, sink, cfg["processors"], cfg["batch_size"])
        self.mode = cfg["mode"]
        self.shutdown_timeout = cfg["shutdown_timeout"]
        self.route = _DIRECT
        self.queue: _BatchQueue | None = None
        self.writer: _Writer | None = None
        self._direct_timeout = -1.0  # how long a direct write waits for another thread's
        self._closed = False
        self._said_at_exit = False
        self.ring: RingBuffer | None = None  # configure(ring_buffer=N): keeps what this writes
        if self.mode == "queue" and not sink.is_tty:  # a terminal shows each line at once
            self.queue = _BatchQueue(cfg["queue_size"], cfg["overflow"], cfg["batch_size"],
                                     cfg["flush_interval"], cfg["queue_bytes"])
            self.writer = _Writer(self.queue, self.output)
            try:
                self.writer.start()
                self.route = _QUEUED
            except RuntimeError:  # "can't create new thread at interpreter shutdown" (3.12+)
                self.queue = self.writer = None
        with _live_lock:
            _live_handlers.append(self)
        _register_process_hooks()

    def __repr__(self) -> str:
        return f"<foundation.Handler {self.mode} {self.route} ({logging.getLevelName(self.level)})>"

    # -- records in ------------------------------------------------------------
    def handle(self, record: logging.LogRecord) -> bool:
        """Hand ``record`` on (filters first); never raises for bad data or a broken sink."""
        try:
            if self.filters or type(record) is not _Record:
                entry = self._accept(record)
                if entry is None:
                    return False
            else:
                entry = _weighed(_entry(record), self.output.format.sanitizer.max_length)
        except RecursionError:
            raise
        except Exception as exc:
            self._lost(1, exc)
            return True
        self.put_entry(entry)
        return True

    def put_entry(self, entry: tuple) -> None:
        """Hand on one entry (see ``_entry()``); never raises for a broken sink."""
        try:
            if self.ring is not None:
                first = self.ring.keep_written(entry)
                if first:  # a flight recorder's flush: the kept records go first
                    first.append(entry)
                    self._put_entries(first)
                    return
            if self.route is _QUEUED:
                self.queue.put(entry)
                if self.route is not _QUEUED:
                    self._write_late()
            else:
                self._write_direct([entry])
        except RecursionError:
            raise
        except Exception as exc:
            self._lost(1, exc)

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)

    def put_entries(self, entries: list) -> None:
        """Hand on entries (see ``_entry()``) in one hand-off."""
        if self.ring is not None:
            keep, kept = self.ring.keep_written, []
            for entry in entries:
                first = keep(entry)
                if first:
                    kept.extend(first)
                kept.append(entry)
            entries = kept
        self._put_entries(entries)

    def _put_entries(self, entries: list) -> None:
        if self.route is _QUEUED:
            self.queue.put_many(entries)
            if self.route is not _QUEUED:
                self._write_late()
        else:
            self._write_direct(entries)

    def _accept(self, record: logging.LogRecord) -> tuple | None:
        """Apply this handler's filters; return the record's entry, or None."""
        if self.filters:
            result = self.filter(record)
            if not result:
                return None
            if isinstance(result, logging.LogRecord):  # 3.12+: a filter may return a record
                record = result
        if type(record) is not _Record:
            record = _adopt(record, self.output.format.sanitizer)
        return _weighed(_entry(record), self.output.format.sanitizer.max_length)

    def _lost(self, count: int, exc: Exception) -> None:
        """A hand-off failed (a filter or a foreign record raised): count the records, report."""
        self.output.ledger.dropped(count)
        _report_error("handler", exc)

    def _write_late(self) -> None:
        """A record went into the queue as ``stop()`` drained it: write what the drain missed.

        (With a stuck writer the records wait for ``_finish()``, or are counted at exit.)
        """
        if self.route is _DIRECT:
            records, controls = self.queue.drain()
            self.output.write_entries(records, self._direct_timeout)
            for control in controls:
                control.set_done()
            if self._closed:  # close() had closed the file: do not leave it open again
                self.output.close_sink(self.shutdown_timeout)

    def _write_direct(self, entries: list) -> None:
        if self.route is _STUCK:
            if self.writer.is_alive():
                self.output.ledger.dropped(len(entries))
                return
            self._finish(self.shutdown_timeout)  # the sink returned at last
        self.output.write_entries(entries, self._direct_timeout)

    # -- for the async methods ---------------------------------------------------
    def room(self) -> int:
        """How many records the queue takes before it is full (a large number when it never waits)."""
        return self.queue.room() if self.route is _QUEUED else 1 << 30

    async def wait_for_room(self, count: int = 1) -> None:
        """Wait on the event loop until ``count`` records fit in the queue."""
        if self.route is _QUEUED:
            await self.queue.wait_for_room(min(count, self.queue.maxsize))

    async def wait_for_cancellable_room(self, count: int) -> None:
        """``wait_for_room()`` for ``count`` records not handed over yet: counted as dropped if cancelled."""
        try:
            await self.wait_for_room(count)
        except BaseException:  # CancelledError (a BaseException since 3.8), or the loop closing
            self.output.ledger.dropped(count)
            raise

    # -- flush, stop, close ------------------------------------------------------
    def flush_wait(self, timeout: float | None = None) -> bool:
        """Wait until every record handed on before the call is written and the sink flushed."""
        wait = -1.0 if timeout is None else timeout
        if self.route is _DIRECT:
            return self.output.flush(wait)
        if threading.get_ident() == self.queue.writer_ident:
            return False  # from the writer thread (a sink that flushes foundation): it would wait for itself
        if not self.writer.is_alive():
            return self._finish(wait)
        if self.route is _STUCK:  # a stop() timed out and the sink has not returned since
            return False
        barrier = _Control()
        self.queue.put_control(barrier)
        return barrier.wait(timeout)

    def flush(self) -> None:
        if not self._closed:
            self.flush_wait(self.shutdown_timeout)

    def stop(self, timeout: float | None = None) -> bool:
        """Drain the queue and stop the writer; later records are written in the caller's thread.

        If the writer does not finish within ``timeout`` (a stuck sink), later
        records are counted as dropped and later stops and flushes return at
        once, until the writer does finish: exit must not wait for the sink twice.
        """
        wait = -1.0 if timeout is None else timeout
        if self.route is _DIRECT:
            return self.output.flush(wait)
        if self.route is _STUCK and self.writer.is_alive():
            return False
        stopped = self.writer.stop(timeout)
        self.queue.alive = False
        if stopped:
            return self._finish(wait)
        self.route = _STUCK
        return False

    def _finish(self, timeout: float) -> bool:
        """The writer has exited: write what it left, release the barriers, go direct."""
        self.route = _DIRECT
        self._direct_timeout = self.shutdown_timeout
        records, controls = self.queue.drain()
        self.output.write_entries(records, timeout)
        done = self.output.flush(timeout)
        for control in controls:  # only now: a flush() waiting on one must see the records written
            control.set_done()
        return done

    def stop_at_exit(self) -> None:
        """Stop within ``shutdown_timeout``; count and report on stderr what could not be written.

        The process is ending: records still queued behind a slow or stuck sink
        are counted as dropped (``stats()``) and one line says how many, and how
        many the sink was still writing (those may or may not arrive).
        """
        if self.stop(self.shutdown_timeout):
            return
        records = self.queue.drain()[0] if self.queue is not None else []
        lost = len(records)
        in_sink = self.queue.taken if self.queue is not None and self.queue.taken else self.output.in_sink
        if lost:
            self.output.ledger.dropped(lost)
        elif self._said_at_exit:  # the exit hooks call this twice
            return
        self._said_at_exit = True
        parts = [f"{_records(lost)} not written"] if lost else []
        if in_sink:
            parts.append(f"{_records(in_sink, 'more ' if lost else '')} still being written")
        stuck = self.output.sink.current()
        if parts:
            _write_stderr_at_exit(
                f"foundation: at exit, {' and '.join(parts)}: the sink did not finish within "
                f"shutdown_timeout ({self.shutdown_timeout:g} s)\n", stuck)
        # The interpreter flushes sys.stdout and sys.stderr as it ends; one whose lock the
        # stuck writer holds would make it abort ("could not acquire lock ... at interpreter
        # shutdown"), changing the exit status. Nothing more can be written to it anyway.
        if in_sink and stuck is not None:
            if stuck is sys.stdout:
                sys.stdout = None
            if stuck is sys.stderr:
                sys.stderr = None

    def _retire(self) -> None:
        """``configure()`` replaced this handler: from now on it counts in ``_RETIRED``.

        What it still writes (its drain, a record that reaches it late) is
        not the new configuration's to count; what it drops is still reported,
        by the handler that replaced it.
        """
        self.output.ledger = _RETIRED
        if self.queue is not None:
            self.queue.ledger = _RETIRED
            _LEDGER.unwatch(self.queue)

    def close(self) -> None:
        """Write what is queued, stop the writer, close a file it opened (reopened if logged to again)."""
        if not self._closed:  # logging.shutdown() closes every handler again at exit
            self.stop(self.shutdown_timeout)
            self._closed = True
            with _live_lock:
                if self in _live_handlers:
                    _live_handlers.remove(self)
            if self.route is _DIRECT:
                self.output.close_sink(self.shutdown_timeout)
            if self.queue is not None:  # what a stuck writer still holds is not queued in stats()
                _LEDGER.unwatch(self.queue)
        super().close()

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        """Take the options of a foundation ``Formatter`` (of any copy of this module).

        Raises:
            TypeError: ``fmt`` is another kind of formatter: this handler renders
                with its own pipeline, so give ``format=`` and the like instead.
        """
        if fmt is None or not getattr(fmt, "_foundation_formatter", False):
            raise TypeError(f"foundation.Handler renders lines itself; give it format=... options, "
                            f"or a foundation.Formatter, not {fmt!r}")
        self.formatter = fmt
        self.output.use_format(_make_format(dict(fmt.options), self.output.sink))

    # -- fork ------------------------------------------------------------------------
    def after_fork_in_child(self) -> None:
        """Re-make the locks and, in queue mode, give the child its own queue and writer.

        Records the parent had queued are the parent's to write (and its counts,
        ``_LEDGER``'s, are the parent's too): the child starts empty and at zero.
        A writer already stopped (after shutdown) stays stopped.
        """
        self.output.after_fork_in_child()
        if self.route is not _QUEUED:
            return
        old = self.queue
        self.queue = _BatchQueue(old.maxsize, old.overflow, old.batch_size, old.interval,
                                 old.max_text)
        self.queue.ledger = old.ledger
        self.writer = _Writer(self.queue, self.output)
        self.writer.start()


class OTLPHandler(Handler):
    """A :class:`Handler` that exports to an OpenTelemetry collector: OTLP/HTTP, JSON encoding.

    Each batch the writer thread takes is POSTed to ``{endpoint}/v1/logs`` as one
    ``ExportLogsServiceRequest`` (see ``_OtlpSink``): the caller never waits on
    the network. ``configure(otlp=endpoint)`` installs the same handler.

    Args:
        endpoint: the collector's base URL (``http://localhost:4318``); None: from
            ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` (as is) or ``OTEL_EXPORTER_OTLP_ENDPOINT``.
        headers: HTTP headers (an API key); None: from ``OTEL_EXPORTER_OTLP_HEADERS``.
        service_name: the resource's ``service.name``; None: ``OTEL_SERVICE_NAME``.
        batch_size: most records in one request.
        timeout: seconds one request may take.
        options: the other options of :class:`Handler` (``queue_size``, ``redact``, ...).
    """

    def __init__(self, endpoint: str | None = None, *, headers: Mapping[str, str] | None = None,
                 service_name: str | None = None, batch_size: int = 512, timeout: float = 10.0,
                 **options: Any) -> None:
        super().__init__(otlp=True if endpoint is None else endpoint, otlp_headers=headers,
                         service_name=service_name, batch_size=batch_size, otlp_timeout=timeout, **options)


def _is_foundation_handler(handler: logging.Handler) -> bool:
    """Whether ``handler`` is a foundation Handler, of this copy of the module or another."""
    return getattr(handler, "_foundation_handler", False) is True


#---------------------------------------------------------------------------
#   Samplers
#---------------------------------------------------------------------------

class _Verdict(enum.Enum):
    """KEEP: a sampler's answer for a record it lets through and adds nothing to.
    UNASKED: the samplers have not been asked about the record yet (``Logger._emit()``)."""

    KEEP = "keep"
    UNASKED = "unasked"


_KEEP = _Verdict.KEEP


class _Unsampled(tuple):
    """The samplers of a logger whose records no sampler may drop: the library's own, and a
    reservoir's report. Empty (so the gate's check costs nothing more) but not ``()`` itself."""


_UNSAMPLED = _Unsampled()


#: ``Logger._emit()``'s ``verdict`` when the level method has not asked the samplers.
_UNASKED = _Verdict.UNASKED


def _sampled(logger: Logger, event: Any) -> Any:
    """The samplers' verdict on a record of ``logger``: the gate's second half, after the level.

    This logger's own samplers (``sampled()``), then the configured ones for
    the event name (else ``"*"``). Each says ``_KEEP``, the fields to add
    (``sample_rate``...), None (dropped) or a reservoir's slot; one that raises
    keeps the record. Returns ``_KEEP``, the fields to add, None (dropped: counted
    here) or the slot. The level methods ask it first, so that a dropped
    record costs one call into it and none into ``_emit()``; ``_emit()`` asks
    it for every other way in.
    """
    samplers = logger._samplers
    key = event if type(event) is str else _sample_key(event)
    configured = _state.samplers
    if configured is not None:
        more = configured.get(key) or configured.get("*")
        if more is not None:
            samplers = samplers + more if samplers else more
    verdict = _KEEP
    for sampler in samplers:
        try:
            kept = sampler._admit(logger.name, key)
        except RecursionError:
            raise
        except Exception as exc:
            _report_error(f"sampler {_safe_repr(sampler)}", exc)
            continue
        if kept is _KEEP:
            continue
        if type(kept) is not dict:  # None (dropped), or a reservoir's slot
            _LEDGER.add_sampled_out()
            return kept
        verdict = kept if verdict is _KEEP else _sample_fields(verdict, kept)
    return verdict


def _sample_key(event: Any) -> str:
    """The name samplers key a record by: its event as written (before %-args), or its type."""
    return event if type(event) is str else f"<{type(event).__name__}>"


def _sample_fields(outer: dict, inner: dict) -> dict:
    """Two samplers kept a record: its chance was the product of theirs; the count is the outer's."""
    fields = {**inner, **outer}
    if "sample_rate" in outer and "sample_rate" in inner:
        fields["sample_rate"] = outer["sample_rate"] * inner["sample_rate"]
    return fields


def _add_fields(record: logging.LogRecord, fields: dict) -> None:
    """Add ``fields`` to a record a sampler kept as a ``logging.Filter``: as fields, or as ``extra=`` does."""
    if type(record) is _Record:
        record.fields = {**record.fields, **fields}
    else:
        for key, value in fields.items():
            setattr(record, key, value)


def _check_sampler(sampler: Any, what: str) -> _Sampler:
    if not isinstance(sampler, _Sampler):
        raise TypeError(f"{what} takes a RateSampler, AdaptiveSampler, ReservoirSampler or "
                        f"RateLimiter, got {sampler!r}")
    return sampler


class _Keys(OrderedDict):
    """A sampler's state per key, bounded: ``keys[key]`` makes it on first use (``fresh()``),
    and past ``max_keys`` the least recently used key goes (``evicted(key, state)``).

    A user moves a key it reads to the end (``move_to_end``): the order is the use.
    """

    __slots__ = ("fresh", "evicted", "max_keys")

    def __init__(self, fresh: Callable[[], Any], evicted: Callable[[Any, Any], None], max_keys: int) -> None:
        super().__init__()
        self.fresh, self.evicted, self.max_keys = fresh, evicted, max_keys

    def __missing__(self, key: Any) -> Any:
        state = self[key] = self.fresh()
        if len(self) > self.max_keys:
            self.evicted(*self.popitem(last=False))
        return state


def _whole(value: Any, what: str, low: int = 1, high: int = 1 << 40) -> int:
    """``value`` as an int from ``low`` to ``high`` (no bool, no str); else TypeError/ValueError naming it."""
    if type(value) is not int:
        raise TypeError(f"{what} must be an int, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be from {low:,} to {high:,}, got {value!r}")
    return value


def _number(value: Any, what: str, low: float, high: float = math.inf) -> float:
    """``value`` as a finite float above ``low``, at most ``high``; else TypeError/ValueError naming it."""
    if type(value) not in (int, float):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if not (low < value <= high and math.isfinite(value)):
        bound = f"above {low:g}" + ("" if high == math.inf else f" and at most {high:g}")
        raise ValueError(f"{what} must be {bound}, got {value!r}")
    return float(value)


#: Every sampler alive: a forked child re-makes their locks, and shutdown() has
#: each RateLimiter report what it suppressed.
_live_samplers: weakref.WeakSet = weakref.WeakSet()


class _Sampler(logging.Filter):
    """What every sampler shares: a lock, a clock that never runs backwards, a seeded
    random source, and state per key bounded to ``max_keys`` (least recently used dropped).

    A sampler answers ``_admit(logger_name, event_name)`` for the gate (see
    ``Logger._emit()``): ``_KEEP``, the fields to add, a reservoir's slot
    (a list the record is appended to), or None to drop the record. As a
    ``logging.Filter`` (``filter()``), it answers the same for any LogRecord.
    """

    def __init__(self, *, seed: Any = None, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        super().__init__()
        import random  # here, not at import: most programs never sample

        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
        try:
            now = clock()
        except Exception as exc:
            raise ValueError(f"clock() raised {type(exc).__name__}: {exc}") from exc
        if type(now) not in (int, float) or not math.isfinite(now):
            raise TypeError(f"clock() must return a finite int or float, got {now!r}")
        if seed is not None and type(seed) not in (int, float, str, bytes):
            raise TypeError(f"seed must be None, an int, float, str or bytes, got {seed!r}")
        self.max_keys = _whole(max_keys, "max_keys")
        self._clock = clock
        self._last = now  # the latest time seen, in the clock's terms plus _offset
        self._offset = 0.0  # what the clock has stepped back by, in all
        self._seeded = seed is not None
        self._random = random.Random(seed)
        self._lock = threading.RLock()  # RLock: a signal handler may log through it mid-call
        self._keys = _Keys(self._fresh, self._evicted, self.max_keys)
        _live_samplers.add(self)
        _register_process_hooks()  # after_fork_in_child

    def after_fork_in_child(self) -> None:
        """A lock another thread held at fork() is held for ever in the child: make a new one.
        An unseeded sampler draws other numbers than its parent."""
        self._lock = threading.RLock()
        if not self._seeded:
            self._random.seed()

    def __repr__(self) -> str:
        return f"<foundation.{type(self).__name__}>"

    def _admit(self, name: str, event: str) -> Any:
        raise NotImplementedError

    def _now(self) -> float:
        """The clock's time, carried on from the latest seen when the clock steps back. Under the lock.

        A step back is added to an offset, so time goes on from where it was
        (a limiter does not stand still for the length of the step); a reading
        that is not a finite number counts as no time passed.
        """
        reading = self._clock()
        if not math.isfinite(reading):
            return self._last
        now = reading + self._offset
        if now < self._last:
            self._offset += self._last - now
            now = self._last
        self._last = now
        return now

    def _fresh(self) -> Any:
        """The state of a key seen for the first time (``self._last`` is the time). Under the lock."""
        raise NotImplementedError

    def _used(self, key: Any) -> Any:
        """The state of ``key``, now the most recently used. Under the lock.

        Moved first, then read: a call on this thread in between (a signal
        handler's) that pushes the key out only makes it new again.
        """
        keys = self._keys
        try:
            keys.move_to_end(key)
        except KeyError:
            pass  # new: keys[key] makes it
        return keys[key]

    def _evicted(self, key: Any, state: Any) -> None:
        """``key``'s state was dropped to keep ``max_keys``. Under the lock."""

    def filter(self, record: logging.LogRecord) -> bool:
        """As a ``logging.Filter``: False drops the record; a kept one gets the sampler's fields."""
        name = record.name
        if name == _SELF_NAME:  # the library's own records are never sampled
            return True
        try:
            template = getattr(record, "template", None) if type(record) is _Record else None
            kept = self._admit(name, template if type(template) is str else _sample_key(record.msg))
        except RecursionError:
            raise
        except Exception as exc:  # a broken clock: keep the record, say so
            _report_error(f"sampler {_safe_repr(self)}", exc)
            return True
        if kept is _KEEP:
            return True
        if type(kept) is dict:
            _add_fields(record, kept)
            return True
        _LEDGER.add_sampled_out()
        if kept is not None:  # a reservoir's slot
            kept.append(_entry(record if type(record) is _Record else _adopt(record)))
        return False


#: The longest gap a rate sampler draws (an ``itertools.repeat`` count is a C ssize_t).
_MAX_GAP = sys.maxsize


class RateSampler(_Sampler):
    """Keep about ``rate`` of each event's records, and always the first one (``always_first``).

    Kept records carry ``sample_rate`` (``rate``) and ``sample_count``: the
    records of that event seen so far, this one included. The gaps between
    kept records are drawn from the geometric distribution, so a dropped
    record costs one step of a countdown (``_Countdown``), not a random
    number, and takes no lock. A rate sampler does not read ``clock`` (it
    takes one for the same signature as the others).
    """

    def __init__(self, rate: float, *, always_first: bool = True, seed: Any = None,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self.rate = _number(rate, "rate", 0.0, 1.0)
        if type(always_first) is not bool:
            raise TypeError(f"always_first must be True or False, got {always_first!r}")
        self.always_first = always_first
        super().__init__(seed=seed, clock=clock, max_keys=max_keys)
        self._log_miss = math.log1p(-self.rate) if self.rate < 1.0 else 0.0

    def _gap(self) -> int:
        """How many records on the next kept one is: geometric, with success chance ``rate``."""
        if not self._log_miss:
            return 1
        gap = 1 + math.log(1.0 - self._random.random()) / self._log_miss
        return int(gap) if gap < _MAX_GAP else _MAX_GAP  # itertools.repeat counts in a C ssize_t

    def _fresh(self) -> _Countdown:
        return _Countdown(1 if self.always_first else self._gap(), 0)

    def _admit(self, name: str, event: str) -> Any:
        keys = self._keys
        countdown = keys.get(event)
        if countdown is None:
            with self._lock:  # made once: two threads meeting a new event share its countdown
                countdown = keys[event]
        else:
            try:
                keys.move_to_end(event)
            except KeyError:  # another thread's new event just pushed it out: it counts anyway
                pass
        drops = countdown.drops
        if next(drops, _KEEP) is not _KEEP:  # one C call: exact between threads without a lock
            return None
        with self._lock:  # the countdown ran out: this record is kept, unless another thread's was
            if countdown.drops is not drops:
                return self._admit(name, event)  # it was: count this one on the new countdown
            seen = countdown.seen + countdown.gap
            countdown.__init__(self._gap(), seen)
        return {"sample_rate": self.rate, "sample_count": seen}


class _Countdown:
    """A rate sampler's state for one event: the records to drop before the next kept one."""

    __slots__ = ("drops", "seen", "gap")

    def __init__(self, gap: int, seen: int) -> None:
        self.gap = gap  # the kept record is the gap-th from here
        self.seen = seen  # records of the event seen before this countdown
        # Last: a call that reads the new drops finds gap and seen already new.
        self.drops = repeat(None, gap - 1)  # next() gives None for each record to drop, then runs out


class _Window:
    """An adaptive sampler's state for one event: O(1), whatever the rate."""

    __slots__ = ("start", "previous", "current", "kept", "credit")

    def __init__(self, start: float, credit: float) -> None:
        self.start = start  # when the current window began
        self.previous = 0  # records seen in the window before it
        self.current = 0  # records seen in this one
        self.kept = 0  # records kept in this one
        self.credit = credit  # kept records owed: each record adds its chance, a kept one takes 1


class AdaptiveSampler(_Sampler):
    """Keep at most about ``target_per_window`` records of each event per ``window_s`` seconds.

    The rate is estimated as a sliding window from two counts (the previous
    window's, weighed by how much of it still overlaps, and the current one's;
    once the current window alone passes the target, projected to its end), so
    it adapts within one window when the rate changes, in O(1) time and
    memory per event. Each record adds its chance (target / estimate, at most
    1) to a credit and is kept when the credit reaches 1: below the target
    every record is kept, above it kept records are spread evenly. A window
    never keeps more than twice the target, and when the rate falls it keeps
    at least half the target's pace (or every record, when fewer come).
    Kept records carry ``sample_rate``: the chance they had.
    """

    def __init__(self, target_per_window: int = 100, window_s: float = 60.0, *, seed: Any = None,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self.target_per_window = _whole(target_per_window, "target_per_window")
        self.window_s = _number(window_s, "window_s", 0.0)
        super().__init__(seed=seed, clock=clock, max_keys=max_keys)

    def _fresh(self) -> _Window:
        return _Window(self._last, self._random.random())

    def _admit(self, name: str, event: str) -> Any:
        target, span = self.target_per_window, self.window_s
        with self._lock:
            now = self._now()
            window = self._used(event)
            elapsed = now - window.start
            if elapsed >= span:
                window.previous = window.current if elapsed < 2 * span else 0
                window.current = window.kept = 0
                elapsed %= span
                window.start = now - elapsed
            window.current += 1
            current, part = window.current, elapsed / span
            estimate = window.previous * (1.0 - part) + current
            if current > target and part > 0.0:  # this window alone is above the target: project it
                estimate = max(estimate, current / part)
            rate = 1.0 if estimate <= target else target / estimate
            if window.kept >= 2 * target:
                return None
            window.credit += rate
            if window.credit >= 1.0:
                window.credit -= 1.0
            elif window.kept < target * part / 2 + 1:  # behind half the target's pace (the rate fell)
                rate = min(1.0, (target * part / 2 + 1) / current)
            else:
                return None
            window.kept += 1
        return {"sample_rate": rate}


class ReservoirSampler(_Sampler):
    """A uniform random sample of ``size`` of everything added; ``flush(logger)`` logs it and starts again.

    ``add(event_dict)`` offers a dict; as a sampler (``configure(samplers=...)``,
    ``log.sampled()``, a Filter) it takes the records it is given, which are
    then not written one by one (they count in ``stats()["sampled_out"]``).
    Li's Algorithm L: once the reservoir is full, it draws random numbers only
    for the items it takes, and the records it skips are never even built.
    """

    def __init__(self, size: int = 1000, *, seed: Any = None,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self.size = _whole(size, "size", 1, 10_000_000)
        super().__init__(seed=seed, clock=clock, max_keys=max_keys)
        self._flushing = threading.local()
        self._start()

    def _start(self) -> None:
        """Begin an empty reservoir. Under the lock, or before anyone else can see it."""
        self._items: list = []
        self._seen = 0
        self._weight = 1.0
        self._next = self.size + 1

    def _draw(self) -> float:
        """A random number in (0, 1)."""
        u = 0.0
        while u == 0.0:
            u = self._random.random()
        return u

    def _skip(self) -> None:
        """Draw the next item to take (Algorithm L). Under the lock."""
        self._weight *= math.exp(math.log(self._draw()) / self.size)
        self._next = self._seen + int(math.log(self._draw()) / math.log1p(-self._weight)) + 1

    def _slot(self) -> int | None:
        """Count one item; return where it goes in the reservoir, or None. Under the lock."""
        self._seen += 1
        if self._seen <= self.size:
            self._items.append(None)
            if self._seen == self.size:
                self._skip()
            return self._seen - 1
        if self._seen < self._next:
            return None
        self._skip()
        return self._random.randrange(self.size)

    def add(self, event_dict: Mapping) -> None:
        """Offer ``event_dict`` to the sample (a copy is kept if it is taken).

        Raises:
            TypeError: ``event_dict`` is not a mapping.
        """
        if not isinstance(event_dict, Mapping):
            raise TypeError(f"add() takes a dict, got {event_dict!r}")
        with self._lock:
            index = self._slot()
            if index is not None:
                self._items[index] = dict(event_dict)

    def _admit(self, name: str, event: str) -> Any:
        with self._lock:
            index = self._slot()
            if index is None:
                return None
            slot = self._items[index] = []  # the gate appends the record's entry
        return slot

    def flush(self, logger: Logger | None = None) -> None:
        """Log one ``sampled_events`` record at INFO, then start an empty sample.

        Its fields: ``sample_size``, ``total_events`` (everything offered since the
        last flush), ``sampling_ratio`` (their quotient) and ``events`` (the
        sample, as dicts: ``timestamp``, ``level``, ``logger``, ``event``, then the fields).
        ``logger``: a foundation Logger (default: the root one).
        """
        if logger is not None and not isinstance(logger, Logger):
            raise TypeError(f"flush() takes a foundation Logger, got {logger!r}")
        with self._lock:
            items, total = self._items, self._seen
            self._start()
        events = []
        for item in items:
            if type(item) is list:  # a record's slot: its entry
                if not item:
                    continue  # taken, but its record not made yet (or it failed)
                item = _entry_dict(item[0])
            events.append(item)
        logger = logger if logger is not None else get_logger()
        unsampled = logger._derive(logger._bound, _UNSAMPLED)  # no "*" sampler may thin the report
        self._flushing.active = True  # nor this reservoir, as a Filter on the way
        try:
            unsampled.info("sampled_events", sample_size=len(events), total_events=total,
                           sampling_ratio=len(events) / total if total else 0.0, events=events)
        finally:
            self._flushing.active = False

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self._flushing, "active", False):  # its own report
            return True
        return super().filter(record)


class _Bucket:
    """A rate limiter's state for one key (the generic cell rate algorithm) and what it dropped.

    The bucket is full again at ``since + passed * interval``: a product, not a
    running sum of intervals, so no rounding piles up; ``since`` moves to the
    present whenever the bucket is full.
    """

    __slots__ = ("since", "passed", "suppressed")

    def __init__(self, now: float) -> None:
        self.since = now
        self.passed = 0  # records passed since ``since``
        self.suppressed = 0  # records dropped since the last report


class RateLimiter(_Sampler):
    """A token bucket: ``burst`` records at once, then ``per_second``; what it drops is reported.

    ``key="event"`` keeps one bucket per event name, ``"logger"`` one per
    logger, None one for all. The records it drops are counted, and the next
    record that passes for the same key is preceded by one ``logs_suppressed``
    record (INFO, logger ``foundation``) with ``count`` and ``suppressed_event``
    (``"*"`` when the bucket is not per event; ``suppressed_logger`` when it is
    per logger); ``shutdown()`` reports what is still unreported. Over ``t``
    seconds of steady calls it passes ``burst + per_second * t`` records.
    """

    def __init__(self, per_second: float, burst: int = 1, key: str | None = "event", *, seed: Any = None,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self.per_second = _number(per_second, "per_second", 0.0)
        if not math.isfinite(1.0 / self.per_second):
            raise ValueError(f"per_second is too small to wait for, got {per_second!r}")
        self.burst = _whole(burst, "burst")
        if key not in ("event", "logger", None):
            raise (ValueError if type(key) is str else TypeError)(
                f"key must be 'event', 'logger' or None, got {key!r}")
        self.key = key
        super().__init__(seed=seed, clock=clock, max_keys=max_keys)
        self._interval = 1.0 / self.per_second
        self._tolerance = (self.burst - 1) * self._interval
        self._unreported: list = []

    def _fresh(self) -> _Bucket:
        return _Bucket(self._last)

    def _admit(self, name: str, event: str) -> Any:
        key = event if self.key == "event" else name if self.key == "logger" else "*"
        with self._lock:
            now = self._now()
            bucket = self._used(key)
            due = bucket.since + bucket.passed * self._interval
            if due <= now:  # full again: count from now
                bucket.since, bucket.passed, due = now, 0, now
            # A few units in the last place of slack: a reading on the very edge passes.
            if due - now > self._tolerance + 4 * math.ulp(due):
                bucket.suppressed += 1
                return None
            bucket.passed += 1
            if bucket.suppressed:  # the bucket has refilled: report what it dropped
                self._unreported.append((key, bucket.suppressed))
                bucket.suppressed = 0
            reports = self._unreported
            if reports:
                self._unreported = []
        if reports:
            self._write_reports(reports)
        return _KEEP

    def _evicted(self, key: Any, state: Any) -> None:
        if state.suppressed:
            self._unreported.append((key, state.suppressed))

    def report_suppressed(self) -> None:
        """Write a ``logs_suppressed`` record for each key with records dropped and not yet reported."""
        with self._lock:
            reports, self._unreported = self._unreported, []
            for key, bucket in self._keys.items():
                if bucket.suppressed:
                    reports.append((key, bucket.suppressed))
                    bucket.suppressed = 0
        self._write_reports(reports)

    def _write_reports(self, reports: list) -> None:
        """Write the reports as the library's own records (logger ``foundation``, which
        ``configure()`` sets to INFO: a level of WARNING does not hide what was left out)."""
        for key, count in reports:
            if self.key == "logger":
                _own_logger.info("logs_suppressed", count=count, suppressed_event="*", suppressed_logger=key)
            else:
                _own_logger.info("logs_suppressed", count=count, suppressed_event=key)


#---------------------------------------------------------------------------
#   Interning
#---------------------------------------------------------------------------

class _Interner:
    """Repeated string values of fields share one object: the first one seen is kept.

    ``configure(intern=True)`` (or a cap): records waiting in the queue then
    hold one copy of each repeated value instead of one per record. The cache
    holds at most ``cap`` strings (of up to ``_CACHED_TEXT`` characters); when
    it is full, the oldest goes. Thread-safe; its counts are exact.
    """

    __slots__ = ("cap", "hits", "misses", "_cache", "_lock")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.hits = self.misses = 0
        self._cache: OrderedDict = OrderedDict()
        self._lock = threading.RLock()  # RLock: a signal handler may log while this thread holds it

    def after_fork_in_child(self) -> None:
        self._lock = threading.RLock()  # another thread may have held it at fork()

    def share_values(self, fields: dict) -> None:
        """Put the cached equal string in place of each short str value of ``fields``, a record's own dict."""
        cache, lock = self._cache, self._lock
        lock.acquire()  # not "with": it costs twice as much, on every record
        try:
            for key, value in fields.items():
                if type(value) is str and len(value) <= _CACHED_TEXT:
                    shared = cache.get(value)
                    if shared is None:
                        self.misses += 1
                        cache[value] = value
                        if len(cache) > self.cap:
                            cache.popitem(last=False)
                    else:
                        self.hits += 1
                        fields[key] = shared  # a value changed, no key: iterating on is safe
        finally:
            lock.release()

    def stats(self) -> dict:
        with self._lock:
            hits, misses, size = self.hits, self.misses, len(self._cache)
        return {"cache_size": size, "hits": hits, "misses": misses,
                "hit_rate": hits / (hits + misses) if hits + misses else 0.0}


def intern_stats() -> dict:
    """Return the interning cache's ``cache_size``, ``hits``, ``misses`` and ``hit_rate``
    since the last ``configure()`` (all 0 when ``intern`` is off)."""
    interner = _state.interner
    if interner is None:
        return {"cache_size": 0, "hits": 0, "misses": 0, "hit_rate": 0.0}
    return interner.stats()


#---------------------------------------------------------------------------
#   Ring buffer: the last records in memory, and the flight recorder
#---------------------------------------------------------------------------

def _buffered(entry: tuple) -> tuple:
    """``entry`` with the field ``buffered=True``: a kept record written late, by a flush."""
    marked = (*entry[:_FIELDS], {**_fields_of(entry[_FIELDS]), "buffered": True}, *entry[_FIELDS + 1:])
    if type(entry) is _HeavyEntry:
        heavy = _HeavyEntry(marked)
        heavy.text = entry.text
        return heavy
    return marked


#: Every RingBuffer alive: a fork child gives each a new lock.
_live_rings: weakref.WeakSet = weakref.WeakSet()


class RingBuffer(logging.Handler):
    """Keep the last ``capacity`` records in memory; search them; with a ``flush_level``, a flight recorder.

    A ``logging.Handler`` over a ``deque(maxlen=capacity)`` of entries: the
    named, redacted values the writer renders, not text. ``get_recent()`` and
    ``search()`` return them as dicts (``timestamp``, ``level``, ``logger``,
    ``event``, then the fields), oldest first. Appending takes no lock.

    With ``flush_level`` and ``target`` (a handler), the arrival of a record
    at that level or above writes to ``target`` the records kept since the
    last such flush, oldest first, each with the field ``buffered=True``, then
    the record itself; none is written twice. ``configure(ring_buffer=N)``
    installs one beside its handler (see ``get_ring_buffer()``).

    Raises:
        TypeError, ValueError: a bad ``capacity``, ``flush_level`` or ``target``.
    """

    def __init__(self, capacity: int = 10_000, *, flush_level: int | str | None = None,
                 target: logging.Handler | None = None) -> None:
        capacity = _whole(capacity, "capacity", 1, 100_000_000)
        if flush_level is not None:
            flush_level = _level_value(flush_level, "flush_level")
            if target is None:
                raise ValueError("flush_level needs a target: the handler the kept records go to")
        if target is not None and not isinstance(target, logging.Handler):
            raise TypeError(f"target must be a logging.Handler, got {target!r}")
        super().__init__()
        self.capacity = capacity
        self.flush_level = flush_level
        self.target = target
        self._items: deque = deque(maxlen=capacity)
        self._appended = itertools.count()
        #: A flight recorder's records not written yet: one item per record kept, the entry,
        #: or None for one that is written. Same bound as _items, so what the ring lets go of
        #: leaves here too; a flush pops what is there, so each record is taken once. (Off:
        #: a deque of no length, which an append leaves empty.)
        self._unwritten: deque = deque(maxlen=capacity if flush_level is not None else 0)
        self._flush_lock = threading.RLock()  # RLock: a signal handler may log an error mid-flush
        _live_rings.add(self)

    def after_fork_in_child(self) -> None:
        self._flush_lock = threading.RLock()  # another thread may have held it at fork()

    def __repr__(self) -> str:
        return f"<foundation.RingBuffer {len(self._items)}/{self.capacity} ({logging.getLevelName(self.level)})>"

    @property
    def total(self) -> int:
        """How many records were ever appended (``clear()`` does not change it)."""
        return _count_of(self._appended)

    # -- records in ------------------------------------------------------------
    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = _entry(record if type(record) is _Record else _adopt(record))
        except RecursionError:
            raise
        except Exception as exc:
            _LEDGER.dropped(1)
            _report_error("ring buffer", exc)
            return
        trigger = self.flush_level is not None and entry[_LEVELNO] >= self.flush_level
        self._items.append(entry)
        next(self._appended)
        self._unwritten.append(None if trigger else entry)  # a trigger is written last, by the flush
        if trigger:
            self._flush_to_target(entry)

    def keep_written(self, entry: tuple) -> list | None:
        """Keep an entry its handler is about to write; at ``flush_level`` or above, return first
        the kept entries not written yet (marked ``buffered``), to be written before it."""
        levelno = entry[_LEVELNO]
        if levelno >= self.level:
            self._items.append(entry)
            next(self._appended)
            self._unwritten.append(None)
        if self.flush_level is not None and levelno >= self.flush_level:
            return self._take_unwritten()
        return None

    def _take_unwritten(self) -> list:
        """The entries kept since the last flush and not written, oldest first, marked.

        Popped one by one, so each is taken once, also by a flush that runs in
        the middle of this one (a signal handler's error); at most as many as
        were there when it began, so it ends.
        """
        taken = []
        pop = self._unwritten.popleft
        for _ in range(len(self._unwritten)):
            try:
                entry = pop()
            except IndexError:  # another flush took the rest
                break
            if entry is not None:
                taken.append(_buffered(entry))
        return taken

    def _flush_to_target(self, trigger: tuple) -> None:
        with self._flush_lock:  # one flush at a time keeps each flush's records together
            entries = self._take_unwritten()
            entries.append(trigger)
            target = self.target
            try:
                if type(target) is Handler:
                    target.put_entries(entries)
                else:
                    for entry in entries:
                        target.handle(_record_from_entry(entry))
            except RecursionError:
                raise
            except Exception as exc:
                _LEDGER.dropped(len(entries))
                _report_error("ring buffer target", exc)

    # -- reading -----------------------------------------------------------------
    def get_recent(self, n: int = 100) -> list:
        """The last ``n`` records kept, oldest first, as dicts."""
        n = _whole(n, "n", 0)
        items = self._items.copy()  # one C call: other threads may append meanwhile
        start = max(len(items) - n, 0)
        return [_entry_dict(entry) for entry in itertools.islice(items, start, None)]

    def search(self, event: str | None = None, level: int | str | None = None,
               since: float | None = None, **fields: Any) -> list:
        """The records kept that match every criterion given, oldest first, as dicts.

        ``event``: that event; ``level``: that level or above; ``since``: at or
        after that epoch time; each field: a field equal to that value.
        """
        floor = _level_value(level) if level is not None else None
        if since is not None and type(since) not in (int, float):
            raise TypeError(f"since must be an epoch time in seconds, got {since!r}")
        found = []
        for entry in self._items.copy():
            if ((event is not None and entry[_EVENT] != event)
                    or (floor is not None and entry[_LEVELNO] < floor)
                    or (since is not None and entry[_CREATED] < since)):
                continue
            item = _entry_dict(entry)
            if all(key in item and item[key] == value for key, value in fields.items()):
                found.append(item)
        return found

    def clear(self) -> None:
        """Forget every record kept (``total`` goes on counting)."""
        self._items.clear()
        self._unwritten.clear()


class _RingOnly:
    """Where the facade puts a record below the output level and at or above the ring buffer's:
    kept, not written. ``Logger._emit()`` counts it, then appends it as it would to a batch;
    both are calls into C."""

    __slots__ = ("append", "count", "unwritten", "handler")

    def __init__(self, ring: RingBuffer, handler: Handler) -> None:
        self.append = ring._items.append
        self.count = ring._appended.__next__
        self.unwritten = ring._unwritten.append
        self.handler = handler  # whose filters a record below the level would also have met


_MANAGER = logging.Logger.manager  #: logging's, whose ``disable`` is ``logging.disable()``'s level
#: Whether ``_MANAGER.disable`` is a property over ``_MANAGER._disable`` (3.9 to 3.13):
#: then the plain path reads the attribute, sparing the property's Python call (a
#: sixteenth of a record only the ring keeps). Else it leaves such records to the gate.
_DISABLE_READABLE = (isinstance(vars(logging.Manager).get("disable"), property)
                     and type(getattr(_MANAGER, "_disable", None)) is int)

#: ``as_entry`` in ``Logger._emit()`` for a record only the ring buffer keeps (truthy: an entry is made).
_KEPT_ONLY = "kept only"


def get_ring_buffer() -> RingBuffer | None:
    """The ring buffer ``configure(ring_buffer=N)`` installed, or None."""
    return _state.ring


#---------------------------------------------------------------------------
#   Resource monitor
#---------------------------------------------------------------------------

def _resource_usage() -> tuple | None:
    """(user CPU seconds, system CPU seconds, peak RSS in bytes) from ``resource``; None without it."""
    try:
        import resource  # not on Windows
    except ImportError:
        return None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux and BSD
    return usage.ru_utime, usage.ru_stime, usage.ru_maxrss * unit


def _statm_rss() -> int | None:
    """The current RSS in bytes from ``/proc/self/statm`` (Linux); None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _rss_reader() -> Callable[[], int | None]:
    """How to read the current RSS: psutil when it is installed, else ``/proc/self/statm``."""
    try:
        import psutil
    except ImportError:
        return _statm_rss
    process = psutil.Process()
    return lambda: process.memory_info().rss


_MB = 1 << 20


class ResourceMonitor:
    """The library's throughput and the process's CPU and memory, as one ``snapshot()`` dict.

    Counts (``total_logs``, ``bytes_logged``, ``dropped``) are the ledger's,
    as ``stats()`` gives them, since the monitor was made; rates divide them by
    ``elapsed_seconds``. CPU times and peak RSS come from ``resource`` (None
    without it); the current RSS from psutil when installed, else
    ``/proc/self/statm``, else None; ``cpu_percent`` is CPU time over wall time
    since the previous snapshot. Never raises: a reader that fails gives None.

    ``clock``, ``usage`` and ``rss`` replace the readers (tests): ``usage()``
    returns (user seconds, system seconds, peak RSS bytes) or None, ``rss()``
    bytes or None.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 usage: Callable[[], tuple | None] = _resource_usage,
                 rss: Callable[[], int | None] | None = None) -> None:
        self._clock = clock
        self._usage = usage
        self._rss = rss if rss is not None else _rss_reader()
        self._lock = threading.Lock()
        self._started = self._read(clock) or 0.0
        self._resets = _LEDGER.resets  # configure() starts the counts again
        self._base = _LEDGER.snapshot()
        self._start_rss = self._read(self._rss)
        usage_now = self._read(self._usage)
        self._last = (self._started, usage_now[0] + usage_now[1] if usage_now else None)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @staticmethod
    def _read(reader: Callable[[], Any]) -> Any:
        """What ``reader()`` returns; None if it raises (the clock included)."""
        try:
            return reader()
        except Exception:  # noqa: BLE001 - a monitor never raises: what it cannot read is None
            return None

    def snapshot(self) -> dict:
        """The counts, rates, CPU and memory now (see the class); None for what cannot be read."""
        now = self._read(self._clock)
        if now is None:
            now = self._last[0]
        resets, counts = _LEDGER.resets, _LEDGER.snapshot()
        usage = self._read(self._usage)
        rss = self._read(self._rss)
        with self._lock:
            elapsed = max(now - self._started, 0.0)
            since, cpu_before = self._last
            cpu = usage[0] + usage[1] if usage else None
            self._last = (now, cpu)
        cpu_percent = None
        if cpu is not None and cpu_before is not None and now > since:
            cpu_percent = round(100.0 * (cpu - cpu_before) / (now - since), 1)
        base = self._base
        if resets != self._resets:  # configure() (or a fork) started the counts again since
            self._resets, self._base = resets, dict.fromkeys(base, 0)
            base = self._base
        # Not below 0: a reset between the two reads above is seen by the next snapshot.
        logs = max(counts["emitted"] - base["emitted"], 0)
        logged = max(counts["bytes_written"] - base["bytes_written"], 0)
        return {
            "elapsed_seconds": round(elapsed, 3),
            "total_logs": logs,
            "logs_per_second": round(logs / elapsed, 1) if elapsed else 0.0,
            "bytes_logged": logged,
            "bytes_per_second": round(logged / elapsed, 1) if elapsed else 0.0,
            "dropped": max(counts["dropped"] - base["dropped"], 0),
            "queue_depth": counts["queue_depth"],
            "cpu_user_seconds": round(usage[0], 3) if usage else None,
            "cpu_system_seconds": round(usage[1], 3) if usage else None,
            "cpu_percent": cpu_percent,
            "max_rss_mb": round(usage[2] / _MB, 1) if usage else None,
            "rss_mb": round(rss / _MB, 1) if rss is not None else None,
            "memory_growth_mb": (round((rss - self._start_rss) / _MB, 1)
                                 if rss is not None and self._start_rss is not None else None),
            "thread_count": threading.active_count(),
        }

    def log_metrics(self, logger: Logger | None = None) -> None:
        """Log the snapshot as ``performance_metrics`` at INFO (from logger ``foundation`` by default)."""
        (logger if logger is not None else _own_logger).info("performance_metrics", **self.snapshot())

    def start(self, interval: float = 60.0, logger: Logger | None = None) -> None:
        """Log the metrics every ``interval`` seconds from a daemon thread, until ``stop()``."""
        interval = _number(interval, "interval", 0.0)
        self.stop()
        self._stopping = stopping = threading.Event()

        def run() -> None:
            while not stopping.wait(interval):
                try:
                    self.log_metrics(logger)
                except RecursionError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the thread must not die
                    _report_error("monitor", exc)

        self._thread = threading.Thread(target=run, name="foundation-monitor", daemon=True)
        self._thread.start()
        self._interval, self._logger = interval, logger

    def stop(self) -> None:
        """Stop the periodic reports; returns within one second."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)

    def after_fork_in_child(self) -> None:
        """The thread did not survive fork(): start the child's own."""
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # the parent's thread may have held the old one's lock
        if self._thread is not None:
            self._thread = None
            self.start(self._interval, self._logger)


#---------------------------------------------------------------------------
#   Logger facade
#---------------------------------------------------------------------------

#: Per thread: whether the caller's code (a ``__repr__``, ``__str__``, lazy field)
#: is running for a log call, which a log call inside that code must not do again.
_in_callers_code = threading.local()


def _run_callers_code(event: Any, args: tuple, fields: dict, plain: bool) -> tuple[str, dict]:
    """Format the event and copy the fields that are not plain: this runs the caller's code.

    That code may log. A log call made inside it, on this thread, writes its
    own values without running any of the caller's code again (non-plain
    values as ``<TypeName>``): a ``__repr__`` that logs the object itself would
    otherwise recurse until RecursionError.
    """
    if getattr(_in_callers_code, "active", False):
        if type(event) is not str:
            event = f"<{type(event).__name__}>"
        elif args and all(type(arg) in _PLAIN for arg in args):  # runs none of the caller's code
            event = _format_event(event, args)
        return _redact_url_credentials(event), fields if plain else _CopiedFields(
            [(k, (_redact_url_credentials(v) if type(v) is str else v) if type(v) in _PLAIN
              else f"<{type(v).__name__}>") for k, v in fields.items()])
    _in_callers_code.active = True
    try:
        if type(event) is not str or args:
            event = _format_event(_safe_str(event), args) if args else _safe_str(event)
        return _redact_url_credentials(event), fields if plain else _state.sanitizer.fields(fields)
    finally:
        _in_callers_code.active = False


def _level_method(level: int, name: str, exc_default: Any = None) -> Callable[..., None]:
    """Build ``Logger.<name>``: a record at ``level``, through the gate (``Logger._emit()``).

    The one lookup here only spares a disabled call the call into the gate
    (a disabled level must cost about one no-op call; a subscript costs less
    than ``.get()``); the gate checks the level itself, so a level not looked
    up yet goes on to it. ``exc_info`` and ``stack_info`` arrive among the
    fields and are taken out: keyword-only parameters with defaults cost every
    call, a disabled one too, two lookups (the declared signature is in
    ``Logger``, for type checkers).
    """

    plain = exc_default is None  # exception() attaches the exception being handled

    def method(self: Logger, event: Any, /, *args: Any, **fields: Any) -> None:
        try:
            if self._cache[level]:
                enabled = True
            elif level < _keep_from:
                return
            else:
                enabled = False  # below the output level: kept by the ring buffer only
        except KeyError:
            enabled = None  # not looked up yet: the gate asks logging
        if (_plain_keys and enabled is not None and plain and self._plain and not args
                and type(event) is str and (not _context_used or _context.get() is _NO_FIELDS)):
            # The plain record, in one frame: what _emit() makes of it, with its
            # decisions taken once (see _plain_keys and Logger._plain).
            bound = self._bound
            if bound is _NO_FIELDS:
                merged = fields
                known = tuple(fields) in _plain_keys  # no secret, no logging keyword
            else:  # joined, not merged: the writer renders the bound part once (_fields_of())
                shared = bound.fields
                merged = (shared, fields)
                known = tuple(fields) in _plain_joins.get(shared, ())  # ... and no key in common
            if known:
                text = len(event) + bound.text
                for value in fields.values():
                    kind = type(value)
                    if kind is str:
                        if "://" in value:  # a URL may hold a password
                            break
                        text += len(value)
                    elif kind not in _PLAIN:
                        break
                else:
                    if text <= _LIGHT_TEXT and "://" not in event:
                        entry = (_time(), level, self.name, event, merged, None, None, _NO_FILE, 0)
                        if not enabled:  # kept only, as the gate keeps it (see _RingOnly)
                            ring, std = _state.ring_only, self._std
                            if ring is not None and _DISABLE_READABLE and not (
                                    std.disabled or std.filters or ring.handler.filters
                                    or _MANAGER._disable >= level):
                                ring.append(entry)
                                ring.unwritten(entry)
                                ring.count()
                                return
                        elif self._collect is None:
                            try:
                                handler = _sole_handler(self._std, level)
                            except Exception:  # a foreign handler's bad level: the gate reports it
                                handler = None
                            if handler is not None:
                                handler.put_entry(entry)
                                return
                        elif self._direct:
                            collect = self._collect
                            collect.append(entry)
                            if len(collect) >= self._size:
                                self._full()
                            return
        verdict = _UNASKED
        if enabled and (self._samplers or _state.samplers is not None) and self._samplers is not _UNSAMPLED:
            verdict = _sampled(self, event)  # the samplers first: a dropped record goes no further
            if verdict is None:
                return
        if "exc_info" in fields or "stack_info" in fields:  # logging's two keywords, not fields
            exc_info = fields.pop("exc_info", exc_default)
            stack_info = fields.pop("stack_info", False)
            self._emit(level, event, args, fields, exc_info, stack_info, verdict)
        else:
            self._emit(level, event, args, fields, exc_default, False, verdict)

    method.__name__ = name
    method.__qualname__ = f"Logger.{name}"
    method.__doc__ = (f"Log ``event`` at {logging.getLevelName(level)} with ``fields``.\n\n"
                      "``args`` are %-formatted into the event; ``exc_info`` and ``stack_info``\n"
                      "work as in logging; every other keyword is a field. Never raises for\n"
                      "bad data; in queue mode it does not wait on I/O.")
    if exc_default is True:
        method.__doc__ = ("Log ``event`` at ERROR with the exception being handled (none outside\n"
                          "an ``except`` block), and ``fields``. Never raises for bad data.")
    return method


async def _wait_for_room(logger: Logger, level: int, handler: Handler, fields: dict,
                         exc_default: Any = None) -> None:
    """What an async call does when the queue is full (``overflow="block"``): wait on the
    event loop for room, so that the level method it calls next does not block the loop.

    A record whose level is off does not wait. The exception being handled
    (``exc_info=True``) is taken into ``fields`` before the await can lose it.
    A task cancelled while it waits has not handed its record over: it is
    counted as dropped (and reported), not lost silently.
    """
    if logger._std.isEnabledFor(level):
        if fields.get("exc_info", exc_default) is True:
            fields["exc_info"] = sys.exc_info()
        await handler.wait_for_cancellable_room(1)


def _async_method(level: int, name: str, exc_default: Any = None) -> Callable[..., Any]:
    """Build ``Logger.<name>``: the coroutine twin of a level method, which it calls.

    Like the level method, it takes ``exc_info`` and ``stack_info`` among the
    fields (the level method takes them out), and it waits only when the
    queue is full (``_BatchQueue.full()``, ``_wait_for_room()``). It asks the queue
    directly, in one call: a frame more (``Handler.room()``) was about a quarter of
    what the check cost.
    """
    sync = getattr(Logger, name[1:])

    async def method(self: Logger, event: Any, /, *args: Any, **fields: Any) -> None:
        handler = _state.handler
        if handler is not None and handler.queue is not None and handler.queue.full():
            await _wait_for_room(self, level, handler, fields, exc_default)
        sync(self, event, *args, **fields)

    method.__name__ = name
    method.__qualname__ = f"Logger.{name}"
    method.__doc__ = (f"Coroutine twin of :meth:`{name[1:]}`: never blocks the event loop.\n\n"
                      "It hands the record over without a thread hop; with a full queue in\n"
                      "``overflow='block'`` mode it waits asynchronously for room. The\n"
                      "context variables of the calling task are kept.")
    return method


class Logger:
    """The structured logger: a facade over ``logging.getLogger(name)``.

    Level methods take an event, optional %-format ``args`` and keyword fields:
    ``log.info("user_login", user_id=42)``. A disabled level costs one dict
    lookup. Thread-safe; ``bind()`` and ``sampled()`` return a new logger and
    never change this one.
    """

    __slots__ = ("name", "_std", "_cache", "_bound", "_samplers", "_collect", "_plain")

    #: A batch's (``_Batch``): how many records it collects before handing them on,
    #: and whether they are entries (our handler is all they reach) or LogRecords.
    _size = sys.maxsize
    _direct = False

    def __init__(self, std: logging.Logger, bound: _Fields = _NO_FIELDS, samplers: tuple = ()) -> None:
        self.name = std.name
        self._std = std
        self._cache: dict = {}  # the std logger's level cache, once configured
        self._bound = bound
        self._samplers = samplers  # sampled(): asked before the configured ones
        self._collect: list | None = None  # a batch's records
        #: whether a call may take the plain path (see _level_method): no sampler of
        #: its own, bound values all plain; the configuration decides the rest (_plain_keys)
        self._plain = not samplers and bound.plain

    def __repr__(self) -> str:
        return f"<foundation.Logger {self.name!r} bound={self._bound.fields!r}>"

    # -- levels ------------------------------------------------------------
    def _enabled_slow(self, level: int) -> bool:
        """The level cache missed: configure on first use, then ask logging."""
        if not _state.configured:
            _auto_configure()
        self._cache = self._std._cache  # logging clears it in place on setLevel()
        return self._std.isEnabledFor(level)

    def is_enabled_for(self, level: int | str) -> bool:
        """Return whether a record at ``level`` would be handled. Raises on a bad level."""
        level = _level_value(level)
        if not _state.configured:
            _auto_configure()
        return self._std.isEnabledFor(level)

    def is_debug_enabled(self) -> bool:
        """Return whether DEBUG records are handled."""
        return self.is_enabled_for(DEBUG)

    def is_trace_enabled(self) -> bool:
        """Return whether TRACE records are handled."""
        return self.is_enabled_for(TRACE)

    if TYPE_CHECKING:  # made by _level_method below; declared here for grep and type checkers
        def trace(self, event: Any, /, *args: Any, exc_info: Any = None,
                  stack_info: bool = False, **fields: Any) -> None: ...
        def debug(self, event: Any, /, *args: Any, exc_info: Any = None,
                  stack_info: bool = False, **fields: Any) -> None: ...
        def info(self, event: Any, /, *args: Any, exc_info: Any = None,
                 stack_info: bool = False, **fields: Any) -> None: ...
        def warning(self, event: Any, /, *args: Any, exc_info: Any = None,
                    stack_info: bool = False, **fields: Any) -> None: ...
        def error(self, event: Any, /, *args: Any, exc_info: Any = None,
                  stack_info: bool = False, **fields: Any) -> None: ...
        def critical(self, event: Any, /, *args: Any, exc_info: Any = None,
                     stack_info: bool = False, **fields: Any) -> None: ...
        def exception(self, event: Any, /, *args: Any, exc_info: Any = True,
                      stack_info: bool = False, **fields: Any) -> None: ...
    else:
        trace = _level_method(TRACE, "trace")
        debug = _level_method(DEBUG, "debug")
        info = _level_method(INFO, "info")
        warning = _level_method(WARNING, "warning")
        error = _level_method(ERROR, "error")
        critical = _level_method(CRITICAL, "critical")
        exception = _level_method(ERROR, "exception", exc_default=True)

    def log(self, level: int | str, event: Any, /, *args: Any, exc_info: Any = None,
            stack_info: bool = False, **fields: Any) -> None:
        """Log ``event`` at ``level``. A bad level raises ValueError/TypeError at once."""
        self._emit(_level_value(level), event, args, fields, exc_info, stack_info)

    async def alog(self, level: int | str, event: Any, /, *args: Any, **fields: Any) -> None:
        """Coroutine twin of :meth:`log` (``exc_info`` and ``stack_info`` too): never blocks the
        event loop (see ``_async_method()``)."""
        level = _level_value(level)
        handler = _state.handler
        if handler is not None and handler.queue is not None and handler.queue.full():
            await _wait_for_room(self, level, handler, fields)
        self.log(level, event, *args, **fields)

    if TYPE_CHECKING:  # made by _async_method below; declared here for grep and type checkers
        async def atrace(self, event: Any, /, *args: Any, exc_info: Any = None,
                         stack_info: bool = False, **fields: Any) -> None: ...
        async def adebug(self, event: Any, /, *args: Any, exc_info: Any = None,
                         stack_info: bool = False, **fields: Any) -> None: ...
        async def ainfo(self, event: Any, /, *args: Any, exc_info: Any = None,
                        stack_info: bool = False, **fields: Any) -> None: ...
        async def awarning(self, event: Any, /, *args: Any, exc_info: Any = None,
                           stack_info: bool = False, **fields: Any) -> None: ...
        async def aerror(self, event: Any, /, *args: Any, exc_info: Any = None,
                         stack_info: bool = False, **fields: Any) -> None: ...
        async def acritical(self, event: Any, /, *args: Any, exc_info: Any = None,
                            stack_info: bool = False, **fields: Any) -> None: ...
        async def aexception(self, event: Any, /, *args: Any, exc_info: Any = True,
                             stack_info: bool = False, **fields: Any) -> None: ...

    # -- the record --------------------------------------------------------
    def _emit(self, level: int, event: Any, args: tuple, fields: dict, exc_info: Any,
              stack_info: bool, verdict: Any = _UNASKED) -> None:
        """The gate, then the record, handed on (or collected).

        The gate is the one way in for every call (the sync level methods, the
        async twins through the sync ones or ``log()``, and a
        batch, which is a Logger whose records are collected): first the level,
        then the samplers (``_sampled()``; ``verdict`` is theirs when the level
        method has asked them already). A record either drops costs no merge,
        no lazy field and no record. Below the output level, with a ring buffer configured,
        a record skips the samplers and its entry is only kept in the ring
        (``_RingOnly``), unless its logger is off or filters would see it.

        Fields merge context, then bound, then call fields (later wins). Values
        that are not plain are copied now, on the caller's thread, and secrets
        are redacted. When our handler is all the record reaches (see
        ``_sole_handler()``), and in a batch whose only handler is ours, no
        LogRecord is made: the entry (``_new_entry()``) goes to the handler or
        is collected. A batch collects into ``_collect``; a reservoir sampler
        takes the record into the slot it returned. Never raises for bad data:
        errors are counted and reported.
        """
        try:
            written = self._cache[level]
        except KeyError:  # the level cache was cleared (setLevel) or never filled
            written = self._enabled_slow(level)
        if not written:
            if level < _keep_from:
                return
            collect, as_entry = _state.ring_only, _KEPT_ONLY  # below the output level: kept, unsampled
            if collect is None:  # configure() took the ring buffer away meanwhile
                return
            std = self._std
            if std.disabled or std.filters or collect.handler.filters or _MANAGER.disable >= level:
                return  # not only below the output level: off, or filtered, which the ring must not skip
        else:
            collect, as_entry = self._collect, self._direct
            if verdict is _UNASKED:
                samplers = self._samplers
                if (samplers or _state.samplers is not None) and samplers is not _UNSAMPLED:
                    verdict = _sampled(self, event)
            if verdict is not _KEEP and verdict is not _UNASKED:
                if verdict is None:  # dropped
                    return
                if type(verdict) is dict:
                    fields = {**fields, **verdict}
                else:  # a reservoir's slot: the entry goes there, as it is
                    collect, as_entry = verdict, True
        try:
            ctx = _context.get() if _context_used else _NO_FIELDS
            bound = self._bound
            # text: characters of text, at least (see _weighed()); the event's and the call's are added below
            if ctx is _NO_FIELDS:
                if bound is _NO_FIELDS:
                    merged, plain, text = fields, True, 0
                elif fields:
                    merged, plain, text = {**bound.fields, **fields}, bound.plain, bound.text
                else:  # shared, not copied: _SharedFields cannot change
                    merged, plain, text = bound.fields, bound.plain, bound.text
            elif bound is _NO_FIELDS and not fields:
                merged, plain, text = ctx.fields, ctx.plain, ctx.text
            else:
                merged = {**ctx.fields, **bound.fields, **fields}
                plain, text = ctx.plain and bound.plain, ctx.text + bound.text
            if plain:
                for value in fields.values():
                    kind = type(value)
                    if kind is str:
                        text += len(value)
                        if "://" in value:  # a URL may hold a password: _Sanitizer hides it
                            plain = False
                            break
                    elif kind not in _PLAIN:
                        plain = False
                        break
            if type(event) is not str or args or not plain:
                template = event
                event, merged = _run_callers_code(event, args, merged, plain)
                text = len(event) + _text_of(merged)
            else:
                text += len(event)
                if "://" in event:  # an f-string may have put a URL with its password in it
                    event = _redact_url_credentials(event)
            if merged:  # secrets are hidden before any handler sees the record
                redactor = _state.redactor
                if type(merged) is _SharedFields:  # a bound logger's: decided once per dict
                    merged = redactor.shared.get(merged) or redactor.shared_fields(merged)
                else:
                    if tuple(merged) not in redactor.clean:
                        merged = redactor.fields(merged)
                    interner = _state.interner
                    if interner is not None:  # only a record's own dict: a shared one's values are shared
                        interner.share_values(merged)
            if bound is not _NO_FIELDS and ctx is _NO_FIELDS and self._plain and _plain_keys:
                _state.redactor.learn_join(bound.fields, tuple(fields))  # the next such call is plain
            # When our handler is all the record would reach, no LogRecord is
            # made: nothing else could read it. The entry goes to the handler.
            handler = None
            if collect is None:
                handler = _sole_handler(self._std, level)
                as_entry = handler is not None
            if as_entry:
                if exc_info or stack_info:
                    exc_text = _exception_text(exc_info)[1] if exc_info else None
                    stack = _stack_text() if stack_info else None
                    text = _LIGHT_TEXT + 1  # weighed below: a traceback can be long
                else:
                    exc_text = stack = None
                if _state.callsite:
                    record = _new_entry(_time(), level, self.name, event, merged, exc_text, stack,
                                        *_caller_place())
                else:
                    record = (_time(), level, self.name, event, merged, exc_text, stack, _NO_FILE, 0)  # _new_entry()
                if text > _LIGHT_TEXT:
                    record = _weighed(record, (handler.output.format if handler is not None
                                               else _state).sanitizer.max_length)
            else:
                record = _Record(self.name, level, event, merged)
                if args:
                    record.template = template
                if exc_info:
                    record.exc_info, record.exc_text = _exception_text(exc_info)
                if stack_info:
                    record.stack_info = _stack_text()
                if _state.callsite:
                    _set_callsite(record)
        except RecursionError:
            raise
        except Exception as exc:  # the record could not be made: count it as dropped
            _LEDGER.dropped(1)
            _report_error("log call", exc)
            return
        if collect is not None:  # a batch's record (an entry or a LogRecord), a reservoir's, the ring's
            collect.append(record)
            if as_entry is _KEPT_ONLY:  # three calls into C: kept, not written yet, counted
                collect.unwritten(record)
                collect.count()
            elif collect is self._collect and len(collect) >= self._size:
                self._full()
            return
        if handler is not None:
            handler.put_entry(record)
            return
        try:
            if type(self._std).handle is _LOGGER_HANDLE and not (self._std.filters or self._std.disabled):
                self._std.callHandlers(record)  # what Logger.handle() comes down to here
            else:
                self._std.handle(record)
        except RecursionError:
            raise
        except Exception as exc:  # a filter or a foreign handler raised
            _report_error("log call", exc)

    # -- binding -----------------------------------------------------------
    def _derive(self, bound: _Fields, samplers: tuple | None = None) -> Logger:
        new = Logger(self._std, bound, self._samplers if samplers is None else samplers)
        new._cache = self._cache
        return new

    def bind(self, /, **fields: Any) -> Logger:
        """Return a new logger that adds ``fields`` to each record (after context fields)."""
        return self._derive(_Fields({**self._bound.fields, **fields}))

    def unbind(self, /, *keys: str) -> Logger:
        """Return a new logger without ``keys``. Raises KeyError for a key that is not bound."""
        for key in keys:
            if key not in self._bound.fields:
                raise KeyError(key)
        return self.try_unbind(*keys)

    def try_unbind(self, /, *keys: str) -> Logger:
        """Return a new logger without ``keys``; keys that are not bound are ignored."""
        return self._derive(_Fields({k: v for k, v in self._bound.fields.items() if k not in keys}))

    def sampled(self, sampler: _Sampler) -> Logger:
        """Return a new logger whose calls first pass ``sampler`` (after this logger's own).

        Raises:
            TypeError: ``sampler`` is not one of this module's samplers.
        """
        return self._derive(self._bound, (*self._samplers, _check_sampler(sampler, "sampled()")))

    # -- batches -----------------------------------------------------------
    @contextlib.contextmanager
    def batch(self, size: int = 1000) -> Iterator[_Batch]:
        """Collect the records of a ``with`` block and hand them on together.

        Yields an object with the level methods; each call checks its level at
        once. Records go on every ``size`` records and when the block ends, in
        order; if the block raises, what was logged is still handed on.
        """
        batch = _Batch(self, _check_batch_size(size))
        try:
            yield batch
        finally:
            batch.hand_off()

    @contextlib.asynccontextmanager
    async def batch_async(self, size: int = 1000) -> Any:
        """The ``async with`` twin of :meth:`batch`: its level methods are coroutines."""
        batch = _AsyncBatch(self, _check_batch_size(size))
        try:
            yield batch
        finally:
            await batch.hand_off_async()


_LEVEL_METHODS = {"trace": TRACE, "debug": DEBUG, "info": INFO, "warning": WARNING,
                  "error": ERROR, "critical": CRITICAL, "exception": ERROR}
for _name, _level in _LEVEL_METHODS.items():
    setattr(Logger, "a" + _name, _async_method(_level, "a" + _name, _name == "exception" or None))
del _name, _level


def _check_batch_size(size: int) -> int:
    if type(size) is not int or size < 1:
        raise ValueError(f"batch size must be an int of at least 1, got {size!r}")
    return size


def _dispatch_many(std: logging.Logger, records: list) -> None:
    """Hand ``records`` to ``std`` one by one, as ordinary calls would: every handler, filter and wrapper."""
    handle = std.handle
    for record in records:
        handle(record)


def _plain_dispatch(std: logging.Logger) -> bool:
    """Whether ``std`` dispatches as ``logging`` wrote it: no subclass or integration wraps it.

    Error reporters (Sentry's logging integration) wrap ``Logger.callHandlers``
    or ``Logger.handle``; a batch must then go through them record by record.
    """
    cls = type(std)
    for method in (cls.callHandlers, cls.handle):
        code = getattr(method, "__code__", None)
        if code is None or code.co_filename != logging.__file__:
            return False
    return True


#: logging's own Logger.handle and Logger.callHandlers: while a logger's class
#: has them (no subclass, no integration's wrapper), with no filter and not
#: disabled, handle() only calls callHandlers(), which _emit calls itself (a
#: wrapper on callHandlers still runs), and callHandlers() only walks the handlers.
_LOGGER_HANDLE, _LOGGER_CALL_HANDLERS = (
    (logging.Logger.handle, logging.Logger.callHandlers)
    if _plain_dispatch(logging.Logger("probe")) else (None, None))

#: A level every handler takes: ``_sole_handler()`` for records of any level.
_ANY_LEVEL = sys.maxsize


def _sole_handler(std: logging.Logger, level: int) -> Handler | None:
    """Return our handler if it is all that a record of ``level`` from ``std`` reaches.

    That is: ``std`` dispatches as logging wrote it (no filter, no subclass or
    wrapper), and among the handlers logging would call for that level there
    is one, a ``Handler`` of this copy of the module, with no filter. Then
    nothing else can read the record, and its entry goes to the handler
    directly. A handler whose level is above ``level`` never sees the record,
    so it does not count.
    """
    cls = type(std)
    if (std.filters or std.disabled or cls.handle is not _LOGGER_HANDLE
            or cls.callHandlers is not _LOGGER_CALL_HANDLERS):
        return None
    found = None
    node = std
    while node is not None:
        for handler in node.handlers:
            if level >= handler.level:
                if found is not None or type(handler) is not Handler or handler.filters:
                    return None
                found = handler
        node = node.parent if node.propagate else None
    return found


def _record_from_entry(entry: tuple) -> _Record:
    """Rebuild a LogRecord from an entry (a batch whose route changed mid-block)."""
    created, levelno, name, event, fields, exc_text, stack, filename, lineno = entry
    record = _Record(name, levelno, event, _fields_of(fields))
    record.created, record.exc_text, record.stack_info = created, exc_text, stack
    record.filename, record.lineno = filename, lineno
    return record


class _Batch(Logger):
    """What ``Logger.batch()`` yields: a Logger whose records are collected, then handed on together.

    Its level methods are the Logger's (the same gate); ``_emit()`` appends
    each record to ``_collect`` and calls ``_full()`` every ``size`` records.
    The route is decided once per block: when our handler is the only thing
    the records would reach, entries are collected instead of LogRecords and
    handed to it directly (checked again at each hand-off).
    """

    __slots__ = ("_size", "_direct")

    def __init__(self, logger: Logger, size: int) -> None:
        super().__init__(logger._std, logger._bound, logger._samplers)
        self._cache = logger._cache
        self._collect = []
        self._size = size
        self._direct = _sole_handler(logger._std, _ANY_LEVEL) is not None

    def _full(self) -> None:
        self.hand_off()

    def _derive(self, bound: _Fields, samplers: tuple | None = None) -> Logger:
        raise TypeError("a batch collects the records of its block: bind() or sample the logger "
                        "before the batch, not the batch")

    def hand_off(self) -> None:
        """Hand the collected records to the handlers in one go."""
        records, self._collect = self._collect, []
        if not records:
            return
        std = self._std
        try:
            if self._direct:
                handler = _sole_handler(std, _ANY_LEVEL)
                if handler is not None:
                    level = handler.level
                    handler.put_entries([e for e in records if e[_LEVELNO] >= level] if level else records)
                    return
                self._direct = False  # the set-up changed during the block
                records = list(map(_record_from_entry, records))
            _dispatch_many(std, records)
        except RecursionError:
            raise
        except Exception as exc:
            _report_error("batch", exc)


def _async_batch_method(level: int, name: str) -> Callable[..., Any]:
    """Build a level method of ``_AsyncBatch``: the gate (``_emit()``), then an awaited hand-off when full."""
    exc_default = name == "exception"

    async def method(self: _AsyncBatch, event: Any, /, *args: Any, exc_info: Any = exc_default,
                     stack_info: bool = False, **fields: Any) -> None:
        self._emit(level, event, args, fields, exc_info, stack_info)
        if len(self._collect) >= self._size:
            await self.hand_off_async()

    method.__name__ = name
    method.__qualname__ = f"_AsyncBatch.{name}"
    return method


class _AsyncBatch(_Batch):
    """What ``Logger.batch_async()`` yields: awaitable level methods.

    A full batch is handed on by the level method that filled it, which first
    waits (asynchronously) for room; ``_emit()`` leaves it to them.
    """

    __slots__ = ()

    def _full(self) -> None:
        pass

    async def log(self, level: int | str, event: Any, /, *args: Any, exc_info: Any = None,
                  stack_info: bool = False, **fields: Any) -> None:
        """Collect ``event`` at ``level``. A bad level raises ValueError/TypeError at once."""
        self._emit(_level_value(level), event, args, fields, exc_info, stack_info)
        if len(self._collect) >= self._size:
            await self.hand_off_async()

    async def hand_off_async(self) -> None:
        """Hand the records on without blocking the loop: wait (asynchronously) for room first.

        A block larger than the queue goes on in parts, each once there is room for it.
        """
        handler = _state.handler
        records = self._collect
        while records and handler is not None:
            room = handler.room()
            if room <= 0:
                await handler.wait_for_cancellable_room(len(records))
                continue
            self._collect, records = records[:room], records[room:]
            self.hand_off()
        self._collect = records
        self.hand_off()


for _name in _LEVEL_METHODS:
    setattr(_AsyncBatch, _name, _async_batch_method(_LEVEL_METHODS[_name], _name))
    setattr(_AsyncBatch, "a" + _name, getattr(_AsyncBatch, _name))  # already coroutines here
_AsyncBatch.alog = _AsyncBatch.log
del _name


def get_logger(name: str | None = None) -> Logger:
    """Return a structured logger over ``logging.getLogger(name)`` (the root for None).

    Raises:
        TypeError: ``name`` is neither a str nor None.
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"get_logger() name must be a str or None, got {name!r}")
    return Logger(logging.getLogger(name))


#---------------------------------------------------------------------------
#   Configuration
#---------------------------------------------------------------------------

def _bool_value(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
    raise ValueError(f"{what} must be a boolean (1/0, true/false, yes/no, on/off), got {value!r}")


def _optional_bool(value: Any, what: str) -> bool | None:
    return None if value is None else _bool_value(value, what)


def _choice(choices: tuple) -> Callable[[Any, str], str]:
    def check(value: Any, what: str) -> str:
        text = value.strip().lower() if isinstance(value, str) else value
        if text not in choices:
            raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return text
    return check


def _int_range(low: int, high: int) -> Callable[[Any, str], int]:
    def check(value: Any, what: str) -> int:
        if isinstance(value, str):
            text = value.strip()
            if not (text.isdigit() and text.isascii()):
                raise ValueError(f"{what} must be an integer from {low:,} to {high:,}, got {value!r}")
            value = int(text)
        if type(value) is not int or not low <= value <= high:
            raise ValueError(f"{what} must be an integer from {low:,} to {high:,}, got {value!r}")
        return value
    return check


def _positive_float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 3600:
        raise ValueError(f"{what} must be a number of seconds above 0 and below 3600, got {value!r}")
    return float(value)


def _env_level(value: str, what: str) -> int:
    """A level from the environment: a name, or the digits of a number ("10")."""
    text = value.strip()
    return int(text) if text.isdigit() and text.isascii() else _level_value(text, what)


def _module_levels(value: Any, what: str) -> dict:
    if isinstance(value, str):  # the environment's form: "urllib3:WARNING,app.db:DEBUG"
        pairs = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            name, sep, level = item.rpartition(":")
            if not sep or not name.strip():
                raise ValueError(f"{what} must look like 'module:LEVEL,module2:LEVEL', got {value!r}")
            pairs[name.strip()] = _env_level(level, f"{what}[{name.strip()!r}]")
        value = pairs
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict of module name to level, got {value!r}")
    levels = {}
    for name, level in value.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{what} keys must be module names, got {name!r}")
        levels[name] = _level_value(level, f"{what}[{name!r}]")
    return levels


def _stream(value: Any, what: str) -> Any:
    if value is not None and not callable(getattr(value, "write", None)):
        raise TypeError(f"{what} must have a write(str) method, got {value!r}")
    return value


def _path(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip() == "":
        raise ValueError(f"{what} must be a file path, got an empty string")
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{what} must be a path (str or os.PathLike), got {value!r}")
    return os.fspath(value)


def _processors(value: Any, what: str) -> tuple:
    if callable(value) or isinstance(value, (str, bytes)):
        raise TypeError(f"{what} must be a list of callables, got {value!r}")
    try:
        items = tuple(value)
    except TypeError:
        raise TypeError(f"{what} must be a list of callables, got {value!r}") from None
    for item in items:
        if not callable(item):
            raise TypeError(f"{what} must hold callables (event_dict) -> event_dict | None, got {item!r}")
    return items


def _redact(value: Any, what: str) -> tuple:
    if isinstance(value, str):
        raise TypeError(f"{what} must be a list of key names, got the string {value!r}")
    try:
        names = tuple(value)
    except TypeError:
        raise TypeError(f"{what} must be a list of key names, got {value!r}") from None
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{what} must hold non-empty str key names, got {name!r}")
    return names


def _samplers(value: Any, what: str) -> dict:
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a dict of event name (or '*') to sampler, got {value!r}")
    for name, sampler in value.items():
        if type(name) is not str:
            raise TypeError(f"{what} keys must be event names (str) or '*', got {name!r}")
        _check_sampler(sampler, f"{what}[{name!r}]")
    return dict(value)


def _count_or_switch(high: int) -> Callable[[Any, str], int]:
    """The check of ``intern`` and ``ring_buffer``: True (10,000), False or 0 (off), or a count up to ``high``."""

    def check(value: Any, what: str) -> int:
        if type(value) is bool:
            return 10_000 if value else 0
        return _whole(value, what, 0, high)

    return check


def _monitor_interval(value: Any, what: str) -> float:
    """``monitor``: True (every 60 s), False, None or 0 (off), or the seconds between reports."""
    if value is None or type(value) is bool:
        return 60.0 if value else 0.0
    return 0.0 if value == 0 else _number(value, what, 0.0)


def _optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """``check``, with None allowed (the option is off)."""
    return lambda value, what: None if value is None else check(value, what)


def _journald(value: Any, what: str) -> str | None:
    """``True`` (journald's socket), a socket path, or ``False``/None (off); the socket must exist."""
    if value is None or value is False:
        return None
    path = _JOURNAL_SOCKET if value is True else value
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"{what} must be True or the absolute path of journald's socket, got {value!r}")
    if not os.path.exists(path):
        raise ValueError(f"{what}: no journal socket at {path} (is systemd-journald running?)")
    return path


def _otlp(value: Any, what: str) -> str | bool | None:
    """``True`` (the endpoint from the environment) or an http(s) URL; ``False``/None: off."""
    if value is None or value is False or value is True:
        return value or None
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValueError(f"{what} must be True or an http:// or https:// URL, got {value!r}")
    return value


def _otlp_headers(value: Any, what: str) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in value.items()):
        raise TypeError(f"{what} must be a dict of str to str, got {value!r}")
    return dict(value)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{what} must be a non-empty str, got {value!r}")
    return value


def _otlp_settings(cfg: dict) -> tuple[str, dict, str, float]:
    """The OTLP sink's URL, headers and service name, from the options, else the standard
    OpenTelemetry environment variables, else OpenTelemetry's defaults; and its timeout."""
    import urllib.parse  # here, not at import: only OTLP export needs it

    environ = os.environ
    if isinstance(cfg["otlp"], str):
        base = cfg["otlp"].rstrip("/")
        url = base if base.endswith("/v1/logs") else base + "/v1/logs"
    elif environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "").strip():
        url = environ["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"].strip()
    else:
        url = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip().rstrip("/") or "http://localhost:4318"
        url += "/v1/logs"
    headers = cfg["otlp_headers"]
    if headers is None:  # "key1=value1,key2=value2", values URL-encoded (W3C baggage form)
        headers = {}
        for pair in environ.get("OTEL_EXPORTER_OTLP_HEADERS", "").split(","):
            key, sep, value = pair.partition("=")
            if sep and key.strip():
                headers[urllib.parse.unquote(key.strip())] = urllib.parse.unquote(value.strip())
    service = cfg["service_name"] or environ.get("OTEL_SERVICE_NAME", "").strip() or "unknown_service:python"
    return url, headers, service, cfg["otlp_timeout"]


def _app_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 48 or _NOT_HEADER.search(value):
        raise ValueError(f"{what} must be 1 to 48 printable ASCII characters, no space, got {value!r}")
    return value


def _optional_level(value: Any, what: str) -> int | None:
    return None if value is None else _level_value(value, what)


def _signals(value: Any, what: str) -> tuple:
    """``flush_on_signals``: False or None (off), True (SIGTERM), or signals by number or name."""
    if value is None or value is False:
        return ()
    import signal  # here, not at import: most programs never ask for it

    items = (signal.SIGTERM,) if value is True else (value,) if isinstance(value, (str, int)) else value
    try:
        items = tuple(items)
    except TypeError:
        raise TypeError(f"{what} must be True, False or a list of signals, got {value!r}") from None
    found = []
    for item in items:
        if isinstance(item, str):
            name = item.upper() if item.upper().startswith("SIG") else "SIG" + item.upper()
            sig = getattr(signal, name, None)
        elif isinstance(item, int) and not isinstance(item, bool):
            sig = next((s for s in signal.Signals if s == item), None)
        else:
            raise TypeError(f"{what} must hold signal numbers or names, got {item!r}")
        if not isinstance(sig, signal.Signals) or sig.name in ("SIGKILL", "SIGSTOP"):
            raise ValueError(f"{what}: {item!r} is not a signal a handler can catch")
        found.append(sig)
    if found and threading.current_thread() is not threading.main_thread():
        raise ValueError(f"{what}: signal handlers can only be installed from the main thread; "
                         "call configure() there")
    return tuple(dict.fromkeys(found))


_FORMAT_NAMES = tuple(_FORMATS)


class _Option:
    """One configure() option: its check, its default, the environment variables read for it.

    ``shown`` is the default as a user would write it, for warnings; ``scope``
    says who takes it: ``"formatter"`` (Formatter, Handler and configure()),
    ``"handler"`` (Handler and configure()) or ``"configure"`` (configure() only).
    """

    __slots__ = ("check", "default", "env", "shown", "scope")

    def __init__(self, check: Callable[[Any, str], Any], default: Any, env: tuple = (),
                 shown: str | None = None, scope: str = "handler") -> None:
        self.check = check
        self.default = default
        self.env = env
        self.shown = f"using the default {default}" if shown is None else shown
        self.scope = scope


#: Every configure() option. The environment is read only for options not given.
_OPTIONS = {
    "level": _Option(lambda v, w: _level_value(v, w), INFO, ("FOUNDATION_LOG_LEVEL", "PROVIDE_LOG_LEVEL"),
                     "using the default INFO", scope="configure"),
    "format": _Option(_choice(_FORMAT_NAMES), "key_value",
                      ("FOUNDATION_LOG_FORMAT", "PROVIDE_LOG_CONSOLE_FORMATTER"), scope="formatter"),
    "stream": _Option(_stream, None),
    "file": _Option(_path, None, ("FOUNDATION_LOG_FILE", "PROVIDE_LOG_FILE"), "writing to stderr"),
    "module_levels": _Option(_module_levels, {},
                             ("FOUNDATION_LOG_MODULE_LEVELS", "PROVIDE_LOG_MODULE_LEVELS"),
                             "using no per-module levels", scope="configure"),
    "emoji": _Option(_optional_bool, None, ("FOUNDATION_LOG_EMOJI",),
                     "using the default (on for key_value)", scope="formatter"),
    "colors": _Option(_optional_bool, None, scope="formatter"),
    "mode": _Option(_choice(("queue", "sync")), "queue", ("FOUNDATION_LOG_MODE",)),
    "queue_size": _Option(_int_range(1, 10_000_000), 10_000, ("FOUNDATION_LOG_QUEUE_SIZE",)),
    "queue_bytes": _Option(_int_range(1 << 16, 1 << 40), 32 << 20),
    "overflow": _Option(_choice(("block", "drop")), "block", ("FOUNDATION_LOG_OVERFLOW",)),
    "batch_size": _Option(_int_range(1, 1_000_000), 1000),
    "flush_interval": _Option(_positive_float, 0.1),
    "processors": _Option(_processors, ()),
    "redact": _Option(_redact, DEFAULT_REDACT, scope="formatter"),
    "max_value_length": _Option(_int_range(16, 1 << 30), 65536, scope="formatter"),
    "max_fields": _Option(_int_range(1, 1_000_000), 1000, scope="formatter"),
    "max_depth": _Option(_int_range(1, 1000), 10, scope="formatter"),
    "callsite": _Option(_bool_value, False, scope="formatter"),
    "syslog": _Option(_optional(_syslog_address), None),
    "syslog_facility": _Option(_choice(tuple(_SYSLOG_FACILITIES)), "user"),
    "journald": _Option(_journald, None),
    "otlp": _Option(_otlp, None),
    "otlp_headers": _Option(_otlp_headers, None),
    "otlp_timeout": _Option(_positive_float, 10.0),
    "service_name": _Option(_optional(_text), None),
    "syslog_app_name": _Option(_optional(_app_name), None),
    "max_bytes": _Option(_int_range(0, 1 << 60), 0),
    "backups": _Option(_int_range(1, 1000), 5),
    "shutdown_timeout": _Option(_positive_float, 2.0),
    "flush_on_signals": _Option(_signals, (), scope="configure"),
    "samplers": _Option(_samplers, {}, scope="configure"),
    "intern": _Option(_count_or_switch(1_000_000), 0, scope="configure"),
    "ring_buffer": _Option(_count_or_switch(100_000_000), 0, scope="configure"),
    "ring_buffer_level": _Option(lambda v, w: _level_value(v, w), DEBUG, scope="configure"),
    "flush_level": _Option(_optional_level, ERROR, scope="configure"),
    "monitor": _Option(_monitor_interval, 0.0, scope="configure"),
}
#: The options a Formatter takes, and those a Handler takes.
_FORMATTER_OPTIONS = tuple(name for name, o in _OPTIONS.items() if o.scope == "formatter")
_HANDLER_OPTIONS = tuple(name for name, o in _OPTIONS.items() if o.scope != "configure")


#: The options that say where lines go: one at most.
_DESTINATIONS = ("stream", "file", "syslog", "journald", "otlp")


def _checked(options: dict, names: tuple, who: str) -> dict:
    """Check ``options`` against ``names``; fill the ones not given with their defaults."""
    unknown = sorted(set(options) - set(names), key=str)
    if unknown:
        raise TypeError(f"{who} got unknown option(s) {', '.join(map(repr, unknown))}; "
                        f"valid options: {', '.join(names)}")
    return {name: _OPTIONS[name].check(options[name], name) if name in options else _OPTIONS[name].default
            for name in names}


def _formatter_config(options: dict) -> dict:
    """The checked options of a Formatter. Raises ValueError/TypeError naming a bad one."""
    return _checked(options, _FORMATTER_OPTIONS, "Formatter()")


def _handler_config(options: dict) -> dict:
    """The checked options of a Handler. Raises ValueError/TypeError naming a bad one."""
    cfg = _checked(options, _HANDLER_OPTIONS, "Handler()")
    if sum(cfg[name] is not None for name in _DESTINATIONS) > 1:
        raise ValueError("give one of stream=, file=, syslog=, journald= and otlp=")
    if cfg["max_bytes"] and cfg["file"] is None:
        raise ValueError(f"max_bytes={cfg['max_bytes']!r} rotates a file: give file= too")
    return cfg


def _resolve(options: dict) -> dict:
    """Check configure()'s ``options`` and fill the rest from the environment, then the defaults.

    Raises ValueError/TypeError for a bad or unknown option; a bad environment
    value gives one warning line on stderr and the default.
    """
    unknown = sorted(set(options) - set(_OPTIONS), key=str)
    if unknown:
        raise TypeError(f"configure() got unknown option(s) {', '.join(map(repr, unknown))}; "
                        f"valid options: {', '.join(_OPTIONS)}")
    if sum(options.get(name) not in (None, False) for name in _DESTINATIONS) > 1:
        raise ValueError("configure() takes one of stream=, file=, syslog=, journald= and otlp=")
    resolved: dict = {"file_variable": None}  # the environment variable that named the file, if one did
    for name, option in _OPTIONS.items():
        if name in options:
            resolved[name] = option.check(options[name], name)
            continue
        resolved[name] = option.default
        if name == "file" and any(options.get(other) not in (None, False) for other in _DESTINATIONS):
            continue  # an explicit stream or exporter wins over a file named in the environment
        for variable in option.env:
            raw = os.environ.get(variable)
            if raw is None or raw.strip() == "":
                continue
            try:
                resolved[name] = _env_level(raw, variable) if name == "level" else option.check(raw, variable)
                if name == "file":
                    resolved["file_variable"] = variable
            except (ValueError, TypeError) as exc:
                _env_warning(variable, raw, exc, option.shown)
            break
    if resolved["max_bytes"] and resolved["file"] is None:
        raise ValueError(f"configure() max_bytes={resolved['max_bytes']!r} rotates a file: give file= too")
    return resolved


def _env_warning(variable: str, raw: str, problem: object, shown: str) -> None:
    """The one stderr line for a bad environment value: what was wrong, and what is used instead."""
    _write_stderr(_escape_control(f"foundation: ignoring {variable}={raw!r}: {problem}; {shown}") + "\n")


def _colors_wanted(option: bool | None, sink: _Sink | None) -> bool:
    """Colors: as forced; else on when FORCE_COLOR says so, off for NO_COLOR and TERM=dumb, else on a terminal."""
    if option is not None:
        return option
    force = os.environ.get("FORCE_COLOR", "").strip().lower()
    if force and force not in ("0", "false", "no", "off"):
        return True
    if os.environ.get("NO_COLOR") or os.environ.get("TERM", "").strip().lower() == "dumb":
        return False
    return sink is not None and sink.is_tty


def _emoji_wanted(option: bool | None, fmt: str, sink: _Sink | None) -> bool:
    if option is not None:
        return option
    if fmt != "key_value":
        return False
    try:  # a console that cannot show emoji (cp1252, ascii) gets none by default
        "🔑".encode(sink.encoding if sink is not None else "utf-8")
        return True
    except (LookupError, UnicodeEncodeError):
        return False


#: The lowest level the ring buffer keeps below the output level (none: above every level).
_keep_from = (1 << 30) - 1  # the largest one-digit int: a comparison with it stays on the fast path


class _State:
    """All mutable module state, in one place; ``configure()`` replaces its parts."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # RLock: the first log call may configure from a log call
        self.configured = False
        self.handler: Handler | None = None  # the one configure() installed
        #: what the facade applies before any handler sees a record
        self.redactor = _Redactor(DEFAULT_REDACT)
        self.sanitizer = _Sanitizer(self.redactor, 10)
        self.callsite = False
        self.module_levels: dict[str, int] = {}
        #: configure(samplers=...): event name (or "*") -> (sampler,), a tuple as Logger._samplers is
        self.samplers: dict[str, tuple] | None = None
        self.interner: _Interner | None = None  # configure(intern=...)
        self.ring: RingBuffer | None = None  # configure(ring_buffer=...)
        self.ring_only: _RingOnly | None = None  # ... where the facade puts what only it keeps
        self.monitor: ResourceMonitor | None = None  # configure(monitor=...)


_state = _State()


def configure(**options: Any) -> None:
    """Set up output, levels and limits; may be called again (it replaces, never duplicates).

    Builds a :class:`Handler` from the output options and puts it on the root
    logger in place of any foundation handler (of any copy of this module);
    other handlers and loggers are kept. An option given here wins; one not
    given comes from the environment (``FOUNDATION_LOG_*``, then
    ``PROVIDE_LOG_*``), then from the default. See README.md for the table.
    Resets ``stats()``. Writes no record itself.

    Raises:
        TypeError, ValueError: an unknown option or a bad value, named in the message.
        OSError: ``file`` cannot be opened.
    """
    cfg = _resolve(options)
    with _state.lock:
        _install(cfg)


def _auto_configure() -> None:
    """On first use, configure from the environment, as ``basicConfig()`` does: only when
    the root logger has no handlers (else records go to the handlers already there).
    Never raises into the log call.
    """
    with _state.lock:
        if _state.configured:
            return
        try:
            if logging.getLogger().handlers:
                _state.configured = True
                return
            _install(_resolve({}))
        except Exception as exc:
            _state.configured = True  # do not try again on every call
            _report_error("configuration from the environment", exc)


def _install(cfg: dict) -> None:
    """Replace the current set-up with one built from the resolved options ``cfg``."""
    options = {name: cfg[name] for name in _HANDLER_OPTIONS}
    try:
        handler = Handler(**options)
    except OSError as exc:
        if cfg["file_variable"] is None:
            raise  # given to configure(): loud
        _env_warning(cfg["file_variable"], cfg["file"], f"cannot open it ({exc.strerror})",
                     _OPTIONS["file"].shown)
        options["file"] = None
        handler = Handler(**options)
    # The new handler goes on before the old ones come off: a record logged
    # meanwhile by another thread reaches one of them, never neither.
    root = logging.getLogger()
    old = [h for h in root.handlers if _is_foundation_handler(h)]
    if _state.handler is not None and _state.handler not in old:
        old.append(_state.handler)  # configure()'s own, even if someone took it off the root
    for old_handler in old:
        if isinstance(old_handler, Handler):  # another copy's handler counts in that copy
            old_handler._retire()
    _LEDGER.reset()  # the counts start again before the new handler writes anything
    root.addHandler(handler)
    _state.handler = handler
    _state.sanitizer = handler.output.format.sanitizer
    _state.redactor = _state.sanitizer.redactor
    _state.callsite = cfg["callsite"]
    _state.samplers = {name: (sampler,) for name, sampler in cfg["samplers"].items()} or None
    _state.interner = _Interner(cfg["intern"]) if cfg["intern"] else None
    _decide_plain_path()
    _install_ring_buffer(handler, cfg)
    for old_handler in old:
        root.removeHandler(old_handler)
        old_handler.close()  # drains it, within its shutdown_timeout
    for name in _state.module_levels:
        if name not in cfg["module_levels"]:
            logging.getLogger(name).setLevel(logging.NOTSET)
    root.setLevel(cfg["level"])
    if _SELF_NAME not in cfg["module_levels"]:  # the library's own reports pass a higher level
        logging.getLogger(_SELF_NAME).setLevel(min(INFO, cfg["level"]))
    for name, level in cfg["module_levels"].items():
        logging.getLogger(name).setLevel(level)
    _state.module_levels = dict(cfg["module_levels"])
    _catch_signals(cfg["flush_on_signals"])
    if _state.monitor is not None:
        _state.monitor.stop()
        _state.monitor = None
    if cfg["monitor"]:
        _state.monitor = ResourceMonitor()
        _state.monitor.start(cfg["monitor"])
    _state.configured = True
    _register_process_hooks()


def _decide_plain_path() -> None:
    """Let plain calls skip the gate's general path, or not (see ``_plain_keys``)."""
    global _plain_keys, _plain_joins
    plain = _state.samplers is None and not _state.callsite and _state.interner is None
    _plain_keys = _state.redactor.clean if plain else frozenset()
    _plain_joins = _state.redactor.joins if plain else {}


def _install_ring_buffer(handler: Handler, cfg: dict) -> None:
    """``ring_buffer``: keep what ``handler`` writes, and what the facade logs below the
    output level down to ``ring_buffer_level``; at ``flush_level``, write the latter first."""
    global _keep_from
    if not cfg["ring_buffer"]:
        _keep_from = (1 << 30) - 1  # first: a call that still finds the old ring keeps its record there
        _state.ring = _state.ring_only = None
        return
    flush_level = cfg["flush_level"]
    ring = RingBuffer(cfg["ring_buffer"], flush_level=flush_level,
                      target=handler if flush_level is not None else None)
    ring.setLevel(cfg["ring_buffer_level"])
    handler.ring = ring
    _state.ring, _state.ring_only = ring, _RingOnly(ring, handler)
    _keep_from = cfg["ring_buffer_level"]  # last: a call that sees it finds the ring


def _handlers() -> list:
    """The live Handlers of this copy of the module, the configured one first."""
    with _live_lock:
        handlers = list(_live_handlers)
    first = _state.handler
    if first in handlers:
        handlers.remove(first)
        handlers.insert(0, first)
    return handlers


def flush(timeout: float | None = None) -> bool:
    """Wait until every record logged before the call is written (or counted as dropped).

    Acts on every live :class:`Handler`. Returns True once that is so and the
    sinks' ``flush()`` have returned; False if it did not happen within
    ``timeout`` seconds (None: wait as long as needed). Blocks the calling thread.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    done = True
    for handler in _handlers():
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        done = handler.flush_wait(left) and done
    return done


def shutdown(timeout: float = 2.0) -> None:
    """Write what is queued and stop the writer threads, waiting at most ``timeout`` seconds.

    Acts on every live :class:`Handler`; first, the monitor ``configure(monitor=...)``
    started stops, and each RateLimiter reports what it has suppressed and not
    reported yet. Safe to call twice; runs at exit. Records logged afterwards
    are written synchronously.
    """
    deadline = time.monotonic() + timeout
    if _state.monitor is not None:
        _state.monitor.stop()
    _report_suppressed()
    for handler in _handlers():
        handler.stop(max(0.0, deadline - time.monotonic()))


def _report_suppressed() -> None:
    """Every live RateLimiter reports what it has suppressed and not reported yet. Never raises."""
    for limiter in list(_live_samplers):
        if type(limiter) is not RateLimiter:
            continue
        try:
            limiter.report_suppressed()
        except Exception as exc:
            _report_error("rate limiter report", exc)


def stats() -> dict:
    """Return the counters since the last ``configure()``, for every foundation Handler at once.

    Keys: ``emitted``, ``written``, ``dropped``, ``sampled_out``, ``errors``,
    ``queue_depth``, ``bytes_written``. After ``flush()``,
    ``written + dropped == emitted``.
    """
    return _LEDGER.snapshot()


#---------------------------------------------------------------------------
#   Module singletons and atexit
#---------------------------------------------------------------------------

logger = get_logger()  #: the default logger (the root), ready to use with no set-up
_own_logger = Logger(logging.getLogger(_SELF_NAME), samplers=_UNSAMPLED)  #: the library's own records


def _shutdown_at_exit(handlers: Callable[[], list] = _handlers,
                      report_suppressed: Callable[[], None] = _report_suppressed) -> None:
    """Drain every live Handler, each waiting at most its ``shutdown_timeout`` for a stuck sink."""
    # Globals bound as defaults: module globals may already be gone at exit.
    report_suppressed()
    for handler in handlers():
        handler.stop_at_exit()


atexit.register(_shutdown_at_exit)
_process_hooks_registered = False


#: The signals flush_on_signals catches, each with the handler that was there before ours.
_caught_signals: dict = {}


def _catch_signals(signals: tuple) -> None:
    """Catch ``signals`` with ``_on_signal``; give back the others caught before to their previous handler."""
    if not signals and (not _caught_signals or threading.current_thread() is not threading.main_thread()):
        return  # (only the main thread can give signals back: from another, ours stay installed)
    import signal

    for sig in list(_caught_signals):
        if sig not in signals:
            if signal.getsignal(sig) is _on_signal:
                signal.signal(sig, _caught_signals[sig])
            del _caught_signals[sig]
    for sig in signals:
        if signal.getsignal(sig) is not _on_signal:
            _caught_signals[sig] = signal.signal(sig, _on_signal)


def _on_signal(signum: int, frame: Any) -> None:
    """flush_on_signals: write what is queued, then do what would have happened without us.

    A previous Python handler is called (the program goes on, or exits, as it
    decides), so only a flush is needed. With the default action the process
    is about to die: the writers are stopped as at exit (what a stuck sink
    keeps is counted and reported), then the signal is raised again with the
    default action, so the exit status is the one it would have been.
    """
    import signal

    previous = _caught_signals.get(signum, signal.SIG_DFL)
    if callable(previous):
        handler = _state.handler
        flush(handler.shutdown_timeout if handler is not None else 2.0)
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    _shutdown_at_exit()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _register_process_hooks() -> None:
    """Register, once, at the first configuration: the fork hooks, and a drain for fork children.

    multiprocessing children started by fork end with os._exit() after
    threading._shutdown(), which runs the hooks of threading._register_atexit
    (3.9+; concurrent.futures uses it) but not atexit's. At a normal exit those
    hooks run before non-daemon threads are joined: what such threads log
    afterwards is written synchronously, so nothing is lost.
    """
    global _process_hooks_registered
    if _process_hooks_registered:
        return
    _process_hooks_registered = True
    if hasattr(os, "register_at_fork"):  # not on Windows
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                            after_in_child=_after_fork_in_child)
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        try:
            register(_shutdown_at_exit)
        except RuntimeError:  # "can't register atexit after shutdown"
            pass


def _before_fork() -> None:
    for handler in _handlers():
        handler.output.before_fork()


def _after_fork_in_parent() -> None:
    for handler in _handlers():
        handler.output.after_fork_in_parent()


def _after_fork_in_child() -> None:
    # Threads other than the forking one are gone in the child: re-make what
    # they might have held, and restart the writer thread.
    _state.lock = threading.RLock()
    _LEDGER.after_fork_in_child()
    _reporter._lock = threading.RLock()
    for sampler in list(_live_samplers):
        sampler.after_fork_in_child()
    if _state.interner is not None:
        _state.interner.after_fork_in_child()
    if _state.monitor is not None:
        _state.monitor.after_fork_in_child()
    for ring in list(_live_rings):
        ring.after_fork_in_child()
    global _live_lock
    _live_lock = threading.RLock()
    for handler in _handlers():
        handler.after_fork_in_child()

