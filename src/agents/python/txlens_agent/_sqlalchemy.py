"""SQLAlchemy 1.4 / 2.0 capture: engines, pools, connections and sessions, sync and async.

Hooks go on the classes (Engine, Connection, Pool, Session) the moment
SQLAlchemy is imported, before user code can make an engine.

Pool and Session events are listened to. Connection-level facts are taken by
wrapping the methods SQLAlchemy's own ConnectionEvents fire in, because any
ConnectionEvents listener slows every statement of every engine (see _hook_core):
- statements: the dialect's do_execute / do_executemany / do_execute_no_params,
  wrapped per dialect instance when an Engine is made;
- begin / commit / rollback / savepoints: Connection._begin_impl, _commit_impl,
  _rollback_impl, _savepoint_impl, _rollback_to_savepoint_impl, _release_savepoint_impl;
- Engine.__init__: the user line that created the engine (engineAt), for every
  way of making one (create_engine, create_async_engine, plugins);
- rollback / close / __exit__ methods: they set the *intent* (explicit,
  session-close, close, error) that the next rollback reports as its cause;
  the rollback itself cannot tell why it happened;
- Session.__init__ / close: session_open / session_close;
- Session._get_impl (behind Session.get and Query.get): identity-map hits run no SQL,
  so nothing else sees them.
Intents live in a ContextVar so concurrent asyncio tasks (whose SQLAlchemy
greenlets share the task's context) never see each other's.
"""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

import contextvars
import os
import sys
import threading
import weakref

from . import _change_sites
from . import _runtime as rt

emit = rt.emit
guarded = rt.guarded
_params_repr = rt.params_repr
# In 'values' mode a statement's SQL is recorded as sent (rt.recorded_sql): no call per statement.
_SQL_AS_SENT = rt.PARAMS_MODE == "values"

_DRIVER_NAMES = {"pysqlite": "sqlite3"}

# engine -> (engine id, user frame where it was created); dialects are shared by
# an engine and the pools it recreates, so they map to the same entry.
_engines = weakref.WeakKeyDictionary()
_dialects = weakref.WeakKeyDictionary()
_pools = weakref.WeakKeyDictionary()
_sessions = weakref.WeakKeyDictionary()
# session id -> set of connection ids its current transaction spans.
_session_conns = {}

_intent = contextvars.ContextVar("txlens_rollback_intent", default=None)
_binding_session = contextvars.ContextVar("txlens_binding_session", default=None)
_async_session_init = contextvars.ContextVar("txlens_async_session_init", default=False)
_local = threading.local()
_NO_CONNECTIONS = frozenset()
# An argument the caller left out (None is a value SQLAlchemy passes).
_NOT_GIVEN = object()


# Where a hook's event starts looking for the user's frame: past the hook body and
# the `guarded` wrapper around it, which are the agent's (every frame looked at costs).
_PAST_HOOK = 3

# ---------------------------------------------------------------------------
# Helpers


def _pool_of(record):
    return getattr(record, "_ConnectionRecord__pool", None)


def _pool_id(pool):
    if pool is None:
        return None
    pid = _pools.get(pool)
    if pid is None:
        pid = _pools[pool] = rt.next_id("p")
    return pid


def _dbapi_of_record(record, fallback=None):
    conn = getattr(record, "dbapi_connection", None)
    if conn is None:
        conn = getattr(record, "connection", None)
    return conn if conn is not None else fallback


def _driver_conn(dbapi_conn):
    """The driver's own connection under an async adapter (asyncpg, aiosqlite, psycopg async)."""
    inner = getattr(dbapi_conn, "driver_connection", None)
    if inner is None:
        inner = getattr(dbapi_conn, "_connection", None)
    return inner


def _db_info(dialect, url):
    system = getattr(dialect, "name", None) or "unknown"
    db = {"system": system}
    if url is None:
        return db
    database = url.database
    try:
        db["url"] = url.render_as_string(hide_password=True)
    except Exception:
        db["url"] = repr(url)
    if system == "sqlite":
        query = dict(url.query or {})
        # With uri=true, 'file::memory:' (and an empty URI path) is a memory database, not a file named ':memory:'.
        uri_path = database[5:].split("?", 1)[0] if database and database.startswith("file:") else None
        if (
            not database
            or database == ":memory:"
            or "mode=memory" in database
            or query.get("mode") == "memory"
            or uri_path in (":memory:", "")
        ):
            db["memory"] = True
            db["name"] = database or ":memory:"
        else:
            db["name"] = database
            path = database[5:].split("?", 1)[0] if database.startswith("file:") else database
            db["file"] = os.path.abspath(path)
    else:
        if database:
            db["name"] = database
        if url.host:
            db["host"] = url.host
        if url.port:
            db["port"] = url.port
    return db


def _engine_entry(pool):
    dialect = getattr(pool, "_dialect", None)
    return _dialects.get(dialect) if dialect is not None else None


def _register(dbapi_conn, pool):
    entry = _engine_entry(pool)
    fields = {}
    if entry is not None:
        eid, at, dialect, url = entry
        fields["db"] = _db_info(dialect, url)
        fields["driver"] = _DRIVER_NAMES.get(dialect.driver, dialect.driver)
        fields["engine"] = eid
        if at is not None:
            fields["engineAt"] = at
    else:
        dialect = getattr(pool, "_dialect", None)
        fields["db"] = {"system": getattr(dialect, "name", None) or "unknown"}
        driver = getattr(dialect, "driver", None) or "unknown"
        fields["driver"] = _DRIVER_NAMES.get(driver, driver)
    pid = _pool_id(pool)
    if pid is not None:
        fields["pool"] = pid
    rt.release_connect_claim()
    return rt.register_conn(dbapi_conn, fields, aliases=(_driver_conn(dbapi_conn),))


def _cid_of_connection(conn):
    """Connection id of an engine-level Connection's physical connection, registering it on first sight."""
    fairy = conn._dbapi_connection
    dbapi_conn = fairy.dbapi_connection
    cid = rt.conn_id(dbapi_conn)
    if cid is None:
        record = getattr(fairy, "_connection_record", None)
        cid = _register(dbapi_conn, _pool_of(record) if record is not None else None)
    return cid


def _probe_one(conn):
    probe = getattr(conn, "in_transaction", None)  # sqlite3, aiosqlite
    if probe is not None and not callable(probe):
        return bool(probe)
    probe = getattr(conn, "get_transaction_status", None)  # psycopg2
    if probe is not None:
        return probe() != 0  # TRANSACTION_STATUS_IDLE
    probe = getattr(conn, "is_in_transaction", None)  # asyncpg
    if probe is not None:
        return bool(probe())
    status = getattr(getattr(conn, "info", None), "transaction_status", None)  # psycopg 3
    if status is not None and not callable(status):
        return int(status) != 0  # pq.TransactionStatus.IDLE
    return None


def _driver_in_transaction(dbapi_conn):
    """The driver's local idea of whether a transaction is open (never a query); None when unknown."""
    found = _probe_one(dbapi_conn)
    if found is None:
        inner = _driver_conn(dbapi_conn)
        if inner is not None and inner is not dbapi_conn:
            found = _probe_one(inner)
    return found


def _rollback_cause():
    cause = _intent.get()
    if cause is not None:
        return cause
    if sys.exc_info()[0] is not None:
        return "error"
    return "explicit"


def _called_from_user_code():
    return rt.is_user_file(sys._getframe(2).f_code.co_filename)


def _with_intent(method, cause, user_calls_only=False):
    """Wrap `method` so rollbacks inside it report `cause`, unless an outer call already set one.

    With `user_calls_only`, only calls made directly by user code count: the
    same rollback() called by SQLAlchemy while handling a failure is an error
    rollback, not an explicit one.
    """

    def wrapper(*args, **kwargs):
        if _intent.get() is not None or not rt.ACTIVE or (user_calls_only and not _called_from_user_code()):
            return method(*args, **kwargs)
        token = _intent.set(cause)
        try:
            return method(*args, **kwargs)
        finally:
            _intent.reset(token)

    return wrapper


def _exit_with_intent(method, cause_without_error):
    def __exit__(self, type_, value, traceback):
        if _intent.get() is not None or not rt.ACTIVE:
            return method(self, type_, value, traceback)
        cause = "error" if type_ is not None else cause_without_error
        if cause is None:
            return method(self, type_, value, traceback)
        token = _intent.set(cause)
        try:
            return method(self, type_, value, traceback)
        finally:
            _intent.reset(token)

    return __exit__


def _wrap(cls, name, make):
    # Constructors also keep their parameters in code, which is what SQLAlchemy
    # reads to sort create_engine's keyword arguments (Engine.__init__).
    rt.wrap_attribute(cls, name, make, exact_code=(name == "__init__"))


# ---------------------------------------------------------------------------
# Engine creation


def _wrap_engine_init(Engine):
    def make(original):
        def __init__(self, pool, dialect, url, *args, **kwargs):
            original(self, pool, dialect, url, *args, **kwargs)
            _record_engine(self, pool, dialect, url)

        return __init__

    _wrap(Engine, "__init__", make)


@guarded
def _record_engine(engine, pool, dialect, url):
    entry = (rt.next_id("e"), rt.user_frame(3), dialect, url)
    _wrap_dialect(dialect)
    _engines[engine] = entry
    _dialects[dialect] = entry
    _pool_id(pool)


# ---------------------------------------------------------------------------
# Pool events


@guarded
def _on_pool_connect(dbapi_conn, record):
    _register(dbapi_conn, _pool_of(record))


@guarded
def _on_checkout(dbapi_conn, record, proxy):
    pool = _pool_of(record)
    cid = rt.conn_id(dbapi_conn)
    if cid is None:
        cid = _register(dbapi_conn, pool)
    emit({"k": "checkout", "conn": cid, "pool": _pool_id(pool)}, _PAST_HOOK)


def _in_gc_finalizer():
    # The pool's finalizer runs with `ref` set when the connection was garbage
    # collected rather than closed; only checked at reset, which is rare enough.
    f = sys._getframe(2)
    depth = 0
    while f is not None and depth < 12:
        if f.f_code.co_name == "_finalize_fairy":
            return f.f_locals.get("ref") is not None
        f = f.f_back
        depth += 1
    return False


@guarded
def _on_reset(first, record, reset_state=None):
    dbapi_conn = _dbapi_of_record(record, first)
    cid = rt.conn_id(dbapi_conn)
    if cid is None:
        return
    pool = _pool_of(record)
    already_reset = bool(getattr(reset_state, "transaction_was_reset", False))
    tracked = rt.tx_current(cid) is not None
    open_now = tracked
    if not tracked and not already_reset:
        # Work done on a raw DB-API connection (engine.raw_connection()) never
        # passes through engine events; the driver knows without a query.
        try:
            open_now = bool(_driver_in_transaction(dbapi_conn))
        except Exception:
            open_now = False
    if already_reset and tracked:
        # SQLAlchemy rolled back already and told the pool; we missed its event.
        open_now = True
    reset_mode = getattr(pool, "_reset_on_return", None)
    mode_name = str(getattr(reset_mode, "name", reset_mode) or "")
    if "none" in mode_name:
        # pool_reset_on_return=None: nothing is rolled back, the transaction travels with the
        # connection into the pool (checkin reports txOpen). Work done on the raw DB-API
        # connection left no begin of ours, so open one now to stand for it.
        if open_now and not tracked:
            rt.tx_begin(cid, True)
        return
    commits = "commit" in mode_name
    terminate_only = bool(getattr(reset_state, "terminate_only", False))
    gc = _in_gc_finalizer()
    state = rt.conn_state(cid)
    sess = state.sess if state is not None else None
    extra = {"sess": sess} if sess else {}
    if commits and open_now and not terminate_only:
        event = {"k": "reset", "conn": cid, "rolledBack": False}
        emit(event, not gc and _PAST_HOOK)
        if not rt.tx_commit(cid, **extra):
            emit(dict({"k": "commit", "conn": cid}, **extra), not gc and _PAST_HOOK)
        return
    event = {"k": "reset", "conn": cid, "rolledBack": open_now}
    emit(event, not gc and _PAST_HOOK)
    if open_now:
        cause = "gc" if gc else "pool-reset"
        if not rt.tx_rollback(cid, cause, **extra):
            emit(dict({"k": "rollback", "conn": cid, "cause": cause}, **extra), not gc and _PAST_HOOK)


@guarded
def _on_checkin(dbapi_conn, record):
    if dbapi_conn is None:
        return
    cid = rt.conn_id(dbapi_conn)
    if cid is None:
        return
    event = {"k": "checkin", "conn": cid, "pool": _pool_id(_pool_of(record))}
    if rt.tx_current(cid) is not None:
        event["txOpen"] = True
    emit(event, _PAST_HOOK)
    state = rt.conn_state(cid)
    if state is not None:
        state.sess = None


@guarded
def _on_close(dbapi_conn, record):
    cid = rt.conn_id(dbapi_conn)
    if cid is None:
        return
    rt.tx_rollback(cid, "close")
    emit({"k": "close", "conn": cid})
    rt.forget_conn(dbapi_conn, _driver_conn(dbapi_conn))


@guarded
def _on_close_detached(dbapi_conn):
    _on_close.__wrapped__(dbapi_conn, None)


# ---------------------------------------------------------------------------
# Connection events


def _sess_of(cid):
    state = rt.conn_state(cid)
    return state.sess if state is not None else None


def _isolation_of(conn):
    """The isolation level SQLAlchemy runs this transaction at, from its settings alone (never a query).

    Per-connection execution option first, then create_engine(isolation_level=...)
    (2.0: _on_connect_isolation_level, 1.4: dialect.isolation_level), then the server
    default SQLAlchemy itself read on the engine's first connect.
    """
    level = conn._execution_options.get("isolation_level")
    if level is None:
        dialect = conn.dialect
        level = (
            getattr(dialect, "_on_connect_isolation_level", None)
            or getattr(dialect, "isolation_level", None)
            or getattr(dialect, "default_isolation_level", None)
        )
    return level if isinstance(level, str) else None


@guarded
def _on_begin(conn):
    cid = _cid_of_connection(conn)
    fields = {}
    sess = _binding_session.get() or _sess_of(cid)
    if sess:
        fields["sess"] = sess
    iso = _isolation_of(conn)
    if iso:
        fields["iso"] = iso
    rt.tx_begin(cid, False, **fields)


@guarded
def _on_commit(conn):
    rt.fault_point("commit")
    cid = _cid_of_connection(conn)
    sess = _sess_of(cid)
    if sess:
        rt.tx_commit(cid, sess=sess)
    else:
        rt.tx_commit(cid)


@guarded
def _on_rollback(conn):
    cid = _cid_of_connection(conn)
    sess = _sess_of(cid)
    cause = _rollback_cause()
    if sess:
        rt.tx_rollback(cid, cause, sess=sess)
    else:
        rt.tx_rollback(cid, cause)


def _savepoint(conn, name, action):
    cid = _cid_of_connection(conn)
    event = {"k": "savepoint", "conn": cid, "action": action, "name": str(name)}
    tx = rt.tx_current(cid)
    if tx is not None:
        event["tx"] = tx
    sess = _sess_of(cid)
    if sess:
        event["sess"] = sess
    emit(event)


@guarded
def _on_savepoint(conn, name, action):
    _savepoint(conn, name, action)


def _before(hook):
    """Wrapper maker: `hook(connection)` runs first, where the ConnectionEvents event of the same name fires."""

    def make(original):
        def wrapper(self, *args, **kwargs):
            if rt.ACTIVE:
                hook(self)
            return original(self, *args, **kwargs)

        return wrapper

    return make


def _after_savepoint(action):
    """SAVEPOINT / ROLLBACK TO / RELEASE, recorded once done: after the statement, with the name SQLAlchemy chose."""

    def make(original):
        def wrapper(self, name=None, *args, **kwargs):
            result = original(self, name, *args, **kwargs)
            if rt.ACTIVE:
                _on_savepoint(self, result if action == "begin" and result is not None else name, action)
            return result

        return wrapper

    return make


# Statements are recorded by wrapping the dialect's do_execute / do_executemany /
# do_execute_no_params on each engine's dialect instance, the calls SQLAlchemy
# makes for every cursor execution (ORM, Core, insertmanyvalues batches,
# sequence pre-execution). One wrapper per statement is far cheaper than the
# before_/after_cursor_execute events, and it leaves Engine._has_events off,
# which keeps every other statement on SQLAlchemy's fast path: see
# _hook_core for why no ConnectionEvents listener is used at all.
# A dialect `do_execute` event handler that runs the statement itself (the
# event returns True) bypasses these methods; such a statement is not seen.

# sqlalchemy.pool.base._ConnectionFairy, set when SQLAlchemy is imported (this
# module loads before it, and must not import it).
_Fairy = None


def _statement_started(_now=rt.CLOCKS[0]):
    try:
        if rt.FAULT is not None:
            rt.fault_point("statement")
        local = _local
        local.executions = getattr(local, "executions", 0) + 1
    except Exception as exc:
        rt.fail(exc)
    return _now()


def _statement_ended(cursor, statement, parameters, context, many, start, exc=None, _now=rt.CLOCKS[0]):
    """Emit the stmt event of one cursor execution on a pooled connection we track.

    One function on purpose: it runs for every statement, and each call it makes costs.
    """
    end = _now()
    if not rt.ACTIVE:
        return
    try:
        conn = getattr(context, "root_connection", None)
        if conn is None:
            return
        fairy = conn._dbapi_connection
        # The dialect's own first-connect probes run on an ad-hoc connection outside the
        # pool (with events off, so they never were part of a trace): skip them.
        if not isinstance(fairy, _Fairy):
            return
        dbapi_conn = fairy.dbapi_connection
        state = rt._lookup(dbapi_conn)
        if state is None:
            record = getattr(fairy, "_connection_record", None)
            cid = _register(dbapi_conn, _pool_of(record) if record is not None else None)
            state = rt.conn_state(cid)
        else:
            cid = state.cid
        event = {"k": "stmt", "conn": cid, "sql": statement if _SQL_AS_SENT else rt.recorded_sql(statement)}
        if state is not None:
            if state.tx is None:
                probe = None
                try:
                    probe = _driver_in_transaction(dbapi_conn)
                except Exception:
                    probe = None
                if probe:
                    rt.tx_begin(cid, True)
            tx = state.tx
            if tx is not None:
                event["tx"] = tx
            sess = state.sess
            if sess is not None:
                event["sess"] = sess
        if parameters:
            if many:
                try:
                    event["many"] = len(parameters)
                except TypeError:
                    pass
            params = _params_repr(parameters)
            if params is not None:
                event["params"] = params
        event["dur"] = end - start
        if exc is None:
            try:
                rows = cursor.rowcount
            except Exception:
                rows = -1
            if rows.__class__ is int and rows >= 0:
                event["rows"] = rows
        else:
            event["err"] = rt.error_of(exc)
        if _change_sites.FLUSHING:
            # A flush's INSERT/UPDATE/DELETE: reported at the line that changed the object.
            _change_sites.attribute(event, context)
        # Start the user-frame search at the caller of the dialect method: this
        # function and the wrapper that called it are the agent's.
        emit(event, 3)
    except Exception as internal:
        rt.fail(internal)


def _traced_execute(execute, many):
    """do_execute / do_executemany of one dialect instance, recording each call as a statement."""

    def traced(cursor, statement, parameters, context=None):
        if not rt.ACTIVE:
            return execute(cursor, statement, parameters, context)
        start = _statement_started()
        try:
            result = execute(cursor, statement, parameters, context)
        except BaseException as exc:
            _statement_ended(cursor, statement, parameters, context, many, start, exc)
            raise
        _statement_ended(cursor, statement, parameters, context, many, start)
        return result

    return traced


def _traced_execute_no_params(execute):
    # _traced_execute's twin for the method without parameters. Kept apart on purpose:
    # one *args wrapper for both would pack and unpack a tuple on every statement.
    def traced(cursor, statement, context=None):
        if not rt.ACTIVE:
            return execute(cursor, statement, context)
        start = _statement_started()
        try:
            result = execute(cursor, statement, context)
        except BaseException as exc:
            _statement_ended(cursor, statement, None, context, False, start, exc)
            raise
        _statement_ended(cursor, statement, None, context, False, start)
        return result

    return traced


def _claiming_connect(connect):
    # The DB-API connect underneath is SQLAlchemy's: the DB-API hooks stay out of its way.
    def traced(*cargs, **cparams):
        if rt.ACTIVE:
            rt.claim_next_connect()
        return connect(*cargs, **cparams)

    return traced


def _wrap_dialect(dialect):
    """Instance-level wrappers on an engine's dialect: they win over any subclass's methods."""
    if getattr(dialect, "__dict__", None) is None:
        return
    rt.wrap_attribute(dialect, "do_execute", lambda method: _traced_execute(method, False))
    rt.wrap_attribute(dialect, "do_executemany", lambda method: _traced_execute(method, True))
    rt.wrap_attribute(dialect, "do_execute_no_params", _traced_execute_no_params)
    rt.wrap_attribute(dialect, "connect", _claiming_connect)


# ---------------------------------------------------------------------------
# Session events and wrappers


@guarded
def _on_session_created(session, cls_name):
    sid = rt.next_id("s")
    _sessions[session] = sid
    emit({"k": "session_open", "sess": sid, "cls": cls_name}, _PAST_HOOK)


@guarded
def _on_after_begin(session, transaction, connection):
    sid = _sessions.get(session)
    if sid is None:
        return
    cid = _cid_of_connection(connection)
    state = rt.conn_state(cid)
    if state is None:
        return
    state.sess = sid
    _session_conns.setdefault(sid, set()).add(cid)


@guarded
def _on_after_transaction_end(session, transaction):
    if getattr(transaction, "parent", None) is not None:
        return
    sid = _sessions.get(session)
    if sid is None:
        return
    for cid in _session_conns.pop(sid, ()):
        state = rt.conn_state(cid)
        if state is not None and state.sess == sid:
            state.sess = None


@guarded
def _pending_changes(session):
    """Objects added, changed or deleted but never flushed: close() discards them without any SQL.

    Read before close() (which empties these collections); public Session
    collections only, and only the modified states are visited.
    """
    groups = {}
    for op, objects in (("insert", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            cls = type(obj)
            key = (op, cls)
            groups[key] = groups.get(key, 0) + 1
    if not groups:
        return None
    pending = []
    for (op, cls), count in groups.items():
        item = {"op": op, "entity": cls.__name__, "count": count}
        table = getattr(getattr(cls, "__table__", None), "name", None)
        if table:
            item["table"] = table
        pending.append(item)
    return pending


@guarded
def _something_to_discard(session, pending):
    """Unflushed changes, or an open transaction (which may hold flushed ones).

    SessionTransaction's own record of what it flushed is no guide: it holds
    the objects weakly, and a failed request's objects are often gone by its
    teardown. Looking costs a few microseconds per close (callers' arguments).
    """
    if pending:
        return True
    in_transaction = getattr(session, "in_transaction", None)
    return bool(in_transaction()) if in_transaction is not None else True


# How far above Session.close() a teardown that was handed the error may sit: scoped_session.remove()
# and Flask's teardown_appcontext(exc) chain (do_teardown_appcontext, AppContext.pop, RequestContext.pop).
_ERROR_TEARDOWN_DEPTH = 8


@guarded
def _closed_by_error_teardown():
    """Whether a caller a few frames up was handed an exception as an argument.

    Frameworks end a failed request after handling its error, so no exception
    is in flight any more; they pass it to their teardown instead (Flask's
    teardown_appcontext and teardown_request functions receive it, and
    Flask-SQLAlchemy removes its scoped session there). Only arguments are
    looked at, and only on a close that has something to discard.
    """
    # Past this function, the guarded hook and close() itself; the stack may be shallower than
    # that (an AsyncSession closes in a task of its own), so never ask for a fixed depth.
    frame = sys._getframe()
    for _ in range(3):
        frame = frame.f_back if frame is not None else None
    for _ in range(_ERROR_TEARDOWN_DEPTH):
        if frame is None:
            return False
        code = frame.f_code
        nargs = code.co_argcount + code.co_kwonlyargcount
        # A method's lone `self` is no error; reading f_locals is the costly part.
        if nargs > 1 or (nargs == 1 and code.co_varnames[0] not in ("self", "cls")):
            values = frame.f_locals
            for name in code.co_varnames[:nargs]:
                if isinstance(values.get(name), BaseException):
                    return True
        frame = frame.f_back
    return False


@guarded
def _on_session_closed(session, pending=None):
    sid = _sessions.get(session)
    if sid is not None:
        event = {"k": "session_close", "sess": sid}
        if pending:
            event["pending"] = pending
        emit(event, _PAST_HOOK)


@guarded
def _maybe_identity_hit(session, executions_before, result):
    if result is None or getattr(_local, "executions", 0) != executions_before:
        return
    sid = _sessions.get(session)
    if sid is None:
        return
    from sqlalchemy import inspect

    state = inspect(result)
    mapper = state.mapper
    event = {"k": "identity_hit", "sess": sid, "entity": mapper.class_.__name__}
    table = getattr(getattr(mapper, "local_table", None), "name", None)
    if table:
        event["table"] = table
    identity = state.identity or ()
    # A primary key is a row value: outside 'values' mode only how many columns it has is kept.
    event["key"] = [repr(v) for v in identity] if rt.PARAMS_MODE == "values" else [rt.MASKED] * len(identity)
    event["pk"] = [c.name for c in mapper.primary_key]
    emit(event)


def _wrap_session(Session):
    def make_init(original):
        def __init__(self, *args, **kwargs):
            original(self, *args, **kwargs)
            if rt.ACTIVE:
                _on_session_created(self, "AsyncSession" if _async_session_init.get() else type(self).__name__)

        return __init__

    def make_close(original):
        def close(self, *args, **kwargs):
            if not rt.ACTIVE:
                return original(self, *args, **kwargs)
            # Changes dropped while an exception propagates, or by a teardown handed the exception that
            # ended its request, are the error's doing, not a missing commit.
            pending = None if _intent.get() == "error" or sys.exc_info()[0] is not None else _pending_changes(self)
            if _intent.get() is None and _something_to_discard(self, pending) and _closed_by_error_teardown():
                pending = None
                token = _intent.set("error")
                try:
                    result = original(self, *args, **kwargs)
                finally:
                    _intent.reset(token)
            elif _intent.get() is None:
                token = _intent.set("session-close")
                try:
                    result = original(self, *args, **kwargs)
                finally:
                    _intent.reset(token)
            else:
                result = original(self, *args, **kwargs)
            _on_session_closed(self, pending)
            return result

        return close

    def make_get_impl(original):
        def _get_impl(self, *args, **kwargs):
            if not rt.ACTIVE:
                return original(self, *args, **kwargs)
            before = getattr(_local, "executions", 0)
            result = original(self, *args, **kwargs)
            _maybe_identity_hit(self, before, result)
            return result

        return _get_impl

    _wrap(Session, "__init__", make_init)
    _wrap(Session, "close", make_close)
    _wrap(Session, "rollback", lambda m: _with_intent(m, "explicit", user_calls_only=True))
    _wrap(Session, "__exit__", lambda m: _exit_with_intent(m, "session-close"))
    _wrap(Session, "_get_impl", make_get_impl)


def _wrap_session_transaction(SessionTransaction):
    def make(original):
        # (self, bind, execution_options) in 1.4 and 2.0; called for every ORM statement,
        # so the common case (the bind already has its connection) is one dict lookup.
        def _connection_for_bind(self, bind, execution_options=_NOT_GIVEN, *args, **kwargs):
            if execution_options is not _NOT_GIVEN:
                # SQLAlchemy passes (bind, execution_options), about three times per ORM
                # statement: the common case calls on without packing and unpacking arguments.
                if not args and not kwargs and (not rt.ACTIVE or bind in getattr(self, "_connections", _NO_CONNECTIONS)):
                    return original(self, bind, execution_options)
                args = (execution_options,) + args
            if not rt.ACTIVE or bind in getattr(self, "_connections", _NO_CONNECTIONS):
                return original(self, bind, *args, **kwargs)
            # Only the first request per bind can begin a transaction, and so needs the session id.
            session = getattr(self, "session", None)
            sid = _sessions.get(session) if session is not None else None
            if sid is None:
                return original(self, bind, *args, **kwargs)
            token = _binding_session.set(sid)
            try:
                return original(self, bind, *args, **kwargs)
            finally:
                _binding_session.reset(token)

        return _connection_for_bind

    _wrap(SessionTransaction, "_connection_for_bind", make)


def _wrap_async_session(AsyncSession):
    def make(original):
        def __init__(self, *args, **kwargs):
            token = _async_session_init.set(True)
            try:
                original(self, *args, **kwargs)
            finally:
                _async_session_init.reset(token)

        return __init__

    _wrap(AsyncSession, "__init__", make)

    def make_aexit(original):
        # AsyncSession closes inside asyncio.shield(), i.e. in a new task whose
        # stack no longer holds the user's `async with`; the task copies our
        # context, so the line and the intent travel with it.
        async def __aexit__(self, type_, value, traceback):
            if not rt.ACTIVE or _intent.get() is not None:
                return await original(self, type_, value, traceback)
            at = rt.user_frame()
            frame_token = rt.frame_override.set(at) if at is not None else None
            intent_token = _intent.set("error" if type_ is not None else "session-close")
            try:
                return await original(self, type_, value, traceback)
            finally:
                _intent.reset(intent_token)
                if frame_token is not None:
                    rt.frame_override.reset(frame_token)

        return __aexit__

    _wrap(AsyncSession, "__aexit__", make_aexit)


# ---------------------------------------------------------------------------
# Installation


def _listen(target, name, fn, **kw):
    from sqlalchemy import event

    event.listen(target, name, fn, **kw)


def _hook_core(sqlalchemy):
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.engine.base import Transaction
    from sqlalchemy.pool import Pool

    _wrap_engine_init(Engine)
    _wrap(Connection, "close", lambda m: _with_intent(m, "close"))
    _wrap(Connection, "rollback", lambda m: _with_intent(m, "explicit", user_calls_only=True))
    _wrap(Connection, "__exit__", lambda m: _exit_with_intent(m, "close"))
    _wrap(Transaction, "rollback", lambda m: _with_intent(m, "explicit", user_calls_only=True))
    _wrap(Transaction, "close", lambda m: _with_intent(m, "explicit", user_calls_only=True))
    try:
        from sqlalchemy.engine.util import TransactionalContext

        _wrap(TransactionalContext, "__exit__", lambda m: _exit_with_intent(m, None))
    except ImportError:
        pass

    global _Fairy
    from sqlalchemy.pool.base import _ConnectionFairy

    _Fairy = _ConnectionFairy
    # No ConnectionEvents listener (begin, commit, before_cursor_execute, ...): any
    # one of them sets Engine._has_events, and then every statement of every engine
    # goes through SQLAlchemy's joined event dispatch, which cost more than the
    # recording itself. The methods those events fire in are wrapped instead, and
    # statements are taken from the dialect (_wrap_dialect, at Engine.__init__).
    _wrap(Connection, "_begin_impl", _before(_on_begin))
    _wrap(Connection, "_commit_impl", _before(_on_commit))
    _wrap(Connection, "_rollback_impl", _before(_on_rollback))
    _wrap(Connection, "_savepoint_impl", _after_savepoint("begin"))
    _wrap(Connection, "_rollback_to_savepoint_impl", _after_savepoint("rollback"))
    _wrap(Connection, "_release_savepoint_impl", _after_savepoint("release"))
    _listen(Pool, "connect", _on_pool_connect)
    _listen(Pool, "checkout", _on_checkout)
    _listen(Pool, "checkin", _on_checkin)
    _listen(Pool, "reset", _on_reset)
    _listen(Pool, "close", _on_close)
    _listen(Pool, "close_detached", _on_close_detached)


def _hook_future(future):
    # 1.4's 2.0-style Connection has its own rollback().
    Connection = getattr(future, "Connection", None)
    if Connection is not None:
        _wrap(Connection, "rollback", lambda m: _with_intent(m, "explicit", user_calls_only=True))


def _hook_orm(orm):
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.session import SessionTransaction

    _wrap_session(Session)
    _wrap_session_transaction(SessionTransaction)
    _listen(Session, "after_begin", _on_after_begin)
    _listen(Session, "after_transaction_end", _on_after_transaction_end)
    _change_sites.install_orm()


def _hook_asyncio(asyncio_ext):
    AsyncSession = getattr(asyncio_ext, "AsyncSession", None)
    if AsyncSession is not None:
        _wrap_async_session(AsyncSession)


def _record_version(sqlalchemy):
    version = getattr(sqlalchemy, "__version__", None)
    if version:
        rt.note_lib("sqlalchemy", version)


def install():
    def core(module):
        _record_version(module)
        _hook_core(module)

    rt.register_import_hook("sqlalchemy", core)
    rt.register_import_hook("sqlalchemy.future", _hook_future)
    rt.register_import_hook("sqlalchemy.orm", _hook_orm)
    rt.register_import_hook("sqlalchemy.ext.asyncio", _hook_asyncio)
