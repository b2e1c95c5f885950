"""What every DB-API driver hook shares: the traced call of a statement, the ends of a
transaction, traced classes and connection registration.

A driver module says only what differs: how to read its connection's
transaction state (`_txl_in_tx`, `_txl_failed`, `_txl_closed` on its connection
mixin), where its methods keep the SQL and the parameters, and how its connect
function is wrapped. Every statement goes through `traced_call` (or its twin
for coroutines); the ends of a transaction are with-blocks (`TransactionEnd`,
`Closing`, `ErrorCause`) around the driver's own call, so a sync method and an
async one (`await` inside the block) share every line of their bookkeeping.
"""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

import sys
import weakref

from .. import _runtime as _rt

_getframe = sys._getframe


# ---------------------------------------------------------------------------
# Who is connecting


def created_by_orm():
    """True when the connect being wrapped was asked for by SQLAlchemy (or aiosqlite's worker thread).

    Connects are rare, so walking the whole stack is affordable. The whole stack,
    not just the caller: `create_engine(creator=lambda: sqlite3.connect(...))`
    calls us from user code, with SQLAlchemy's pool further up.
    """
    if _rt.take_connect_claim():
        return True
    f = _getframe(2)
    while f is not None:
        name = f.f_globals.get("__name__")
        if name and (name == "sqlalchemy" or name.startswith("sqlalchemy.") or name.startswith("aiosqlite")):
            return True
        f = f.f_back
    return False


# ---------------------------------------------------------------------------
# Traced classes

_subclasses = {}


def traced_subclass(base, mixin, slots=None, metaclass=type):
    """`base` with `mixin`'s methods in front, same name and module, built once per base.

    `slots=()` keeps the instance layout identical to `base`, which cursor and
    transaction classes need: their instances are re-classed after creation.
    """
    key = (base, mixin)
    cls = _subclasses.get(key)
    if cls is None:
        namespace = {"__module__": base.__module__, "__qualname__": getattr(base, "__qualname__", base.__name__)}
        if slots is not None:
            namespace["__slots__"] = slots
        cls = _rt.mark_as_agent(metaclass(base.__name__, (mixin, base), namespace))
        _subclasses[key] = cls
    return cls


def is_traced_class(cls):
    """A class the agent built (or a subclass of one, which inherits its tracing)."""
    return _rt.is_agent_wrapper(cls)


def traced_class_for(factory, driver_class, mixin, **options):
    """The traced subclass to instantiate in place of `factory`, or None when it is not a `driver_class`."""
    if not isinstance(factory, type) or not issubclass(factory, driver_class):
        return None
    if is_traced_class(factory):
        return factory
    return traced_subclass(factory, mixin, **options)


def reclass(obj, mixin):
    """Make an object the driver just built (a cursor, a transaction) an instance of its traced subclass."""
    cls = type(obj)
    if not is_traced_class(cls):
        try:
            obj.__class__ = traced_subclass(cls, mixin, slots=())
        except TypeError:
            pass
    return obj


# ---------------------------------------------------------------------------
# SQL text


def keyword(sql):
    """First SQL keyword, upper case, skipping whitespace and comments ('' when unknown)."""
    if not isinstance(sql, str):
        return ""
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace() or c == "(":
            i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            break
    j = i
    while j < n and (sql[j].isalpha() or sql[j] == "_"):
        j += 1
    return sql[i:j].upper()


# Statements that can name a savepoint start with one of these (after optional blanks).
_SAVEPOINT_FIRST_CHARS = frozenset("SsRr \t\r\n")
_BEGIN_WORDS = frozenset(("BEGIN", "START", "SAVEPOINT"))
_COMMIT_WORDS = frozenset(("COMMIT", "END", "RELEASE"))


def sql_text(query, context=None):
    """The statement text as the code wrote it (placeholders, not interpolated values)."""
    if isinstance(query, str):
        return query
    if isinstance(query, (bytes, bytearray, memoryview)):
        return bytes(query).decode("utf-8", "replace")
    as_string = getattr(query, "as_string", None)
    if as_string is not None:
        try:
            return as_string(context) if context is not None else as_string()
        except Exception:
            pass
    return str(query)


# The keyword arguments of a call that has none (never changed: a call unpacks a copy).
NO_KEYWORDS = {}


def arg(args, kwargs, index, name):
    """A call's argument by position, else by keyword (None when absent)."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


# ---------------------------------------------------------------------------
# Statements


def traced_call(method, args, kwargs, conn, cid, *, in_tx, sql, params=None, many=False, cursor=None, rows_of=None, cause=None, commit_by_default=False, _now=_rt.CLOCKS[0]):
    """Run `method(*args, **kwargs)`, a driver call that runs one statement, and record it.

    Before the call it reads whether a transaction is open (`in_tx(conn)`, the
    driver's local state); after it, it records the statement with its
    duration, its error or its row count (the `cursor`'s rowcount, or
    `rows_of(result)`), and the begin, commit or rollback the call caused.

    `sql` and `params` are the statement and parameters as the code passed them.
    `many`: `params` is executemany's sequence of parameter sets. `cause`: what a
    rollback this statement makes is due to, when the connection knows better
    than "error" or "explicit". `commit_by_default`: leaving a transaction
    without COMMIT or ROLLBACK in the SQL is a commit (sqlite3's executescript
    commits first).

    `traced_call_async` is its twin for coroutine methods. The two stay apart,
    and this is a function rather than a with-block object, for the statement
    path's sake: building an object with keyword arguments costs more than the
    rest of the recording.
    """
    was_in_tx = in_tx(conn)
    start = _now()
    try:
        result = method(*args, **kwargs)
    except Exception as exc:
        _record_statement(conn, cid, in_tx, sql, start, was_in_tx, exc=exc, params=params, many=many, cause=cause)
        raise
    rows = None
    if cursor is not None:
        try:
            rows = cursor.rowcount
        except Exception:
            pass
    elif rows_of is not None:
        rows = rows_of(result)
    _record_statement(conn, cid, in_tx, sql, start, was_in_tx, rows=rows, params=params, many=many, cause=cause, commit_by_default=commit_by_default)
    return result


async def traced_call_async(method, args, kwargs, conn, cid, *, in_tx, sql, params=None, many=False, cursor=None, rows_of=None, cause=None, commit_by_default=False, _now=_rt.CLOCKS[0]):
    """traced_call for a coroutine method: the same, with the call awaited."""
    was_in_tx = in_tx(conn)
    start = _now()
    try:
        result = await method(*args, **kwargs)
    except Exception as exc:
        _record_statement(conn, cid, in_tx, sql, start, was_in_tx, exc=exc, params=params, many=many, cause=cause)
        raise
    rows = None
    if cursor is not None:
        try:
            rows = cursor.rowcount
        except Exception:
            pass
    elif rows_of is not None:
        rows = rows_of(result)
    _record_statement(conn, cid, in_tx, sql, start, was_in_tx, rows=rows, params=params, many=many, cause=cause, commit_by_default=commit_by_default)
    return result


def _record_statement(conn, cid, in_tx, sql, start, was_in_tx, exc=None, rows=None, params=None, many=False, cause=None, commit_by_default=False, _now=_rt.CLOCKS[0]):
    """One statement finished: emit begin (if it opened a transaction), stmt, then commit/rollback (if it ended one)."""
    dur = _now() - start
    # Guarded by hand: @guarded would pack the keywords into a dict on every statement.
    if not _rt.ACTIVE:
        return
    try:
        _rt.fault_point("dbapi.stmt")
        now_in_tx = in_tx(conn)
        if not isinstance(sql, str):
            sql = sql_text(sql, conn)
        if now_in_tx and not was_in_tx:
            _rt.tx_begin(cid, implicit=keyword(sql) not in _BEGIN_WORDS)
        event = {"k": "stmt", "conn": cid, "sql": _rt.recorded_sql(sql), "dur": dur}
        tx = _rt.tx_current(cid)
        if tx is not None:
            event["tx"] = tx
        if params is not None:
            # Of executemany's parameter sets only a list or tuple is looked at: a one-shot iterator is the driver's.
            if many and isinstance(params, (list, tuple)):
                event["many"] = len(params)
            if not many or "many" in event:
                shown = _rt.params_repr(params)
                if shown is not None:
                    event["params"] = shown
        if exc is not None:
            event["err"] = _rt.error_of(exc)
        elif rows is not None and rows >= 0:
            event["rows"] = rows
        # The user frame is searched from the driver method that called traced_call:
        # this function and traced_call are ours, and every frame looked at costs.
        _rt.emit(event, 3)
        if was_in_tx and not now_in_tx:
            _end_transaction(cid, sql, exc, cause, commit_by_default)
        elif now_in_tx and was_in_tx and exc is None and sql[:1] in _SAVEPOINT_FIRST_CHARS:
            _savepoint_in_sql(cid, sql)
    except Exception as internal:
        _rt.fail(internal)


def _end_transaction(cid, sql, exc, cause, commit_by_default):
    """The driver left its transaction during a statement: decide commit or rollback from what ran."""
    if exc is not None:
        _rt.tx_rollback(cid, cause or "error")
        return
    word = keyword(sql)
    if word == "ROLLBACK" or word == "ABORT":
        _rt.tx_rollback(cid, cause or "explicit")
    elif word in _COMMIT_WORDS or commit_by_default:
        _rt.tx_commit(cid)
    else:
        _rt.tx_rollback(cid, cause or "error")


def _savepoint_in_sql(cid, sql):
    """SAVEPOINT / RELEASE / ROLLBACK TO inside an open transaction (names only, no state change)."""
    word = keyword(sql)
    if word == "SAVEPOINT":
        action = "begin"
        rest = sql.lstrip()[len("SAVEPOINT"):]
    elif word == "RELEASE":
        action = "release"
        rest = sql.lstrip()[len("RELEASE"):]
        if keyword(rest) == "SAVEPOINT":
            rest = rest.lstrip()[len("SAVEPOINT"):]
    elif word == "ROLLBACK":
        rest = sql.lstrip()[len("ROLLBACK"):]
        if keyword(rest) == "WORK" or keyword(rest) == "TRANSACTION":
            rest = rest.lstrip()[len(keyword(rest)):]
        if keyword(rest) != "TO":
            return
        action = "rollback"
        rest = rest.lstrip()[2:]
        if keyword(rest) == "SAVEPOINT":
            rest = rest.lstrip()[len("SAVEPOINT"):]
    else:
        return
    name = rest.strip().rstrip(";").strip().strip('"')
    if name:
        savepoint_event(cid, action, name)


def savepoint_event(cid, action, name):
    """Emit a savepoint event ('begin', 'release' or 'rollback') in the connection's open transaction."""
    event = {"k": "savepoint", "conn": cid, "action": action, "name": name}
    tx = _rt.tx_current(cid)
    if tx is not None:
        event["tx"] = tx
    _rt.emit(event)


# ---------------------------------------------------------------------------
# Transaction ends and closing


@_rt.guarded
def settle(cid, now_in_tx, ended, cause=None):
    """After commit()/rollback()/close()/a with-block: line our transaction record up with the driver's state.

    `ended` is 'commit' or 'rollback' for what the call did to an open transaction.
    A driver that opens the next transaction right away (sqlite3 autocommit=False)
    reports `now_in_tx` True: that is a new, implicit transaction.
    """
    _rt.fault_point("dbapi.tx")
    if _rt.tx_current(cid) is not None:
        if ended == "commit":
            _rt.tx_commit(cid)
        elif ended == "rollback":
            _rt.tx_rollback(cid, cause or "explicit")
    if now_in_tx and _rt.tx_current(cid) is None:
        _rt.tx_begin(cid, implicit=True)


class TransactionEnd(object):
    """The driver's commit() or rollback() (`ending`), as a with-block around the call."""

    __slots__ = ("conn", "cid", "ended", "cause")

    def __init__(self, conn, cid, ending):
        self.conn = conn
        self.cid = cid
        if ending == "commit":
            # COMMIT of a failed transaction is a ROLLBACK on the server.
            self.ended = "rollback" if conn._txl_failed() else "commit"
            self.cause = "error"
        else:
            self.ended = "rollback"
            self.cause = conn._txl_cause

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        now_in_tx = self.conn._txl_in_tx()
        if exc_type is None:
            settle(self.cid, now_in_tx, self.ended, self.cause)
        elif not now_in_tx:
            # The call failed, and the transaction is gone all the same.
            settle(self.cid, False, "rollback", self.cause)


class Closing(object):
    """The driver's close(), as a with-block around the call: a transaction still open is rolled back."""

    __slots__ = ("conn", "cid", "was_in_tx")

    def __init__(self, conn, cid):
        self.conn = conn
        self.cid = cid

    def __enter__(self):
        self.was_in_tx = self.conn._txl_in_tx()
        return self

    def __exit__(self, exc_type, exc, tb):
        conn = self.conn
        if conn._txl_closed(exc_type is not None):
            conn._txl_cid = None
            if _rt.ACTIVE:
                _closed(conn, self.cid, self.was_in_tx)


@_rt.guarded
def _closed(conn, cid, was_in_tx):
    _rt.fault_point("dbapi.close")
    if was_in_tx or _rt.tx_current(cid) is not None:
        _rt.tx_rollback(cid, "close")
    _rt.emit({"k": "close", "conn": cid})
    _rt.forget_conn(conn)


class ErrorCause(object):
    """Around a driver's `__exit__` that handles an exception: the rollback it makes is the error's."""

    __slots__ = ("conn",)

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn._txl_cause = "error"
        return self

    def __exit__(self, exc_type, exc, tb):
        self.conn._txl_cause = None


class ConnectionState(object):
    """The fields and state probes of a traced connection; driver mixins override the probes."""

    __slots__ = ()
    _txl_cid = None
    _txl_cause = None

    def _txl_in_tx(self):
        """Whether the driver has a transaction open, from its local state (never a query)."""
        raise NotImplementedError

    def _txl_failed(self):
        """Whether the open transaction has failed (a COMMIT of it is a rollback)."""
        return False

    def _txl_closed(self, raised):
        """Whether close() closed the connection (`raised`: it raised)."""
        return not raised


class TracedConnection(ConnectionState):
    """commit, rollback, close and the with-block of a traced sync connection."""

    __slots__ = ()

    def commit(self):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return super().commit()
        with TransactionEnd(self, cid, "commit"):
            return super().commit()

    def rollback(self):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return super().rollback()
        with TransactionEnd(self, cid, "rollback"):
            return super().rollback()

    def close(self):
        cid = self._txl_cid
        if cid is None:
            return super().close()
        with Closing(self, cid):
            return super().close()

    def __exit__(self, exc_type, exc, tb):
        # The driver's __exit__ calls self.commit()/self.rollback(); only the cause needs saying.
        if self._txl_cid is None or exc_type is None:
            return super().__exit__(exc_type, exc, tb)
        with ErrorCause(self):
            return super().__exit__(exc_type, exc, tb)


class AsyncTracedConnection(ConnectionState):
    """TracedConnection for a connection whose commit, rollback, close and with-block are coroutines."""

    __slots__ = ()

    async def commit(self):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return await super().commit()
        with TransactionEnd(self, cid, "commit"):
            return await super().commit()

    async def rollback(self):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return await super().rollback()
        with TransactionEnd(self, cid, "rollback"):
            return await super().rollback()

    async def close(self):
        cid = self._txl_cid
        if cid is None:
            return await super().close()
        with Closing(self, cid):
            return await super().close()

    async def __aexit__(self, exc_type, exc, tb):
        if self._txl_cid is None or exc_type is None:
            return await super().__aexit__(exc_type, exc, tb)
        with ErrorCause(self):
            return await super().__aexit__(exc_type, exc, tb)


# ---------------------------------------------------------------------------
# Registration


def register(conn, driver, db):
    """Register a traced connection the driver just opened: its connect event, and its transaction if one is open."""
    _rt.fault_point("dbapi.connect")
    cid = _rt.register_conn(conn, {"db": db, "driver": driver})
    if cid is None:
        return None
    conn._txl_cid = cid
    _watch_collection(conn, cid)
    if conn._txl_in_tx():
        _rt.tx_begin(cid, implicit=True)
    return cid


def _watch_collection(conn, cid):
    try:
        finalizer = weakref.finalize(conn, _on_collected, cid)
        # At exit the core reports open transactions as 'exit'; this is for real collection only.
        finalizer.atexit = False
    except TypeError:
        pass


def _on_collected(cid):
    """The connection object was garbage collected while we still thought it open."""
    try:
        if not _rt.ACTIVE:
            return
        state = _rt.conn_state(cid)
        if state is None:
            return
        if state.tx is not None:
            tx, state.tx = state.tx, None
            _rt.emit({"k": "rollback", "conn": cid, "tx": tx, "cause": "gc"}, frame=False)
        _rt.emit({"k": "close", "conn": cid}, frame=False)
    except Exception as exc:
        _rt.fail(exc)
