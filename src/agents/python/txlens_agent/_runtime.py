"""Core of the txlens Python agent: the trace writer and the state every hook shares.

Everything here runs inside the user's process, often inside every statement
of their tests, so the hot path (`emit`, `user_frame`) avoids allocation and
formatting it does not need, and nothing here may ever raise into user code:
hooks are wrapped with `guarded`, which turns any internal error into one
stderr line and stops capture for this process.

Hooks read `_runtime.ACTIVE` through the module (not `from _runtime import
ACTIVE`) because `fail` turns it off at run time.
"""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

import _thread
import atexit
import contextvars
import functools
import itertools
import json
import os
import re as _re
import sys
import sysconfig
import threading
import time
import weakref

AGENT = "txlens-python/0.1.0"
FORMAT_VERSION = 1

ACTIVE = False
"""Capture is on in this process (trace dir set, started, no internal failure yet)."""

# The clocks are held in a tuple and bound as default arguments, never as a module attribute:
# freezegun's start() walks sys.modules and swaps every module attribute that is the real
# time.monotonic_ns (or time.time) for its fake, which answers the frozen date in epoch
# nanoseconds, and every event a frozen test stamped landed decades after its test.
CLOCKS = (time.monotonic_ns, time.time)
T0 = CLOCKS[0]()
PID = os.getpid()
TRACE_DIR = os.environ.get("TXLENS_TRACE_DIR") or None
FAULT = os.environ.get("TXLENS_FAULT_INJECT") or None
PARAMS_MODE = (os.environ.get("TXLENS_PARAMS") or "values").strip().lower()
if PARAMS_MODE not in ("off", "types", "values"):
    PARAMS_MODE = "values"

# Bound once: a test that patches or counts os.write (or os.close) sees only its own calls.
_os_write = os.write
_os_close = os.close
_get_ident = threading.get_ident
_getframe = sys._getframe
_started = False
_failed = False


# ---------------------------------------------------------------------------
# Clock and ids


_counters = {}
_counters_lock = threading.Lock()


def next_id(prefix):
    """Next per-process id for `prefix`: 'c1', 'c2' (connections), 's1' (sessions), 't1' (transactions)..."""
    counter = _counters.get(prefix)
    if counter is None:
        with _counters_lock:
            counter = _counters.setdefault(prefix, itertools.count(1))
    # next() on itertools.count is atomic under the GIL, so threads never share an id.
    return prefix + str(next(counter))


# ---------------------------------------------------------------------------
# User frames


def _real(path):
    try:
        return os.path.realpath(path)
    except Exception:
        return path


def _excluded_roots():
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            p = sysconfig.get_paths().get(key)
        except Exception:
            p = None
        if p:
            roots.add(_real(p))
    for p in (sys.base_prefix, sys.base_exec_prefix):
        if p:
            roots.add(_real(os.path.join(p, "lib")))
            roots.add(_real(os.path.join(p, "lib64")))
    roots.add(_real(os.path.dirname(os.path.abspath(__file__))))
    return tuple(r.rstrip(os.sep) + os.sep for r in roots if r)


_WORKSPACE = _real(os.environ.get("TXLENS_WORKSPACE") or os.getcwd()).rstrip(os.sep) + os.sep
_EXCLUDED = _excluded_roots()
# filename -> absolute path when it is user code, False when it is not.
_file_verdict = {}
# The filenames whose verdict is False: the frame search steps over a library frame
# (tens of SQLAlchemy's per ORM statement) with one set membership test, which costs
# less than the verdict dict's .get and the tests of its result.
_not_user_files = set()


def _classify(filename):
    verdict = False
    if filename and filename[0] != "<":
        absolute = os.path.abspath(filename)
        real = _real(absolute)
        candidates = (absolute, real)
        in_workspace = any(c.startswith(_WORKSPACE) for c in candidates)
        if in_workspace:
            third_party = any(
                ("site-packages" in c.split(os.sep) or "dist-packages" in c.split(os.sep)) for c in candidates
            )
            # A workspace may itself contain the stdlib or the agent (a checkout of
            # txlens, a vendored interpreter): those frames are still not the user's.
            foreign = any(c.startswith(root) for c in candidates for root in _EXCLUDED if not _WORKSPACE.startswith(root))
            if not third_party and not foreign:
                verdict = absolute
    _file_verdict[filename] = verdict
    if verdict is False:
        _not_user_files.add(filename)
    return verdict


def is_user_file(filename):
    """True when code from `filename` is the project's own (inside the workspace, not third-party)."""
    verdict = _file_verdict.get(filename)
    if verdict is None:
        verdict = _classify(filename)
    return bool(verdict)


# (id(code), f_lasti) -> (line, code). Python works a frame's line out from its code's
# line table on every f_lineno, which costs more than the rest of a frame search in a
# long test function; a suite asks for the same few thousand places again and again.
# The entry holds its code object, so the id cannot be reused while the entry exists.
_lines = {}
_LINES_CACHE = 4096
_id = id


def _first_user_frame(f):
    skip = _not_user_files
    verdicts = _file_verdict
    while f is not None:
        while f.f_code.co_filename in skip:
            f = f.f_back
            if f is None:
                return None
        code = f.f_code
        path = verdicts.get(code.co_filename)
        if path is None:
            path = _classify(code.co_filename)
        if path:
            key = (_id(code), f.f_lasti)
            known = _lines.get(key)
            if known is None:
                if len(_lines) >= _LINES_CACHE:
                    _lines.clear()
                known = _lines[key] = (f.f_lineno, code)
            return [path, known[0], code.co_name]
        f = f.f_back
    return None


frame_override = contextvars.ContextVar("txlens_frame_override", default=None)
"""A hook that knows the user line better than the stack does (work moved to another
asyncio task) sets this for the extent of that work; user_frame() then returns it."""


def user_frame(depth=1):
    """[abs_file, line, function] of the innermost caller frame in user code, or None."""
    override = frame_override.get()
    if override is not None:
        return override
    found = _first_user_frame(_getframe(depth))
    if found is None:
        found = _user_frame_in_parent_greenlets()
    return found


def _user_frame_in_parent_greenlets():
    # SQLAlchemy's asyncio layer runs sync code in a child greenlet whose
    # stack ends at the greenlet's start; the awaiting user coroutine is
    # on the stack of the parent greenlet, suspended where it switched.
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return None
    found = None
    try:
        g = greenlet.getcurrent().parent
        while found is None and g is not None:
            found = _first_user_frame(g.gr_frame)
            g = g.parent
    except Exception:
        return None
    return found


# ---------------------------------------------------------------------------
# Writer

_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False, default=repr).encode


class _EscapedStrings(dict):
    """JSON string literals by text: a suite sends the same few hundred SQL texts, file
    paths and ids again and again, and escaping them is a quarter of what encoding an
    event costs. A hit is one C dict lookup; long texts (a bulk INSERT of literals)
    are seldom sent twice and are not kept; the cache never outgrows its bound."""

    __slots__ = ()

    def __missing__(self, text):
        quoted = json.encoder.encode_basestring_ascii(text)
        # Only plain str is kept: a subclass may compare equal to another text.
        if type(text) is str and len(text) <= _ESCAPED_CHARS:
            if len(self) >= _ESCAPED_ENTRIES:
                self.clear()
            self[text] = quoted
        return quoted


_ESCAPED_CHARS = 2048
_ESCAPED_ENTRIES = 2048

try:
    # The C encoder json.JSONEncoder.encode builds on every call, built once:
    # the same output without the per-event set-up. It escapes every string
    # (keys too) through the cache above.
    from _json import make_encoder as _make_encoder

    _encode_chunks = _make_encoder(None, repr, _EscapedStrings().__getitem__, None, ":", ",", False, False, True)

    def _encode_line(event):
        return "".join(_encode_chunks(event, 0))

    if _encode_line({"k": "x", "v": [1, 2.5, None, True, "\u00e9"]}) != _encode({"k": "x", "v": [1, 2.5, None, True, "\u00e9"]}):
        _encode_line = _encode
except Exception:
    _encode_line = _encode

_lock = _thread.allocate_lock()
# Events are buffered as dicts and turned into JSON lines when flushed, mostly
# by the flusher thread, so encoding runs while the code under test waits on
# its database instead of in line with every statement. An event is never
# changed after emit(): every field holds a fresh or immutable value.
#
# Flush policy (what a process can lose, and why nothing can hang):
# - The agent installs no signal handler. A SIGTERM kills the process as it
#   would untraced; what it loses is bounded: the flusher writes every 50 ms,
#   emit() writes once 2048 events wait, and in processes that usually end
#   without atexit (forked children, multiprocessing workers, which a pool
#   ends with SIGTERM) every commit and rollback is written at once.
# - emit() only tries the lock, and leaves the events to whoever holds it.
#   The flushes that must land (exit, a transaction's end in an eager
#   process) wait for it, but never when their own thread holds it (a signal
#   handler or a garbage-collector callback that interrupted a flush), and
#   never longer than _EXIT_LOCK_SECONDS: a flush can never wait on the frame
#   it interrupted, and no wait is unbounded.
# - The flusher is a bare _thread thread, which threading does not list: a
#   test that counts threads (threading.active_count()) sees its own.
_buf = []
_fd = None
_path = None
# Bytes of the trace file that hold whole lines: a write that fails half way is cut back to this.
_size = 0
# The status record beside the trace file (docs/trace-format.md, "Status record"):
# written in full at start, so overwriting it in place needs no new disk block
# and still works on a full disk. It counts the events that could not be written.
_STATUS_SUFFIX = ".status"
_STATUS_BYTES = 256
_status_fd = None
_lost = 0
_lost_error = None
_FLUSH_EVENTS = 2048
_FLUSH_SECONDS = 0.05
_EXIT_LOCK_SECONDS = 2.0
_flusher_generation = 0
_flushing_thread = None
_eager = False
"""Write out at every transaction end: set in processes that usually end without atexit."""


_get_running_loop = None
_current_task = None


def _current_task_id():
    global _get_running_loop, _current_task
    if _get_running_loop is None:
        aio = sys.modules.get("asyncio")
        if aio is None:
            return None
        _get_running_loop = aio.events._get_running_loop
        _current_task = aio.current_task
    loop = _get_running_loop()
    if loop is None:
        return None
    try:
        task = _current_task(loop)
    except Exception:
        return None
    return id(task) if task is not None else None


def emit(event, frame=True, _now=CLOCKS[0]):
    """Stamp `event` (holding 'k' and its fields) with time, pid, thread, task and user frame; buffer it.

    `frame`: False for no user frame; True to look from the caller outwards; a number
    n to start n - 1 frames further out, past agent frames the caller knows are there
    (every frame looked at costs: Python 3.11 builds a frame object for it).
    """
    if not ACTIVE:
        return
    event["t"] = _now() - T0
    event["pid"] = PID
    event["th"] = _get_ident()
    # Outside asyncio (the common case) the task lookup is one C call.
    if _get_running_loop is None or _get_running_loop() is not None:
        task = _current_task_id()
        if task is not None:
            event["task"] = task
    if frame and "at" not in event:
        at = frame_override.get()
        if at is None:
            try:
                start = _getframe(frame)
            except ValueError:
                # Fewer frames than the caller skips (a hook run straight from C, at exit).
                start = None
            at = _first_user_frame(start)
            if at is None:
                at = _user_frame_in_parent_greenlets()
        if at is not None:
            event["at"] = at
    # One list object for the process's life (flush() cuts from its front), so an
    # append racing a flush from the flusher thread is never lost.
    _buf.append(event)
    if len(_buf) >= _FLUSH_EVENTS:
        flush()


def flush(wait=False):
    """Write out everything buffered; never raises, never blocks unless `wait` (seconds, or True).

    Without `wait`, a flush already under way (in another thread, or in the
    frame this call interrupted) is left to write the events: it takes all
    that are buffered when it starts, and the flusher takes the rest.
    """
    global _flushing_thread
    lock = _lock
    if wait is False:
        if not lock.acquire(False):
            return
    else:
        me = _get_ident()
        # The holder may be the very frame this call interrupted (a signal
        # handler or a finalizer that ends a transaction): never wait on it.
        if _flushing_thread == me or not lock.acquire(True, -1 if wait is True else wait):
            return
    try:
        _flushing_thread = _get_ident()
        _write_buffered()
    finally:
        _flushing_thread = None
        lock.release()


def _write_buffered():
    buf = _buf
    if not buf or _fd is None:
        return
    count = len(buf)
    events = buf[:count]
    del buf[:count]
    fd = _fd
    try:
        lines = [_encode_line(e) for e in events]
    except Exception:
        lines = []
        for e in events:
            try:
                lines.append(_encode_line(e))
            except Exception:
                pass
    if len(lines) != count:
        _note_lost(count - len(lines), "an event could not be encoded")
    if not lines:
        return
    data = ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")
    # Written under the lock, so batches from two threads never interleave out of order.
    global _size
    start = _size
    done = 0
    try:
        while done < len(data):
            done += _os_write(fd, data[done:] if done else data)
        _size = start + done
    except OSError as exc:
        # Keep the whole lines that made it, count the rest, cut off a half line.
        whole = data.rfind(b"\n", 0, done) + 1
        _size = start + whole
        if whole < done:
            try:
                os.ftruncate(fd, _size)
            except Exception:
                pass
        _note_lost(data.count(b"\n", whole), "%s: %s" % (_errno_name(exc), exc.strerror or exc))
    except Exception as exc:
        _note_lost(len(lines), str(exc))


def _errno_name(exc):
    import errno

    return errno.errorcode.get(exc.errno, "error") if exc.errno else "error"


def _note_lost(count, error):
    """Count events that never reached the trace file, in the status record (never raises)."""
    global _lost, _lost_error
    _lost += count
    if _lost_error is None:
        _lost_error = error
    if _status_fd is None:
        return
    try:
        record = _encode_line({"lost": _lost, "error": _lost_error})
        if len(record) > _STATUS_BYTES - 1:
            record = _encode_line({"lost": _lost, "error": _lost_error[: _STATUS_BYTES // 2]})
        os.pwrite(_status_fd, (record.ljust(_STATUS_BYTES - 1) + "\n").encode("ascii", "replace"), 0)
    except Exception:
        pass


def _flush_loop(generation):
    sleep = time.sleep
    while generation == _flusher_generation:
        sleep(_FLUSH_SECONDS)
        if _buf and generation == _flusher_generation:
            try:
                flush(True)
            except BaseException:
                return


def _start_flusher():
    global _flusher_generation
    _flusher_generation += 1
    _thread.start_new_thread(_flush_loop, (_flusher_generation,))


def _stop_flusher():
    global _flusher_generation
    _flusher_generation += 1


def _header():
    impl = sys.implementation.name
    runtime = "%s %d.%d.%d" % (
        "CPython" if impl == "cpython" else impl,
        sys.version_info[0],
        sys.version_info[1],
        sys.version_info[2],
    )
    header = {
        "k": "header",
        "v": FORMAT_VERSION,
        "pid": PID,
        "ppid": os.getppid(),
        "t0": str(T0),
        "wall": int(CLOCKS[1]() * 1000 - (CLOCKS[0]() - T0) / 1e6),
        "argv": redact_argv(getattr(sys, "orig_argv", None) or sys.argv or []),
        "cwd": os.getcwd(),
        "lang": "python",
        "runtime": runtime,
        "agent": AGENT,
    }
    if _libs:
        header["libs"] = dict(_libs)
    test = os.environ.get("TXLENS_PARENT_TEST")
    if test:
        header["test"] = test
    return header


_libs = {}


def note_lib(name, version):
    """Remember a hooked library's version; headers written from now on (forked children) list it."""
    _libs[name] = str(version)


def _open_trace_file():
    global _fd, _path, _size, _status_fd, _lost, _lost_error
    os.makedirs(TRACE_DIR, exist_ok=True)
    base = os.path.join(TRACE_DIR, "py-%d-%s" % (PID, os.urandom(3).hex()))
    _path = base + ".ndjson"
    _lost = 0
    _lost_error = None
    _status_fd = None
    try:
        _status_fd = os.open(base + _STATUS_SUFFIX, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        record = (_encode_line({"lost": 0}).ljust(_STATUS_BYTES - 1) + "\n").encode("ascii")
        if _os_write(_status_fd, record) != len(record):
            raise OSError("short write")
    except Exception:
        # Without its status record a process can still be traced; it just cannot report losses.
        if _status_fd is not None:
            try:
                _os_close(_status_fd)
            except Exception:
                pass
        _status_fd = None
    _fd = os.open(_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), 0o644)
    header = (_encode_line(_header()) + "\n").encode("utf-8", "backslashreplace")
    _os_write(_fd, header)
    _size = len(header)


# ---------------------------------------------------------------------------
# Failure handling

# The process's real stderr, kept from startup: test runners redirect fd 2
# while a test runs (pytest's fd capture), and a line about the agent must
# reach the user, not the captured output of whichever test was running.
_stderr_fd = None


def _keep_stderr():
    global _stderr_fd
    try:
        _stderr_fd = os.dup(2)
    except Exception:
        _stderr_fd = None


def _warn(text):
    data = text.encode("utf-8", "backslashreplace")
    if _stderr_fd is not None:
        try:
            _os_write(_stderr_fd, data)
            return
        except Exception:
            pass
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except Exception:
        pass


def fail(exc):
    """Stop capture in this process after an internal error: one stderr line, one agent_error event."""
    global ACTIVE, _failed
    if _failed:
        ACTIVE = False
        return
    _failed = True
    try:
        message = "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    except Exception:
        message = type(exc).__name__
    _warn("txlens: capture stopped in this process: %s\n" % message)
    try:
        emit({"k": "agent_error", "message": message}, frame=False)
        flush(_EXIT_LOCK_SECONDS)
    except Exception:
        pass
    ACTIVE = False


def guarded(fn):
    """Wrap a hook body: it runs only while capture is active, and any exception it raises stops capture."""

    @functools.wraps(fn)
    def hook(*args, **kwargs):
        if not ACTIVE:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            fail(exc)
            return None

    return hook


# The one mark of the agent's own wrappers and traced classes: a hook installed twice
# (a module imported again, a second engine) sees it and leaves the original alone.
_MARK = "__txlens__"


def is_agent_wrapper(obj):
    """True when `obj` (a function, a classmethod's function, a class) is one the agent made."""
    return getattr(obj, _MARK, False) is True


def mark_as_agent(obj):
    setattr(obj, _MARK, True)
    return obj


def dressed(original, wrapper, exact_code=False):
    """`wrapper` looking like `original` to every kind of introspection, marked as the agent's.

    Every function the agent puts in a library's place is made here.
    """
    return mark_as_agent(_same_signature(original, wrapper, exact_code))


def wrap_attribute(owner, name, make, exact_code=False):
    """Put `make(original)`, dressed as the original, in place of `owner.name`, once.

    On a class only the class's own attribute counts (an inherited method is
    wrapped where it is defined); on a module or an instance, whatever
    `owner.name` gives (an instance gets a wrapper of its bound method).
    Does nothing when the attribute is missing or already the agent's.
    """
    original = vars(owner).get(name) if isinstance(owner, type) else getattr(owner, name, None)
    if original is None or is_agent_wrapper(original):
        return
    setattr(owner, name, dressed(original, make(original), exact_code))


def _same_signature(original, wrapper, exact_code=False):
    """`wrapper` (taking *args, **kwargs) dressed as `original`, for every way code can look at it.

    functools.update_wrapper gives the name, doc, module and __wrapped__ that
    inspect.signature follows. Some libraries read a function's code object
    instead (SQLAlchemy's create_engine splits its keyword arguments by the
    parameter names of Engine.__init__'s code), so when `original` is a plain
    Python function and `exact_code` is asked for, the result is a function
    compiled with exactly its parameters and defaults, which passes them on to
    `wrapper` unchanged. That costs a frame per call, so it is for
    constructors, not for hooks on the statement path.
    """
    import inspect
    import types

    result = wrapper
    if exact_code and isinstance(original, types.FunctionType):
        try:
            result = _compiled_like(original, wrapper, inspect.signature(original, follow_wrapped=False))
        except Exception:
            result = wrapper
    functools.update_wrapper(result, original)
    return result


def _compiled_like(original, wrapper, signature):
    import inspect

    params = []
    call = []
    namespace = {"_txlens_impl": wrapper}
    seen_keyword_only = False
    for index, p in enumerate(signature.parameters.values()):
        name = p.name
        text = name
        if p.default is not inspect.Parameter.empty:
            key = "_txlens_default_%d" % index
            namespace[key] = p.default
            text = "%s=%s" % (name, key)
        if p.kind is p.POSITIONAL_ONLY:
            params.append(text)
            call.append(name)
            continue
        if p.kind is p.VAR_POSITIONAL:
            seen_keyword_only = True
            params.append("*" + name)
            call.append("*" + name)
        elif p.kind is p.KEYWORD_ONLY:
            if not seen_keyword_only:
                params.append("*")
                seen_keyword_only = True
            params.append(text)
            call.append("%s=%s" % (name, name))
        elif p.kind is p.VAR_KEYWORD:
            params.append("**" + name)
            call.append("**" + name)
        else:
            params.append(text)
            call.append(name)
    positional_only = [p for p in signature.parameters.values() if p.kind is p.POSITIONAL_ONLY]
    if positional_only:
        params.insert(len(positional_only), "/")
    source = "def %s(%s):\n    return _txlens_impl(%s)\n" % (
        original.__name__ if original.__name__.isidentifier() else "wrapper",
        ", ".join(params),
        ", ".join(call),
    )
    # A file name in angle brackets: never taken for user code by the frame search.
    exec(compile(source, "<txlens-wrapper>", "exec"), namespace)
    result = namespace[original.__name__ if original.__name__.isidentifier() else "wrapper"]
    result.__kwdefaults__ = original.__kwdefaults__
    result.__defaults__ = original.__defaults__
    return result


def fault_point(name):
    """Test-only: raise inside the agent at hook `name` when TXLENS_FAULT_INJECT names it."""
    if FAULT is not None and FAULT == name:
        raise RuntimeError("fault injected at %s" % name)


# ---------------------------------------------------------------------------
# Parameters


_PARAM_LIMIT = 50
_VALUE_CHARS = 200
_plain = (bool, int, float, type(None))
_INF = float("inf")
_NESTED = frozenset((dict, list, tuple))


_NoneType = type(None)
_UNCHANGED = frozenset((int, bool, _NoneType))


def _safe_value(value):
    t = type(value)
    if t in _UNCHANGED:
        return value
    if t is str:
        return value if len(value) <= _VALUE_CHARS else value[:_VALUE_CHARS] + "..."
    if t is float:
        return value if value == value and value not in (_INF, -_INF) else repr(value)
    if isinstance(value, _plain):
        return int(value) if isinstance(value, int) else _safe_value(float(value))
    if isinstance(value, str):
        return _safe_value(str.__str__(value))
    try:
        text = repr(value)
    except Exception:
        text = "<%s>" % t.__name__
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS] + "..."


def _type_name(value):
    return type(value).__name__


def params_repr(params):
    """Statement parameters per TXLENS_PARAMS; None means: leave the field out.

    A mapping stays a mapping, a sequence becomes a list, a sequence of parameter
    sets (executemany) becomes a list of those; at most ~50 values in all.
    """
    if PARAMS_MODE == "off" or not params:
        return None
    values = PARAMS_MODE == "values"
    conv = _safe_value if values else _type_name
    # The common case, one flat parameter set, without the general machinery;
    # values JSON takes as they are (ints, None, short strings) skip the call.
    t = type(params)
    if t is tuple or t is list:
        if len(params) <= _PARAM_LIMIT and type(params[0]) not in _NESTED:
            if values:
                return [
                    v if type(v) in _UNCHANGED or (type(v) is str and len(v) <= _VALUE_CHARS) else _safe_value(v)
                    for v in params
                ]
            return [conv(v) for v in params]
    elif t is dict:
        if len(params) <= _PARAM_LIMIT:
            if values:
                return {
                    (k if type(k) is str else str(k)): (
                        v if type(v) in _UNCHANGED or (type(v) is str and len(v) <= _VALUE_CHARS) else _safe_value(v)
                    )
                    for k, v in params.items()
                }
            return {(k if type(k) is str else str(k)): conv(v) for k, v in params.items()}
    budget = [_PARAM_LIMIT]

    def one_set(p):
        if isinstance(p, dict):
            out = {}
            for k, v in p.items():
                if budget[0] <= 0:
                    out["..."] = "truncated"
                    break
                budget[0] -= 1
                out[str(k)] = conv(v)
            return out
        if isinstance(p, (list, tuple)):
            out = []
            for v in p:
                if budget[0] <= 0:
                    out.append("...")
                    break
                budget[0] -= 1
                out.append(conv(v))
            return out
        budget[0] -= 1
        return conv(p)

    if isinstance(params, (list, tuple)) and params and isinstance(params[0], (dict, list, tuple)):
        sets = []
        for p in params:
            if budget[0] <= 0:
                sets.append("...")
                break
            sets.append(one_set(p))
        return sets
    if isinstance(params, (dict, list, tuple)):
        if not params:
            return None
        return one_set(params)
    return one_set(params)


# ---------------------------------------------------------------------------
# Errors: the one builder of a failed statement's `err`, for every driver and
# every parameter mode.


_ERROR_CHARS = 500
# SQLAlchemy's asyncpg adapter re-raises asyncpg's error as "<class 'asyncpg...X'>: text".
_ADAPTED = _re.compile(r"^<class '([\w.]+)'>:\s*")
# A quoted literal in a database message, and the word before it: after these
# words the quotes hold a name ("constraint \"users_email_key\""), not a value.
_QUOTED = _re.compile(r"(\b\w+\s+)?(\"(?:[^\"]|\"\")*\"|'(?:[^']|'')*')")
_NAME_WORDS = frozenset(
    "relation constraint column table index type schema function database role sequence savepoint"
    " cursor trigger view operator extension collation domain tablespace statement portal".split()
)
_KEY_VALUES = _re.compile(r"^(Key \([^)]*\)=\().*(\)[^()]*)$")


def exception_name(exc_or_type):
    """A Python exception's name as a traceback prints it: sqlite3.IntegrityError, ValueError."""
    t = exc_or_type if isinstance(exc_or_type, type) else type(exc_or_type)
    module = getattr(t, "__module__", None)
    name = getattr(t, "__qualname__", None) or t.__name__
    if not module or module in ("builtins", "__main__"):
        return name
    return "%s.%s" % (module, name)


def _redact_quoted(text):
    def one(m):
        word = m.group(1)
        quoted = m.group(2)
        if word and word.strip().lower() in _NAME_WORDS:
            return m.group(0)
        return (word or "") + quoted[0] + "\u2026" + quoted[0]

    return _QUOTED.sub(one, text)


def _detail_of(exc, text):
    for obj in (getattr(exc, "diag", None), exc):
        for attr in ("message_detail", "detail"):
            detail = getattr(obj, attr, None)
            if isinstance(detail, str) and detail:
                return detail
    for line in text.split("\n")[1:]:
        if line.startswith("DETAIL:"):
            return line[7:].strip()
    return None


def _sqlstate_of(exc):
    for attr in ("pgcode", "sqlstate"):
        code = getattr(exc, attr, None)
        if isinstance(code, str) and code:
            return code
    code = getattr(getattr(exc, "diag", None), "sqlstate", None)
    if isinstance(code, str) and code:
        return code
    return None


def error_of(exc):
    """The err field of a failed statement: Python's name for the error, its first line, SQLSTATE, DETAIL.

    Unless TXLENS_PARAMS is 'values', nothing that quotes a row's values is
    kept: quoted literals in the message that are not names become "…", a
    DETAIL keeps only the key columns of "Key (cols)=(values) ...", any other
    DETAIL is left out.
    """
    text = str(exc)
    adapted = _ADAPTED.match(text)
    cause = exc.__cause__
    if adapted is not None and isinstance(cause, BaseException):
        # The driver's own error, as the user would see it raised by the driver.
        exc, text = cause, str(cause)
    message = text.split("\n", 1)[0].strip()
    detail = _detail_of(exc, text)
    if PARAMS_MODE != "values":
        message = _redact_quoted(message)
        if detail is not None:
            keyed = _KEY_VALUES.match(detail)
            detail = keyed.group(1) + "\u2026" + keyed.group(2) if keyed else None
    if len(message) > _ERROR_CHARS:
        message = message[:_ERROR_CHARS] + "..."
    err = {"type": exception_name(exc), "message": message}
    code = _sqlstate_of(exc)
    if code:
        err["code"] = code
    if detail:
        err["detail"] = detail[:_ERROR_CHARS]
    return err


def failure_text(text):
    """A test's failure message for test_end: whole in 'values' mode, else only the error's name."""
    if text is None or PARAMS_MODE == "values":
        return text
    name = _re.match(r"^([A-Za-z_][\w.]*)(?::|$)", text)
    return name.group(1) if name else None


# ---------------------------------------------------------------------------
# SQL text outside 'values' mode: the literals an app writes into its SQL
# (`WHERE email = 'alice@x'`, `id = 42`) are row values like any parameter.

MASKED = "\u2026"
"""What stands for a value that was not recorded: a literal in `sql`, a key of `identity_hit`."""

# One pass over the SQL: the alternatives are tried left to right at each
# position, so names, quoted identifiers, comments and placeholders are stepped
# over whole (the 1 of `param_1`, `%(id_1)s`, `$1`, `:1` is no literal) before
# a string, a dollar-quoted body or a number can match.
_SQL_PIECES = _re.compile(
    r"""
    (?P<dollar> \$(?P<tag>[A-Za-z_]\w*)?\$ .*? (?:\$(?P=tag)\$|\Z) )
  | (?P<estring> [eE]'(?:[^'\\]|\\.|'')*(?:'|\Z) )
  | (?:"(?:[^"]|"")*"? | `[^`]*`? | --[^\n]* | /\*.*?(?:\*/|\Z) | %\(\w+\)s | [:$@]\w+ | [A-Za-z_][\w$]* )
  | (?P<string> '(?:[^']|'')*(?:'|\Z) )
  | (?P<number> 0[xX][0-9A-Fa-f]+ | (?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)? )
    """,
    _re.S | _re.X,
)
_LITERAL_HINT = _re.compile(r"['\d$]")
_masked_sql = {}
_MASKED_SQL_CACHE = 2000
_MASKED_SQL_CHARS = 4096


def _mask_piece(m):
    # Only the literal alternatives are named groups; the others keep their text.
    return MASKED if m.lastgroup else m.group(0)


def mask_literals(sql):
    """`sql` with each string, dollar-quoted and numeric literal replaced by MASKED.

    Names, quoted identifiers, comments and parameter placeholders are kept, so
    the statement's verb, tables and placeholders read as before; a masked
    literal is no value a reader can take for a row key.
    """
    # Suites repeat a few hundred SQL texts: a repeat costs one dict lookup.
    masked = _masked_sql.get(sql)
    if masked is None:
        masked = _SQL_PIECES.sub(_mask_piece, sql) if _LITERAL_HINT.search(sql) else sql
        # A long text (a bulk INSERT of literals) is seldom sent twice: not kept.
        if len(sql) <= _MASKED_SQL_CHARS:
            if len(_masked_sql) >= _MASKED_SQL_CACHE:
                _masked_sql.clear()
            _masked_sql[sql] = masked
    return masked


def recorded_sql(sql):
    """A statement's `sql` field: as sent in 'values' mode, else without its literal values."""
    if PARAMS_MODE == "values" or type(sql) is not str:
        return sql
    return mask_literals(sql)


_SECRET_IN_URL = _re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_SECRET_KEY_VALUE = _re.compile(r"(?i)\b((?:password|passwd|pwd|secret|token)\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s;&,]*)")
_SECRET_OPTIONS = frozenset(("--password", "--passwd", "--pwd", "--secret", "--token"))


def redact_argv(argv):
    """A command line without passwords: URL userinfo passwords, password=... pairs, --password VALUE."""
    out = []
    hide_next = False
    for arg in argv:
        arg = str(arg)
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        if arg.lower() in _SECRET_OPTIONS:
            hide_next = True
        arg = _SECRET_IN_URL.sub(r"\1***@", arg)
        arg = _SECRET_KEY_VALUE.sub(r"\1***", arg)
        out.append(arg)
    return out


# ---------------------------------------------------------------------------
# Connection registry and transaction state, shared by the SQLAlchemy and DB-API hooks.


class _Conn(object):
    __slots__ = ("cid", "tx", "sess", "__weakref__")

    def __init__(self, cid):
        self.cid = cid
        self.tx = None
        self.sess = None


# id(connection) -> (state, weak reference or None). Connections that accept
# weak references are checked against theirs (an id can be reused once an
# object is gone) and dropped when collected; others (sqlite3) are dropped on
# close. Never a strong reference: it would keep a connection the user dropped
# alive and so change when it closes.
_conns = {}
# cid -> _Conn, for connections whose transaction state we track.
_by_cid = {}
_registry_lock = threading.RLock()


def _lookup(dbapi_conn):
    entry = _conns.get(id(dbapi_conn))
    if entry is None:
        return None
    ref = entry[1]
    if ref is not None and ref() is not dbapi_conn:
        return None
    return entry[0]


def _drop_collected(key, ref):
    entry = _conns.get(key)
    if entry is not None and entry[1] is ref:
        _conns.pop(key, None)


def _store(dbapi_conn, state):
    key = id(dbapi_conn)
    try:
        ref = weakref.ref(dbapi_conn, lambda r, key=key: _drop_collected(key, r))
    except TypeError:
        ref = None
    _conns[key] = (state, ref)


def conn_id(dbapi_conn):
    """The id ('c1') under which `dbapi_conn` was registered, or None."""
    state = _lookup(dbapi_conn)
    return state.cid if state is not None else None


def state_of(dbapi_conn):
    """Tracking state of a registered connection (.cid, .tx, .sess), or None."""
    return _lookup(dbapi_conn)


def register_conn(dbapi_conn, connect_event_fields, aliases=()):
    """Register a new physical connection, emit its 'connect' event and return its id.

    `connect_event_fields` holds the ConnectEvent fields besides 'k' and 'conn'
    (db, driver, pool, engine, engineAt, at...). `aliases` are other objects that
    stand for the same connection (a driver connection under an adapter), so a
    lookup through any of them finds it.
    """
    with _registry_lock:
        state = _lookup(dbapi_conn)
        if state is not None:
            return state.cid
        state = _Conn(next_id("c"))
        _store(dbapi_conn, state)
        for alias in aliases:
            if alias is not None and alias is not dbapi_conn:
                _store(alias, state)
        _by_cid[state.cid] = state
    event = {"k": "connect", "conn": state.cid}
    event.update(connect_event_fields)
    emit(event)
    return state.cid


def forget_conn(dbapi_conn, *aliases):
    """Drop a closed connection from the registry (its open transaction, if any, is dropped too)."""
    with _registry_lock:
        state = _lookup(dbapi_conn)
        for obj in (dbapi_conn,) + aliases:
            if obj is not None and _lookup(obj) is state:
                _conns.pop(id(obj), None)
        if state is not None:
            _by_cid.pop(state.cid, None)


def conn_state(cid):
    """Internal state object of connection `cid` (has .tx, .sess), or None."""
    return _by_cid.get(cid)


def tx_begin(cid, implicit=False, **fields):
    """Open a transaction on `cid` and emit 'begin'; returns its id (the open one if already open)."""
    state = _by_cid.get(cid)
    if state is None:
        return None
    if state.tx is not None:
        return state.tx
    txid = next_id("t")
    state.tx = txid
    event = {"k": "begin", "conn": cid, "tx": txid}
    if implicit:
        event["implicit"] = True
    event.update(fields)
    # The search for the user frame starts past this function and the agent hook that called it.
    emit(event, 3)
    return txid


def tx_current(cid):
    """Id of the transaction open on `cid`, or None."""
    state = _by_cid.get(cid)
    return state.tx if state is not None else None


def tx_commit(cid, **fields):
    """Emit 'commit' for the open transaction of `cid`; returns whether one was open."""
    state = _by_cid.get(cid)
    if state is None or state.tx is None:
        return False
    event = {"k": "commit", "conn": cid, "tx": state.tx}
    state.tx = None
    event.update(fields)
    # The search for the user frame starts past this function and the agent hook that called it.
    emit(event, 3)
    if _eager:
        # Waits for a flusher thread that is writing, so the transaction's end is on disk on return.
        flush(_EXIT_LOCK_SECONDS)
    return True


def tx_rollback(cid, cause, **fields):
    """Emit 'rollback' with `cause` for the open transaction of `cid`; returns whether one was open."""
    state = _by_cid.get(cid)
    if state is None or state.tx is None:
        return False
    event = {"k": "rollback", "conn": cid, "tx": state.tx, "cause": cause}
    state.tx = None
    event.update(fields)
    # The search for the user frame starts past this function and the agent hook that called it.
    emit(event, 3)
    if _eager:
        # Waits for a flusher thread that is writing, so the transaction's end is on disk on return.
        flush(_EXIT_LOCK_SECONDS)
    return True


def open_transactions():
    """(cid, txid) of every connection with a transaction open."""
    return [(s.cid, s.tx) for s in list(_by_cid.values()) if s.tx is not None]


# SQLAlchemy announces (per thread and asyncio task) that the next DB-API
# connect is its own, so DB-API hooks underneath it can stay out of the way.
_claims = threading.local()


def claim_next_connect():
    _claims.task = _current_task_id()
    _claims.claimed = True


def take_connect_claim():
    """Called by DB-API connect hooks: True when SQLAlchemy is making this connection (in this thread and task)."""
    if not getattr(_claims, "claimed", False):
        return False
    _claims.claimed = False
    return _claims.task == _current_task_id()


def release_connect_claim():
    _claims.claimed = False


# ---------------------------------------------------------------------------
# Post-import hooks: run a callback the moment a module has finished executing,
# before the importing statement gets it back.

_import_callbacks = {}
_import_lock = threading.RLock()


def _run_import_callbacks(name, module):
    with _import_lock:
        callbacks = _import_callbacks.pop(name, [])
    for cb in callbacks:
        if not ACTIVE:
            return
        try:
            cb(module)
        except Exception as exc:
            fail(exc)


class _PostImportFinder(object):
    """A meta path finder that only wraps other finders' loaders for modules we watch."""

    def __init__(self):
        self._busy = threading.local()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _import_callbacks:
            return None
        if getattr(self._busy, "names", None) is None:
            self._busy.names = set()
        if fullname in self._busy.names:
            return None
        self._busy.names.add(fullname)
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self:
                    continue
                find = getattr(finder, "find_spec", None)
                if find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy.names.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):
            try:
                original(module)
            finally:
                try:
                    if loader.__dict__.get("exec_module") is exec_module:
                        del loader.exec_module
                except Exception:
                    pass
            _run_import_callbacks(fullname, module)

        try:
            # Patch the instance, so the module's __loader__ stays the real loader object.
            loader.exec_module = exec_module
        except Exception:
            return spec
        return spec


_finder = None


def register_import_hook(module_name, callback):
    """Call `callback(module)` once `module_name` is imported (now, if it already is). Errors stop capture."""
    if not ACTIVE:
        return
    module = sys.modules.get(module_name)
    if module is not None:
        try:
            callback(module)
        except Exception as exc:
            fail(exc)
        return
    with _import_lock:
        _import_callbacks.setdefault(module_name, []).append(callback)
    _install_finder()


def _install_finder():
    global _finder
    if _finder is None:
        _finder = _PostImportFinder()
        sys.meta_path.insert(0, _finder)


# ---------------------------------------------------------------------------
# Lifecycle

def _final():
    _stop_flusher()
    if not ACTIVE:
        flush(_EXIT_LOCK_SECONDS)
        return
    try:
        for cid, _tx in open_transactions():
            tx_rollback(cid, "exit")
    except Exception:
        pass
    # Waits (bounded) for a flusher thread that is writing; a holder that
    # never lets go costs the last events, never the process's exit.
    flush(_EXIT_LOCK_SECONDS)


def _flush_at_thread_shutdown():
    flush(_EXIT_LOCK_SECONDS)


def _after_fork_in_child():
    global PID, _buf, _fd, _status_fd, _lock, _registry_lock, _counters_lock, _conns, _by_cid, _eager
    if not _started:
        return
    # A forked child usually ends with os._exit (multiprocessing, or by hand),
    # which skips atexit: its transactions are written as they end.
    _eager = True
    _lock = _thread.allocate_lock()
    _registry_lock = threading.RLock()
    _counters_lock = threading.Lock()
    _buf = []
    for inherited in (_fd, _status_fd):
        if inherited is not None:
            try:
                _os_close(inherited)
            except Exception:
                pass
    _fd = None
    _status_fd = None
    PID = os.getpid()
    # The parent's connections and transactions are the parent's story; a child
    # that uses an inherited connection is seen by the hooks as a new one.
    _conns = {}
    _by_cid = {}
    if not ACTIVE:
        return
    try:
        _open_trace_file()
        _start_flusher()
    except Exception as exc:
        fail(exc)


def start():
    """Start capture in this process (idempotent). Does nothing unless TXLENS_TRACE_DIR is set."""
    global ACTIVE, _started, _eager
    if _started or not TRACE_DIR:
        return ACTIVE
    _started = True
    try:
        _open_trace_file()
    except Exception as exc:
        if isinstance(exc, OSError):
            _note_lost(0, "%s: %s" % (_errno_name(exc), exc.strerror or exc))
        try:
            sys.stderr.write("txlens: capture disabled in this process: cannot write trace (%s)\n" % exc)
        except Exception:
            pass
        return False
    ACTIVE = True
    # A spawned multiprocessing worker: a pool ends it with SIGTERM.
    _eager = "--multiprocessing-fork" in (getattr(sys, "orig_argv", None) or sys.argv or [])
    _keep_stderr()
    try:
        _start_flusher()
        atexit.register(_final)
        # Forked children (multiprocessing) leave through os._exit and skip
        # atexit, but they do run threading's shutdown hooks.
        register_thread_exit = getattr(threading, "_register_atexit", None)
        if register_thread_exit is not None:
            register_thread_exit(_flush_at_thread_shutdown)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
    except Exception as exc:
        fail(exc)
    return ACTIVE
