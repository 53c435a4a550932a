#!/usr/bin/env python
# SPDX-License-Identifier: MIT
"""Soak test for foundation.py: nothing lost silently, under threads, fork, reconfiguration and SIGTERM.

Run it from the repository (``python soak.py``, or ``tox -e soak``); it finishes in about
half a minute, well under two. POSIX only (it forks and signals).

1. The soak. 16 threads log numbered records for 20 seconds as JSON to a sink that
   appends to a real file, but whose ``write()`` raises OSError now and then: every
   500th call starts a run of 1, 3 or 12 failing calls. (The library tries the lines of
   a failed batch again one by one, and gives up after 8 failures in a row: a run of 1
   loses nothing, a run of 3 loses two lines, a run of 12 most of a batch; what is lost
   is counted as dropped.) Meanwhile the main thread forks a child that logs its own
   numbered records, flushes and leaves with ``os._exit()``, and calls ``configure()``
   twice more with the same sink. Then: every line parses, no (thread, seq) pair is
   written twice, the lines written plus the records counted as dropped equal the
   records logged, and the ``logs_dropped`` reports add up to the drops.
   (``configure()`` takes ``stream=`` or ``file=``, not both: the failing sink is a
   stream that appends to a file.)
2. SIGTERM. A child interpreter configures ``file=..., flush_on_signals=True``, logs
   10,000 records and sends itself SIGTERM: it must die of SIGTERM, as it would without
   the library, with all 10,000 lines in the file. A second child has its own SIGTERM
   handler, installed before ``configure()``: it must run after the 10,000 lines are
   written.

Exit status: 0 when every check holds; 1 when one fails (the message says which);
2 when the soak cannot run here: ``configure()`` does not take ``flush_on_signals``
yet, or the platform has no ``os.fork``. The library's own reports of the injected
write failures (``foundation: write: OSError: ...``, at most one a second) appear on
stderr: they are expected.
"""

from __future__ import annotations

import errno
import faulthandler
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
import warnings

import foundation

THREADS = 16
DURATION = 20.0  #: seconds the threads log
BURST = 50  #: records a thread logs between two short pauses
PAUSE = 0.002  #: seconds: keeps the file to tens of MB, not GB
FAIL_EVERY = 500  #: every FAIL_EVERY-th call to the sink's write() starts a run of failures
FAILURE_RUNS = (1, 3, 12)  #: how many calls in a row fail, in turn: none lost, a few, most of a batch
BATCH_SIZE = 50  #: small batches: enough write() calls for a few dozen failures
FORK_AT = 0.25  #: fraction of DURATION at which the child is forked
RECONFIGURE_AT = (0.4, 0.7)  #: fractions of DURATION at which configure() is called again
CHILD_RECORDS = 20_000  #: records the forked child logs
SIGTERM_RECORDS = 10_000  #: records the SIGTERM children log before signalling themselves
WAIT = 30.0  #: seconds: bounds a wait that only runs out when the library is broken
WATCHDOG = 110.0  #: seconds: past this the soak dumps every thread's stack and fails

#: Payloads cycled through by seq: plain, and ones that must be escaped to stay on one line.
PAYLOADS = ("plain", "two words", "line\nbreak", "tab\there", "esc\x1b[31m", "nul\x00",
            "sep\u2028x", "bidi\u202eevil", 'quote" and \\', "é ü 🔑")


class SoakFailure(Exception):
    """A check of the soak failed; the message says which."""


class CannotRun(Exception):
    """The soak cannot run here (a missing option or platform feature)."""


def check(condition, message):
    if not condition:
        raise SoakFailure(message)


# ---------------------------------------------------------------------------
# The failing sink
# ---------------------------------------------------------------------------

class FlakySink:
    """A stream whose ``write()`` raises OSError now and then, and otherwise appends to a file.

    Every ``fail_every``-th call starts a run of failing calls, as long as the next
    of ``runs`` says, in turn. Other calls append the text to ``path`` with one
    ``os.write()`` on an O_APPEND descriptor: no buffer a forked child could write a
    second time, and the parent's and the child's writes never interleave within a
    line. Thread-safe: during a reconfiguration the old handler's drain and the new
    handler's writer may write at the same time.
    """

    def __init__(self, path, fail_every, runs):
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.fail_every = fail_every
        self.runs = runs
        self.calls = self.failed_calls = self.episodes = 0
        self._failing = 0  # calls left to fail in the current run
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._after_fork_in_child)

    def _after_fork_in_child(self):
        self._lock = threading.Lock()  # another thread may have held it at the fork

    def write(self, text):
        with self._lock:
            self.calls += 1
            if self.calls % self.fail_every == 0:
                self._failing = self.runs[self.episodes % len(self.runs)]
                self.episodes += 1
            if self._failing:
                self._failing -= 1
                self.failed_calls += 1
                raise OSError(errno.EIO, "injected write failure (soak)")
            data = memoryview(text.encode("utf-8"))
            while data:
                data = data[os.write(self.fd, data):]

    def flush(self):
        pass

    def close(self):
        os.close(self.fd)


# ---------------------------------------------------------------------------
# Part 1: threads, fork, reconfiguration, a failing sink
# ---------------------------------------------------------------------------

def configure(sink):
    """``configure()`` for the soak; return the Handler it installed.

    Raises CannotRun when configure() does not know ``flush_on_signals``.
    """
    try:
        foundation.configure(stream=sink, format="json", batch_size=BATCH_SIZE, flush_on_signals=True)
    except (TypeError, ValueError) as exc:
        if "flush_on_signals" in str(exc):
            raise CannotRun(f"configure() rejects flush_on_signals=True: {exc}") from exc
        raise
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, foundation.Handler)]
    check(len(handlers) == 1, f"after configure(), the root logger has {len(handlers)} foundation handlers")
    return handlers[0]


def worker(name, stop, logged, errors):
    """Log numbered records until ``stop`` is set; put the count in ``logged[name]``."""
    log = foundation.get_logger("soak")
    seq = 0
    try:
        while not stop.is_set():
            for _ in range(BURST):
                log.info("soak_record", thread=name, seq=seq, payload=PAYLOADS[seq % len(PAYLOADS)])
                seq += 1
            stop.wait(PAUSE)
    except BaseException:  # a log call must never raise: report it as a failure
        errors.append(f"thread {name} raised at seq={seq}:\n{traceback.format_exc()}")
    finally:
        logged[name] = seq


def fork_child(sink):
    """Fork a child that logs CHILD_RECORDS records, flushes and ``os._exit()``s.

    Returns ``(pid, fd)``; the child writes its report, JSON, to ``fd``: how many
    records it logged, the change of its ``stats()`` and of the sink's counts.
    """
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # 3.12+ warns that fork() in a threaded process may deadlock the child: the
        # library promises it does not, and that is what is tested here.
        warnings.filterwarnings("ignore", message=r".*fork\(\) may lead to deadlocks", category=DeprecationWarning)
        pid = os.fork()
    if pid:
        os.close(write_end)
        return pid, read_end
    os.close(read_end)
    status = 1
    try:
        before, calls_before, failed_before = foundation.stats(), sink.calls, sink.failed_calls
        log = foundation.get_logger("soak")
        for seq in range(CHILD_RECORDS):
            log.info("soak_record", thread="child", seq=seq, payload=PAYLOADS[seq % len(PAYLOADS)])
        flushed = foundation.flush(WAIT)
        after = foundation.stats()
        report = {"logged": CHILD_RECORDS, "flushed": flushed,
                  "stats": {key: after[key] - before[key] for key in ("emitted", "written", "dropped")},
                  "calls": sink.calls - calls_before, "failed_calls": sink.failed_calls - failed_before}
        os.write(write_end, json.dumps(report).encode())
        status = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(status)


def wait_child(pid, fd):
    """The forked child's report, once it has exited with status 0."""
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    deadline = time.monotonic() + WAIT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise SoakFailure(f"the forked child did not exit within {WAIT:g} s (deadlocked?)")
        time.sleep(0.05)
    code = os.waitstatus_to_exitcode(status)
    check(code == 0, f"the forked child exited with {code} (its traceback is above)")
    report = json.loads(b"".join(chunks))
    check(report["flushed"], "flush() in the forked child did not finish")
    return report


def reject_constant(token):
    """NaN and Infinity tokens are not strict JSON."""
    raise ValueError(f"non-strict JSON token {token}")


#: One decoder for every line (json.loads with an option builds a new one per call).
STRICT_JSON = json.JSONDecoder(parse_constant=reject_constant)


def bad_line(number, line, problem):
    return SoakFailure(f"line {number} {problem}: {line[:300]!r}")


def read_log(path, logged):
    """Read the soak's file: the set of (thread, seq) written, and the logs_dropped counts.

    Checks that every line is valid UTF-8 and strict JSON, is a numbered record
    (logged, with the right payload, written once) or a logs_dropped report.
    """
    with open(path, "rb") as file:
        data = file.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SoakFailure(f"the file is not valid UTF-8: {exc}") from None
    check(text.endswith("\n"), f"the file does not end with a newline: {text[-200:]!r}")
    written, reports = set(), []
    for number, line in enumerate(text.split("\n")[:-1], 1):
        try:
            record = STRICT_JSON.decode(line)
        except Exception as exc:
            raise bad_line(number, line, f"is not strict JSON ({exc})") from None
        if record.get("logger") == "foundation" and record.get("event") == "logs_dropped":
            reports.append(record["count"])
            continue
        if record.get("logger") != "soak" or record.get("event") != "soak_record":
            raise bad_line(number, line, "is not a soak record")
        key = thread, seq = record["thread"], record["seq"]
        if key in written:
            raise bad_line(number, line, f"repeats thread={thread} seq={seq}")
        if not 0 <= seq < logged.get(thread, 0):
            raise bad_line(number, line, "was never logged")
        if record["payload"] != PAYLOADS[seq % len(PAYLOADS)]:
            raise bad_line(number, line, "has a payload other than the one logged")
        written.add(key)
    return written, reports


def soak(workdir):
    """Part 1; returns the summary lines."""
    path = os.path.join(workdir, "soak.log")
    sink = FlakySink(path, FAIL_EVERY, FAILURE_RUNS)
    handlers = [configure(sink)]
    stats_before_reconfigure = []
    stop, logged, errors = threading.Event(), {}, []
    threads = [threading.Thread(target=worker, args=(f"t{n}", stop, logged, errors), name=f"soak-{n}")
               for n in range(THREADS)]
    start = time.monotonic()
    for thread in threads:
        thread.start()

    def sleep_until(fraction):
        time.sleep(max(0.0, start + fraction * DURATION - time.monotonic()))

    sleep_until(FORK_AT)
    child = fork_child(sink)
    for fraction in RECONFIGURE_AT:
        sleep_until(fraction)
        stats_before_reconfigure.append(foundation.stats())
        handlers.append(configure(sink))
    sleep_until(1.0)
    stop.set()
    for thread in threads:
        thread.join(WAIT)
        check(not thread.is_alive(), f"{thread.name} did not stop within {WAIT:g} s")
    elapsed = time.monotonic() - start
    check(not errors, "a log call raised:\n" + "\n".join(errors))
    report = wait_child(*child)
    check(foundation.flush(WAIT), f"flush() did not finish within {WAIT:g} s")
    foundation.shutdown()
    sink.close()

    # configure() resets stats(): each configuration's counts are read from its own
    # Handler (the old ones after configure() drained them). stats() taken just before
    # a configure() would miss what that Handler dropped while configure() drained it.
    counts = [h.counters() for h in handlers]
    for number, (count, before) in enumerate(zip(counts, stats_before_reconfigure), 1):
        check(count["dropped"] >= before["dropped"] and count["written"] >= before["written"],
              f"configuration {number}: its counters went back after stats() read {before}: {count}")
    for number, count in enumerate(counts, 1):
        check(count["written"] + count["dropped"] == count["emitted"],
              f"configuration {number}: written + dropped != emitted after the drain: {count}")
    child_stats = report["stats"]
    check(child_stats["written"] + child_stats["dropped"] == child_stats["emitted"],
          f"forked child: written + dropped != emitted after flush(): {child_stats}")

    logged["child"] = report["logged"]
    written, reports = read_log(path, logged)
    total_logged = sum(logged.values())
    dropped = sum(count["dropped"] for count in counts) + child_stats["dropped"]
    calls = sink.calls + report["calls"]
    failed_calls = sink.failed_calls + report["failed_calls"]
    check(len(written) + dropped == total_logged,
          f"lines written ({len(written):,}) + dropped ({dropped:,}) != records logged ({total_logged:,}): "
          f"{total_logged - len(written) - dropped:+,} records unaccounted for "
          f"(counts per configuration: {counts}; forked child: {report})")
    check(sum(reports) == dropped,
          f"logs_dropped reports add up to {sum(reports):,} ({len(reports)} reports), but {dropped:,} "
          f"records were dropped (per configuration: {[count['dropped'] for count in counts]}, "
          f"forked child: {child_stats['dropped']})")
    check(dropped > 0, f"nothing was dropped ({failed_calls} of {calls:,} writes failed): the soak did not test losses")
    return [
        f"soak: {THREADS} threads and 1 forked child logged {total_logged:,} records in {elapsed:.1f} s, "
        f"through {len(handlers)} configurations",
        f"soak: {len(written):,} lines written + {dropped:,} dropped = {total_logged:,} logged; "
        f"{failed_calls} of {calls:,} writes failed; {len(reports)} logs_dropped reports",
    ]


# ---------------------------------------------------------------------------
# Part 2: SIGTERM with flush_on_signals
# ---------------------------------------------------------------------------

#: argv: the log file, the number of records, "default" or "previous" (a SIGTERM handler of its own).
SIGTERM_CHILD = """
    import os, signal, sys, time
    import foundation

    path, count, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    def previous(signum, frame):
        with open(path, "rb") as file:
            print(file.read().count(b"\\n"), flush=True)  # the lines written when it runs
        os._exit(7)

    if kind == "previous":
        signal.signal(signal.SIGTERM, previous)
    # Twice, as a program that reconfigures: the second handler must not chain to the first.
    foundation.configure(file=path, format="json", flush_on_signals=True)
    foundation.configure(file=path, format="json", flush_on_signals=True)
    log = foundation.get_logger("sigterm")
    for seq in range(count):
        log.info("sigterm_record", seq=seq)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)  # reached only if the process survives the signal
    print("the process survived SIGTERM", file=sys.stderr)
    sys.exit(3)
"""


def sigterm_child(workdir, kind):
    """Run the SIGTERM child of ``kind``; return its CompletedProcess and the seq numbers in its file."""
    path = os.path.join(workdir, f"sigterm-{kind}.log")
    repository = os.path.dirname(os.path.abspath(foundation.__file__))  # the foundation.py imported here
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FOUNDATION_LOG_", "PROVIDE_LOG_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repository, env.get("PYTHONPATH")]))
    command = [sys.executable, "-c", textwrap.dedent(SIGTERM_CHILD), path, str(SIGTERM_RECORDS), kind]
    try:
        result = subprocess.run(command, cwd=repository, env=env, capture_output=True, text=True, timeout=WAIT)
    except subprocess.TimeoutExpired as exc:
        raise SoakFailure(f"SIGTERM ({kind}): the child did not finish within {WAIT:g} s; "
                          f"stderr: {exc.stderr!r}") from None
    seqs = []
    if os.path.exists(path):
        with open(path, "rb") as file:
            for number, line in enumerate(file.read().decode("utf-8", "backslashreplace").splitlines(), 1):
                try:
                    seqs.append(STRICT_JSON.decode(line)["seq"])
                except Exception as exc:
                    raise bad_line(number, line, f"of the SIGTERM ({kind}) child's file is not a record ({exc})")
    return result, seqs


def check_all_written(seqs, what, result):
    check(sorted(seqs) == list(range(SIGTERM_RECORDS)),
          f"{what}: {len(set(seqs)):,} distinct records of {SIGTERM_RECORDS:,} in the file "
          f"({len(seqs):,} lines); stderr: {result.stderr.strip()!r}")


def sigterm(workdir):
    """Part 2; returns the summary lines."""
    result, seqs = sigterm_child(workdir, "default")
    check(result.returncode == -signal.SIGTERM,
          f"SIGTERM: the child's return code is {result.returncode}, not {-signal.SIGTERM} "
          f"(killed by SIGTERM, as without the library); stderr: {result.stderr.strip()!r}")
    check_all_written(seqs, "SIGTERM", result)

    result, seqs = sigterm_child(workdir, "previous")
    check(result.returncode == 7,
          f"SIGTERM, previous handler: the child's return code is {result.returncode}, not 7 "
          f"(its own handler's os._exit(7)); stderr: {result.stderr.strip()!r}")
    check(result.stdout.strip() == str(SIGTERM_RECORDS),
          f"SIGTERM, previous handler: it ran with {result.stdout.strip() or 'no'} lines written, "
          f"not {SIGTERM_RECORDS:,}")
    check_all_written(seqs, "SIGTERM, previous handler", result)
    return [f"sigterm: {SIGTERM_RECORDS:,} of {SIGTERM_RECORDS:,} records written before the default "
            f"action (return code {-signal.SIGTERM}), and before a previous handler"]


# ---------------------------------------------------------------------------

def main():
    faulthandler.dump_traceback_later(WATCHDOG, exit=True)  # a hang fails the run (exit status 1)
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="foundation-soak-")
    try:
        if not hasattr(os, "fork"):
            raise CannotRun("the soak needs os.fork() (POSIX)")
        summary = soak(workdir) + sigterm(workdir)
    except CannotRun as exc:
        print(f"soak: cannot run: {exc}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
        return 2
    except SoakFailure as exc:
        print(f"soak: FAILED: {exc}\nsoak: the files are kept in {workdir}", file=sys.stderr)
        return 1
    finally:
        faulthandler.cancel_dump_traceback_later()
    shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(summary))
    print(f"soak: OK in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
