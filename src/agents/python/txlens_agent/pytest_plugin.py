"""pytest plugin (the `pytest11` entry point of the txlens_agent dist-info beside this package): test boundaries.

Emits test_start before a test's setup and test_end after its teardown, and
exports the running test's id as TXLENS_PARENT_TEST so processes the test
starts name it in their trace header. It only observes: every hook body is
guarded, so an agent failure stops capture and never changes an outcome.
"""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

import os

import pytest

from . import _runtime as rt

_PARENT_ENV = "TXLENS_PARENT_TEST"
_MISSING = object()

# nodeid -> [outcome, message] accumulated from the phase reports.
_results = {}


def _ensure_started():
    # sitecustomize normally started capture already; this covers interpreters
    # that skipped it (python -S, another sitecustomize shadowing ours).
    if os.environ.get("TXLENS_TRACE_DIR") and not rt._started:
        if rt.start():
            try:
                from . import _hooks

                _hooks.install()
            except Exception as exc:
                rt.fail(exc)


_ensure_started()


def _test_location(item):
    path = getattr(item, "path", None)
    if path is None:
        path = getattr(item, "fspath", None)
    file = os.path.abspath(str(path)) if path is not None else None
    line = None
    location = getattr(item, "location", None)
    if location and isinstance(location[1], int):
        line = location[1] + 1
        if file is not None:
            line = _def_line(file, line)
    return file, line


def _def_line(file, line):
    # pytest locates a decorated test at its first decorator; the editor wants the def.
    import linecache

    text = linecache.getline(file, line).lstrip()
    if not text.startswith("@"):
        return line
    for candidate in range(line + 1, line + 50):
        text = linecache.getline(file, candidate).lstrip()
        if not text:
            continue
        if text.startswith(("def ", "async def ")):
            return candidate
    return line


@rt.guarded
def _start(item):
    rt.fault_point("test_start")
    file, line = _test_location(item)
    event = {"k": "test_start", "id": item.nodeid, "name": item.name, "file": file or ""}
    if line is not None:
        event["line"] = line
    _results[item.nodeid] = ["passed", None]
    rt.emit(event, frame=False)


def _first_line(text):
    for line in str(text).splitlines():
        line = line.strip()
        if line:
            return line[:500]
    return None


def _message(report):
    longrepr = report.longrepr
    if longrepr is None:
        return None
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        # skips: (file, line, reason)
        return _first_line(longrepr[2])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return _first_line(crash.message)
    return _first_line(longrepr)


@rt.guarded
def _record(report):
    result = _results.get(report.nodeid)
    if result is None:
        return
    when = report.when
    if report.failed:
        outcome = "failed" if when == "call" else "error"
        # The first failure explains the test; a teardown error after a failed
        # call does not replace it.
        if result[0] not in ("failed", "error"):
            result[0] = outcome
            result[1] = _message(report)
    elif report.skipped:
        if result[0] == "passed":
            result[0] = "skipped"
            result[1] = _message(report)


@rt.guarded
def _end(item):
    outcome, message = _results.pop(item.nodeid, ["passed", None])
    event = {"k": "test_end", "id": item.nodeid, "outcome": outcome}
    # Assertion messages quote values: under TXLENS_PARAMS off/types only the error's name is kept.
    if outcome in ("failed", "error"):
        message = rt.failure_text(message)
    if message and outcome != "passed":
        event["message"] = message
    rt.emit(event, frame=False)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    active = rt.ACTIVE
    previous = _MISSING
    if active:
        _start(item)
        previous = os.environ.get(_PARENT_ENV, _MISSING)
        try:
            os.environ[_PARENT_ENV] = item.nodeid
        except Exception as exc:
            rt.fail(exc)
    # The protocol raising (Ctrl-C's KeyboardInterrupt, pytest.exit) means the
    # test never finished: it gets no test_end, so no report calls it passed.
    interrupted = True
    try:
        result = yield
        interrupted = getattr(result, "excinfo", None) is not None
    finally:
        if active:
            try:
                if previous is _MISSING:
                    os.environ.pop(_PARENT_ENV, None)
                else:
                    os.environ[_PARENT_ENV] = previous
            except Exception:
                pass
            if interrupted:
                _results.pop(item.nodeid, None)
            else:
                _end(item)
            rt.flush()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report):
    if rt.ACTIVE:
        _record(report)
