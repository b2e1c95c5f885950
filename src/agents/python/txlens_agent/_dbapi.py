"""Capture of plain DB-API use (no SQLAlchemy): sqlite3, psycopg2, psycopg 3, asyncpg.

How: each driver's connect function is wrapped so that the connection it
returns is an instance of a subclass of the class it would have returned
anyway (built once per original class, keeping its name), whose statement,
commit, rollback and close methods record events and then defer to the
original. isinstance checks, isolation, autocommit and every result stay the
driver's own; the agent never sends SQL of its own.

Transaction state is read from the driver's local bookkeeping before and after
each call (sqlite3 `in_transaction`, libpq's transaction status, asyncpg's
`is_in_transaction()`): a change from idle to "in transaction" is a begin (the
driver's implicit BEGIN, or the code's own BEGIN SQL), the opposite is a
commit or a rollback. That sees the sqlite3 module's hidden BEGIN/COMMIT,
autocommit modes and BEGIN/COMMIT sent as SQL alike, without a query.

Connections that SQLAlchemy creates are left untouched: its own hooks trace
them, and two records of one statement would count it twice.
"""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

import os
import sys
import weakref

from . import _runtime as _rt

_monotonic_ns = _rt._monotonic_ns
_getframe = sys._getframe



# ---------------------------------------------------------------------------
# Shared pieces


def _created_by_orm():
    """True when the connect being wrapped was asked for by SQLAlchemy (or aiosqlite's worker thread).

    Connects are rare, so walking the whole stack is affordable. The whole stack,
    not just the caller: `create_engine(creator=lambda: sqlite3.connect(...))`
    calls us from user code, with SQLAlchemy's pool further up.
    """
    if _rt.take_connect_claim() is not None:
        return True
    f = _getframe(2)
    while f is not None:
        name = f.f_globals.get("__name__")
        if name and (name == "sqlalchemy" or name.startswith("sqlalchemy.") or name.startswith("aiosqlite")):
            return True
        f = f.f_back
    return False


# Packages whose own SQLite files are their bookkeeping, never the project's data:
# coverage.py writes its data file from its tracer, with the test's frame below it.
_TOOL_PACKAGES = ("coverage",)


def _is_tool_data_file(db):
    """A SQLite file named like coverage.py's data file (`.coverage`, `.coverage.<suffix>`, $COVERAGE_FILE)."""
    path = db.get("file")
    if not path:
        return False
    if os.path.basename(path).startswith(".coverage"):
        return True
    named = os.environ.get("COVERAGE_FILE")
    return bool(named) and os.path.abspath(named) == path


def _opened_by_tool(db):
    """True when a sqlite3 connect is a tool's own bookkeeping, not the project's database.

    A tool opens its files from its own code: either no project frame is on the
    stack but installed third-party code is (a pytest plugin's hook, a tool's
    start-up), or the frames above the first project frame belong to a known tool
    package (coverage.py opens `.coverage` from its trace function, so the test
    function is right below it). A bare script with no project frame and nothing
    installed on its stack (`python -c ...`, an inline child process) is the user's
    own code and stays traced. Connects are rare, so walking the stack is affordable.
    """
    if _is_tool_data_file(db):
        return True
    installed = False
    f = _getframe(2)
    while f is not None:
        filename = f.f_code.co_filename
        if _rt.is_user_file(filename):
            return False
        name = f.f_globals.get("__name__") or ""
        if name.partition(".")[0] in _TOOL_PACKAGES:
            return True
        installed = installed or _is_installed_code(filename)
        f = f.f_back
    return installed


def _is_installed_code(filename):
    """Code a package manager installed (site-packages, dist-packages), as opposed to the standard library or a script."""
    return "site-packages" in filename or "dist-packages" in filename


@_rt.guarded
def _tool_connect(database, uri):
    return _opened_by_tool(_sqlite_db(database, uri))


_subclasses = {}


def _traced_subclass(base, mixin, slots=None, metaclass=type):
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
        cls = metaclass(base.__name__, (mixin, base), namespace)
        cls._txl_traced = True
        _subclasses[key] = cls
    return cls


class _StandIn(type):
    """Metaclass of a traced class that takes the driver class's place in its module (sqlite3.Connection).

    Code under test then sees the class it names: `type(sqlite3.connect(...)) is
    sqlite3.Connection` holds, and its own `factory=` subclasses are traced as
    they are. Objects of the driver's own class (a connection SQLAlchemy made,
    which the agent leaves untouched) still count as instances of it.
    """

    def __instancecheck__(cls, obj):
        real = cls.__dict__.get("_txl_stands_for")
        if real is not None:
            return isinstance(obj, real)
        return type.__instancecheck__(cls, obj)

    def __subclasscheck__(cls, sub):
        real = cls.__dict__.get("_txl_stands_for")
        if real is not None:
            return issubclass(sub, real)
        return type.__subclasscheck__(cls, sub)


def _stand_in(module_names, name, traced, real):
    traced._txl_stands_for = real
    for module in module_names:
        if module is not None and getattr(module, name, None) is real:
            setattr(module, name, traced)


def _is_traced_class(cls):
    return getattr(cls, "_txl_traced", False) is True


def _keyword(sql):
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


def _second_keyword(sql, first):
    rest = sql.lstrip().lstrip("(")[len(first):]
    return _keyword(rest)


# Statements that can name a savepoint start with one of these (after optional blanks).
_SAVEPOINT_FIRST_CHARS = frozenset("SsRr \t\r\n")
_BEGIN_WORDS = frozenset(("BEGIN", "START", "SAVEPOINT"))
_COMMIT_WORDS = frozenset(("COMMIT", "END", "RELEASE"))


def _sql_text(query, context=None):
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


def _error(exc):
    return _rt.error_of(exc)


def _many_params(seq):
    """(params field, count) for executemany, without consuming a one-shot iterator."""
    if isinstance(seq, (list, tuple)):
        return _rt.params_repr(list(seq)) if seq else None, len(seq)
    return None, None


def _end_transaction(cid, sql, exc, cause_override, commit_by_default):
    """The driver left its transaction during a statement: decide commit or rollback from what ran."""
    if exc is not None:
        _rt.tx_rollback(cid, cause_override or "error")
        return
    word = _keyword(sql)
    if word == "ROLLBACK" or word == "ABORT":
        _rt.tx_rollback(cid, cause_override or "explicit")
    elif word in _COMMIT_WORDS or commit_by_default:
        _rt.tx_commit(cid)
    else:
        _rt.tx_rollback(cid, cause_override or "error")


def _savepoint_event(cid, sql):
    """SAVEPOINT / RELEASE / ROLLBACK TO inside an open transaction (names only, no state change)."""
    word = _keyword(sql)
    if word == "SAVEPOINT":
        action = "begin"
        rest = sql.lstrip()[len("SAVEPOINT"):]
    elif word == "RELEASE":
        action = "release"
        rest = sql.lstrip()[len("RELEASE"):]
        if _keyword(rest) == "SAVEPOINT":
            rest = rest.lstrip()[len("SAVEPOINT"):]
    elif word == "ROLLBACK":
        rest = sql.lstrip()[len("ROLLBACK"):]
        if _keyword(rest) == "WORK" or _keyword(rest) == "TRANSACTION":
            rest = rest.lstrip()[len(_keyword(rest)):]
        if _keyword(rest) != "TO":
            return
        action = "rollback"
        rest = rest.lstrip()[2:]
        if _keyword(rest) == "SAVEPOINT":
            rest = rest.lstrip()[len("SAVEPOINT"):]
    else:
        return
    name = rest.strip().rstrip(";").strip().strip('"')
    if not name:
        return
    event = {"k": "savepoint", "conn": cid, "action": action, "name": name}
    tx = _rt.tx_current(cid)
    if tx is not None:
        event["tx"] = tx
    _rt.emit(event)


@_rt.guarded
def _record(cid, sql, params, many, rows, start, exc, was_in_tx, now_in_tx, cause_override=None, commit_by_default=False, implicit=None):
    """One statement finished: emit begin (if it opened a transaction), stmt, then commit/rollback (if it ended one)."""
    dur = _monotonic_ns() - start
    _rt.fault_point("dbapi.stmt")
    if not isinstance(sql, str):
        sql = _sql_text(sql)
    if now_in_tx and not was_in_tx:
        if implicit is None:
            implicit = _keyword(sql) not in _BEGIN_WORDS
        _rt.tx_begin(cid, implicit=implicit)
    event = {"k": "stmt", "conn": cid, "sql": sql, "dur": dur}
    tx = _rt.tx_current(cid)
    if tx is not None:
        event["tx"] = tx
    if params is not None:
        shown = _rt.params_repr(params) if many is None else params
        if shown is not None:
            event["params"] = shown
    if many is not None:
        event["many"] = many
    if rows is not None and rows >= 0:
        event["rows"] = rows
    if exc is not None:
        event["err"] = _error(exc)
    _rt.emit(event)
    if was_in_tx and not now_in_tx:
        _end_transaction(cid, sql, exc, cause_override, commit_by_default)
    elif now_in_tx and was_in_tx and exc is None and sql[:1] in _SAVEPOINT_FIRST_CHARS:
        _savepoint_event(cid, sql)


@_rt.guarded
def _settle(cid, now_in_tx, ended, cause=None):
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


@_rt.guarded
def _closed(conn, cid, was_in_tx, aliases=()):
    _rt.fault_point("dbapi.close")
    if was_in_tx or _rt.tx_current(cid) is not None:
        _rt.tx_rollback(cid, "close")
    _rt.emit({"k": "close", "conn": cid})
    _rt.forget_conn(conn, *aliases)


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


def _watch_collection(conn, cid):
    try:
        finalizer = weakref.finalize(conn, _on_collected, cid)
        # At exit the core reports open transactions as 'exit'; this is for real collection only.
        finalizer.atexit = False
    except TypeError:
        pass


def _register(conn, driver, db, in_tx):
    _rt.fault_point("dbapi.connect")
    cid = _rt.register_conn(conn, {"db": db, "driver": driver}, owner="dbapi")
    if cid is None:
        return None
    _watch_collection(conn, cid)
    if in_tx:
        _rt.tx_begin(cid, implicit=True)
    return cid


def _pg_url(user, host, port, dbname):
    from urllib.parse import quote

    auth = quote(user, safe="") + "@" if user else ""
    if host and host.startswith("/"):
        return "postgresql://%s/%s?host=%s" % (auth, quote(dbname or "", safe=""), quote(host, safe=""))
    netloc = host or ""
    if netloc and ":" in netloc and not netloc.startswith("["):
        netloc = "[" + netloc + "]"
    if port:
        netloc += ":%s" % port
    return "postgresql://%s%s/%s" % (auth, netloc, quote(dbname or "", safe=""))


def _pg_db(user, host, port, dbname):
    db = {"system": "postgresql"}
    if dbname:
        db["name"] = dbname
    try:
        port = int(port) if port not in (None, "") else None
    except (TypeError, ValueError):
        port = None
    if host:
        db["host"] = host
    if port:
        db["port"] = port
    db["url"] = _pg_url(user, host, port, dbname)
    return db


# ---------------------------------------------------------------------------
# sqlite3


def _sqlite_db(database, uri):
    try:
        name = os.fsdecode(database)
    except TypeError:
        name = str(database)
    db = {"system": "sqlite", "name": name}
    path = name
    memory = name in (":memory:", "")
    if uri and name.startswith("file:"):
        path, _, query = name[5:].partition("?")
        path = path.split("#", 1)[0]
        options = dict(p.partition("=")[::2] for p in query.split("&") if p)
        if path.startswith("//"):
            # file://host/path: only an empty host or 'localhost' is allowed.
            path = "/" + path[2:].partition("/")[2]
        from urllib.parse import unquote

        path = unquote(path)
        memory = options.get("mode") == "memory" or path in (":memory:", "")
    if memory:
        db["memory"] = True
    else:
        db["file"] = os.path.abspath(path)
    return db


class _SqliteCursorMixin(object):
    __slots__ = ()

    def execute(self, *args, **kwargs):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().execute(*args, **kwargs)
        was = conn.in_transaction
        start = _monotonic_ns()
        try:
            result = super().execute(*args, **kwargs)
        except Exception as exc:
            _record(cid, _arg(args, kwargs, 0, "sql"), _arg(args, kwargs, 1, "parameters"), None, None, start, exc, was, _sqlite_in_tx(conn))
            raise
        _record(cid, _arg(args, kwargs, 0, "sql"), _arg(args, kwargs, 1, "parameters"), None, self.rowcount, start, None, was, conn.in_transaction)
        return result

    def executemany(self, *args, **kwargs):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().executemany(*args, **kwargs)
        params, many = _many_params(_arg(args, kwargs, 1, "seq_of_parameters"))
        was = conn.in_transaction
        start = _monotonic_ns()
        try:
            result = super().executemany(*args, **kwargs)
        except Exception as exc:
            _record(cid, _arg(args, kwargs, 0, "sql"), params, many, None, start, exc, was, _sqlite_in_tx(conn))
            raise
        _record(cid, _arg(args, kwargs, 0, "sql"), params, many, self.rowcount, start, None, was, conn.in_transaction)
        return result

    def executescript(self, *args, **kwargs):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().executescript(*args, **kwargs)
        was = conn.in_transaction
        start = _monotonic_ns()
        try:
            result = super().executescript(*args, **kwargs)
        except Exception as exc:
            _record(cid, _arg(args, kwargs, 0, "sql_script"), None, None, None, start, exc, was, _sqlite_in_tx(conn))
            raise
        # executescript COMMITs a pending transaction before running the script.
        _record(cid, _arg(args, kwargs, 0, "sql_script"), None, None, None, start, None, was, conn.in_transaction, commit_by_default=True)
        return result


def _sqlite_in_tx(conn):
    try:
        return conn.in_transaction
    except Exception:
        return False


def _arg(args, kwargs, index, name):
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


class _SqliteConnectionMixin(object):
    __slots__ = ()
    _txl_cid = None
    _txl_cause = None

    def cursor(self, *args, **kwargs):
        if self._txl_cid is None:
            return super().cursor(*args, **kwargs)
        factory = _arg(args, kwargs, 0, "factory")
        if factory is None:
            factory = _sqlite_default_cursor
        traced = _sqlite_cursor_class(factory)
        if traced is None:
            return super().cursor(*args, **kwargs)
        return super().cursor(traced)

    # The C versions of these make a plain cursor internally, bypassing cursor().
    def execute(self, *args, **kwargs):
        if self._txl_cid is None:
            return super().execute(*args, **kwargs)
        return _sqlite_base_cursor(self, _sqlite_default_cursor).execute(*args, **kwargs)

    def executemany(self, *args, **kwargs):
        if self._txl_cid is None:
            return super().executemany(*args, **kwargs)
        return _sqlite_base_cursor(self, _sqlite_default_cursor).executemany(*args, **kwargs)

    def executescript(self, *args, **kwargs):
        if self._txl_cid is None:
            return super().executescript(*args, **kwargs)
        return _sqlite_base_cursor(self, _sqlite_default_cursor).executescript(*args, **kwargs)

    def commit(self):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return super().commit()
        try:
            result = super().commit()
        except Exception:
            if not self.in_transaction:
                _settle(cid, False, "rollback", "error")
            raise
        _settle(cid, self.in_transaction, "commit")
        return result

    def rollback(self):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return super().rollback()
        try:
            return super().rollback()
        finally:
            _settle(cid, self.in_transaction, "rollback", self._txl_cause)

    def close(self):
        cid = self._txl_cid
        if cid is None:
            return super().close()
        was = self.in_transaction
        result = super().close()
        self._txl_cid = None
        if _rt.ACTIVE:
            _closed(self, cid, was)
        return result

    def __exit__(self, exc_type, exc, tb):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return super().__exit__(exc_type, exc, tb)
        try:
            return super().__exit__(exc_type, exc, tb)
        finally:
            # The C __exit__ commits or rolls back without calling our methods.
            ended = "commit" if exc_type is None else "rollback"
            try:
                now = self.in_transaction
            except Exception:
                now = False
            if not now or exc_type is None:
                _settle(cid, now, ended, "error")


_sqlite3 = None
_sqlite_base_cursor = None
_sqlite_default_cursor = None
_SqliteConnection = None
_SqliteCursor = None


def _sqlite_cursor_class(factory):
    if not isinstance(factory, type) or not issubclass(factory, _SqliteCursor):
        return None
    if _is_traced_class(factory):
        return factory
    return _traced_subclass(factory, _SqliteCursorMixin, slots=(), metaclass=_StandIn if factory is _SqliteCursor else type)


def _sqlite_connection_class(factory):
    if not isinstance(factory, type) or not issubclass(factory, _SqliteConnection):
        return None
    if _is_traced_class(factory):
        return factory
    return _traced_subclass(factory, _SqliteConnectionMixin, metaclass=_StandIn if factory is _SqliteConnection else type)


@_rt.guarded
def _sqlite_register(conn, database, uri):
    db = _sqlite_db(database, uri)
    cid = _register(conn, "sqlite3", db, conn.in_transaction)
    conn._txl_cid = cid


_SQLITE_FACTORY_POSITION = 5  # connect(database, timeout, detect_types, isolation_level, check_same_thread, factory, ...)


def _wrap_sqlite_connect(original):
    def connect(*args, **kwargs):
        if not _rt.ACTIVE or _created_by_orm():
            return original(*args, **kwargs)
        positional_factory = len(args) > _SQLITE_FACTORY_POSITION
        factory = args[_SQLITE_FACTORY_POSITION] if positional_factory else kwargs.get("factory", _SqliteConnection)
        traced = _sqlite_connection_class(factory)
        if traced is None:
            return original(*args, **kwargs)
        if positional_factory:
            args = args[:_SQLITE_FACTORY_POSITION] + (traced,) + args[_SQLITE_FACTORY_POSITION + 1 :]
        else:
            kwargs["factory"] = traced
        database, uri = _arg(args, kwargs, 0, "database"), _arg(args, kwargs, 7, "uri")
        if _tool_connect(database, uri):
            # Not traced at all: a tool's data file is not one of the project's databases,
            # and its statements would only be taken for the project's.
            return original(*args, **kwargs)
        conn = original(*args, **kwargs)
        if type(conn) is traced:
            _sqlite_register(conn, database, uri)
        return conn

    connect = _rt.same_signature(original, connect)
    connect._txl_traced = True
    return connect


def _hook_sqlite3(module):
    global _sqlite3, _sqlite_base_cursor, _sqlite_default_cursor, _SqliteConnection, _SqliteCursor
    dbapi2 = sys.modules.get("sqlite3.dbapi2")
    _sqlite3 = module
    if _SqliteConnection is None:
        _SqliteConnection = module.Connection
        _SqliteCursor = module.Cursor
    _sqlite_base_cursor = _SqliteConnection.cursor
    _sqlite_default_cursor = _sqlite_cursor_class(_SqliteCursor)
    _stand_in((module, dbapi2), "Cursor", _sqlite_default_cursor, _SqliteCursor)
    _stand_in((module, dbapi2), "Connection", _sqlite_connection_class(_SqliteConnection), _SqliteConnection)
    for mod in (module, dbapi2):
        if mod is None:
            continue
        current = getattr(mod, "connect", None)
        if current is None or getattr(current, "_txl_traced", False):
            continue
        mod.connect = _wrap_sqlite_connect(current)


# ---------------------------------------------------------------------------
# psycopg2

# libpq PQtransactionStatus: IDLE 0, ACTIVE 1, INTRANS 2, INERROR 3, UNKNOWN 4.
_PQ_INTRANS = 2
_PQ_INERROR = 3


def _pq_in_tx(status):
    return status == _PQ_INTRANS or status == _PQ_INERROR


class _PqConnectionMixin(object):
    """Transaction ends of a libpq-based sync connection (psycopg2, psycopg 3).

    Subclasses say how to read the connection's libpq transaction status
    (`_txl_status`); the rest is the same for both drivers.
    """

    __slots__ = ()
    _txl_cid = None
    _txl_cause = None

    def _txl_status(self):
        raise NotImplementedError

    def commit(self):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return super().commit()
        failed = self._txl_status() == _PQ_INERROR
        try:
            result = super().commit()
        except Exception:
            if not _pq_in_tx(self._txl_status()):
                _settle(cid, False, "rollback", "error")
            raise
        # COMMIT of a failed transaction is a ROLLBACK on the server.
        _settle(cid, False, "rollback" if failed else "commit", "error")
        return result

    def rollback(self):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return super().rollback()
        try:
            return super().rollback()
        finally:
            if not _pq_in_tx(self._txl_status()):
                _settle(cid, False, "rollback", self._txl_cause)

    def close(self):
        cid = self._txl_cid
        if cid is None:
            return super().close()
        was = _pq_in_tx(self._txl_status())
        result = super().close()
        if self.closed:
            self._txl_cid = None
            if _rt.ACTIVE:
                _closed(self, cid, was)
        return result

    def __exit__(self, exc_type, exc, tb):
        # The drivers' __exit__ call self.commit()/self.rollback(); only the cause needs saying.
        if self._txl_cid is None or exc_type is None:
            return super().__exit__(exc_type, exc, tb)
        self._txl_cause = "error"
        try:
            return super().__exit__(exc_type, exc, tb)
        finally:
            self._txl_cause = None


class _Psycopg2CursorMixin(object):
    __slots__ = ()

    def execute(self, query, vars=None):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().execute(query, vars)
        was = _psycopg2_status(conn)
        start = _monotonic_ns()
        try:
            result = super().execute(query, vars)
        except Exception as exc:
            _record(cid, _sql_text(query, conn), vars, None, None, start, exc, _pq_in_tx(was), _pq_in_tx(_psycopg2_status(conn)))
            raise
        _record(cid, _sql_text(query, conn), vars, None, self.rowcount, start, None, _pq_in_tx(was), _pq_in_tx(_psycopg2_status(conn)))
        return result

    def executemany(self, query, vars_list):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().executemany(query, vars_list)
        params, many = _many_params(vars_list)
        was = _psycopg2_status(conn)
        start = _monotonic_ns()
        try:
            result = super().executemany(query, vars_list)
        except Exception as exc:
            _record(cid, _sql_text(query, conn), params, many, None, start, exc, _pq_in_tx(was), _pq_in_tx(_psycopg2_status(conn)))
            raise
        _record(cid, _sql_text(query, conn), params, many, self.rowcount, start, None, _pq_in_tx(was), _pq_in_tx(_psycopg2_status(conn)))
        return result

    def callproc(self, procname, *args, **kwargs):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().callproc(procname, *args, **kwargs)
        params = _arg(args, kwargs, 0, "parameters")
        sql = "CALL %s" % procname
        was = _psycopg2_status(conn)
        start = _monotonic_ns()
        try:
            result = super().callproc(procname, *args, **kwargs)
        except Exception as exc:
            _record(cid, sql, params, None, None, start, exc, _pq_in_tx(was), _pq_in_tx(_psycopg2_status(conn)))
            raise
        _record(cid, sql, params, None, self.rowcount, start, None, _pq_in_tx(was), _pq_in_tx(_psycopg2_status(conn)))
        return result


class _Psycopg2ConnectionMixin(_PqConnectionMixin):
    __slots__ = ()

    def cursor(self, *args, **kwargs):
        if self._txl_cid is None:
            return super().cursor(*args, **kwargs)
        # cursor(name=None, cursor_factory=None, withhold=False, scrollable=None)
        if len(args) > 1:
            factory = args[1]
        else:
            factory = kwargs.get("cursor_factory") or self.cursor_factory or _psycopg2_cursor
        traced = _psycopg2_cursor_class(factory)
        if traced is None:
            return super().cursor(*args, **kwargs)
        if len(args) > 1:
            args = args[:1] + (traced,) + args[2:]
        else:
            kwargs["cursor_factory"] = traced
        return super().cursor(*args, **kwargs)

    def _txl_status(self):
        return _psycopg2_status(self)


def _psycopg2_status(conn):
    try:
        return conn.get_transaction_status()
    except Exception:
        return None


_psycopg2_cursor = None
_psycopg2_connection = None


def _psycopg2_cursor_class(factory):
    if not isinstance(factory, type) or not issubclass(factory, _psycopg2_cursor):
        return None
    if _is_traced_class(factory):
        return factory
    return _traced_subclass(factory, _Psycopg2CursorMixin, slots=())


def _psycopg2_connection_class(factory):
    if factory is None:
        factory = _psycopg2_connection
    if not isinstance(factory, type) or not issubclass(factory, _psycopg2_connection):
        return None
    if _is_traced_class(factory):
        return factory
    return _traced_subclass(factory, _Psycopg2ConnectionMixin)


@_rt.guarded
def _psycopg2_register(conn):
    info = conn.info
    db = _pg_db(info.user, info.host, info.port, info.dbname)
    conn._txl_cid = _register(conn, "psycopg2", db, _pq_in_tx(_psycopg2_status(conn)))


def _wrap_psycopg2_connect(original):
    def connect(dsn=None, connection_factory=None, cursor_factory=None, **kwargs):
        if not _rt.ACTIVE or "async" in kwargs or "async_" in kwargs or _created_by_orm():
            return original(dsn, connection_factory=connection_factory, cursor_factory=cursor_factory, **kwargs)
        traced = _psycopg2_connection_class(connection_factory)
        if traced is None:
            return original(dsn, connection_factory=connection_factory, cursor_factory=cursor_factory, **kwargs)
        conn = original(dsn, connection_factory=traced, cursor_factory=cursor_factory, **kwargs)
        if type(conn) is traced:
            _psycopg2_register(conn)
        return conn

    connect = _rt.same_signature(original, connect)
    connect._txl_traced = True
    return connect


def _hook_psycopg2(module):
    global _psycopg2_cursor, _psycopg2_connection
    ext = sys.modules.get("psycopg2.extensions")
    if ext is None:
        import psycopg2.extensions as ext  # noqa: imported by psycopg2 itself already
    _psycopg2_cursor = ext.cursor
    _psycopg2_connection = ext.connection
    current = getattr(module, "connect", None)
    if current is not None and not getattr(current, "_txl_traced", False):
        module.connect = _wrap_psycopg2_connect(current)


# ---------------------------------------------------------------------------
# psycopg 3


def _pg3_in_tx(conn):
    try:
        return _pq_in_tx(conn.pgconn.transaction_status)
    except Exception:
        return False


def _pg3_rows(cursor):
    try:
        return cursor.rowcount
    except Exception:
        return None


class _Pg3CursorMixin(object):
    __slots__ = ()

    def execute(self, query, params=None, *args, **kwargs):
        conn = self._conn
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().execute(query, params, *args, **kwargs)
        was = _pg3_in_tx(conn)
        start = _monotonic_ns()
        try:
            result = super().execute(query, params, *args, **kwargs)
        except Exception as exc:
            _record(cid, _sql_text(query, conn), params, None, None, start, exc, was, _pg3_in_tx(conn))
            raise
        _record(cid, _sql_text(query, conn), params, None, _pg3_rows(self), start, None, was, _pg3_in_tx(conn))
        return result

    def executemany(self, query, params_seq, *args, **kwargs):
        conn = self._conn
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().executemany(query, params_seq, *args, **kwargs)
        params, many = _many_params(params_seq)
        was = _pg3_in_tx(conn)
        start = _monotonic_ns()
        try:
            result = super().executemany(query, params_seq, *args, **kwargs)
        except Exception as exc:
            _record(cid, _sql_text(query, conn), params, many, None, start, exc, was, _pg3_in_tx(conn))
            raise
        _record(cid, _sql_text(query, conn), params, many, _pg3_rows(self), start, None, was, _pg3_in_tx(conn))
        return result


class _Pg3AsyncCursorMixin(object):
    __slots__ = ()

    async def execute(self, query, params=None, *args, **kwargs):
        conn = self._conn
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return await super().execute(query, params, *args, **kwargs)
        was = _pg3_in_tx(conn)
        start = _monotonic_ns()
        try:
            result = await super().execute(query, params, *args, **kwargs)
        except Exception as exc:
            _record(cid, _sql_text(query, conn), params, None, None, start, exc, was, _pg3_in_tx(conn))
            raise
        _record(cid, _sql_text(query, conn), params, None, _pg3_rows(self), start, None, was, _pg3_in_tx(conn))
        return result

    async def executemany(self, query, params_seq, *args, **kwargs):
        conn = self._conn
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return await super().executemany(query, params_seq, *args, **kwargs)
        params, many = _many_params(params_seq)
        was = _pg3_in_tx(conn)
        start = _monotonic_ns()
        try:
            result = await super().executemany(query, params_seq, *args, **kwargs)
        except Exception as exc:
            _record(cid, _sql_text(query, conn), params, many, None, start, exc, was, _pg3_in_tx(conn))
            raise
        _record(cid, _sql_text(query, conn), params, many, _pg3_rows(self), start, None, was, _pg3_in_tx(conn))
        return result


def _pg3_traced_cursor(cursor, mixin):
    """Re-class a cursor psycopg just built (from whatever cursor_factory is set) as its traced subclass."""
    cls = type(cursor)
    if _is_traced_class(cls):
        return cursor
    try:
        cursor.__class__ = _traced_subclass(cls, mixin, slots=())
    except TypeError:
        pass
    return cursor


class _Pg3TransactionBlock(object):
    """Stands in for `conn.transaction()`'s context manager, reporting its BEGIN and its end."""

    __slots__ = ("_cm", "_conn", "_tx", "_savepoint")

    def __init__(self, cm, conn):
        self._cm = cm
        self._conn = conn
        self._tx = None
        self._savepoint = None

    def _entered(self, was):
        conn = self._conn
        cid = conn._txl_cid
        if cid is not None and _rt.ACTIVE:
            self._savepoint = _pg3_block_entered(cid, was, _pg3_in_tx(conn), self._tx)

    def _exited(self, exc_type, exc):
        conn = self._conn
        cid = conn._txl_cid
        if cid is None or not _rt.ACTIVE:
            return
        if _pg3_in_tx(conn):
            if self._savepoint:
                _pg3_savepoint_event(cid, "release" if exc_type is None else "rollback", self._savepoint)
            return
        if exc_type is None:
            forced = getattr(self._tx, "force_rollback", False)
            _settle(cid, False, "rollback" if forced else "commit", "explicit")
        else:
            explicit = type(exc).__name__ == "Rollback" and type(exc).__module__.startswith("psycopg")
            _settle(cid, False, "rollback", "explicit" if explicit else "error")

    def __enter__(self):
        was = _pg3_in_tx(self._conn)
        self._tx = self._cm.__enter__()
        self._entered(was)
        return self._tx

    def __exit__(self, exc_type, exc, tb):
        try:
            return self._cm.__exit__(exc_type, exc, tb)
        finally:
            self._exited(exc_type, exc)

    async def __aenter__(self):
        was = _pg3_in_tx(self._conn)
        self._tx = await self._cm.__aenter__()
        self._entered(was)
        return self._tx

    async def __aexit__(self, exc_type, exc, tb):
        try:
            return await self._cm.__aexit__(exc_type, exc, tb)
        finally:
            self._exited(exc_type, exc)


@_rt.guarded
def _pg3_block_entered(cid, was, now, tx):
    if now and not was:
        # psycopg sent BEGIN because the code asked for a transaction block.
        _rt.tx_begin(cid, implicit=False)
    elif now and was:
        name = getattr(tx, "savepoint_name", None)
        if name:
            _pg3_savepoint_event(cid, "begin", name)
            return name
    return None


@_rt.guarded
def _pg3_savepoint_event(cid, action, name):
    event = {"k": "savepoint", "conn": cid, "action": action, "name": name}
    current = _rt.tx_current(cid)
    if current is not None:
        event["tx"] = current
    _rt.emit(event)


class _Pg3ConnectionMixin(_PqConnectionMixin):
    __slots__ = ()

    def cursor(self, *args, **kwargs):
        cursor = super().cursor(*args, **kwargs)
        if self._txl_cid is not None:
            cursor = _pg3_traced_cursor(cursor, _Pg3CursorMixin)
        return cursor

    def transaction(self, *args, **kwargs):
        cm = super().transaction(*args, **kwargs)
        if self._txl_cid is None:
            return cm
        return _Pg3TransactionBlock(cm, self)

    def _txl_status(self):
        return _pg3_status(self)


class _Pg3AsyncConnectionMixin(object):
    __slots__ = ()
    _txl_cid = None
    _txl_cause = None

    def cursor(self, *args, **kwargs):
        cursor = super().cursor(*args, **kwargs)
        if self._txl_cid is not None:
            cursor = _pg3_traced_cursor(cursor, _Pg3AsyncCursorMixin)
        return cursor

    def transaction(self, *args, **kwargs):
        cm = super().transaction(*args, **kwargs)
        if self._txl_cid is None:
            return cm
        return _Pg3TransactionBlock(cm, self)

    async def commit(self):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return await super().commit()
        failed = _pg3_status(self) == _PQ_INERROR
        try:
            result = await super().commit()
        except Exception:
            if not _pg3_in_tx(self):
                _settle(cid, False, "rollback", "error")
            raise
        _settle(cid, False, "rollback" if failed else "commit", "error")
        return result

    async def rollback(self):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return await super().rollback()
        try:
            return await super().rollback()
        finally:
            if not _pg3_in_tx(self):
                _settle(cid, False, "rollback", self._txl_cause)

    async def close(self):
        cid = self._txl_cid
        if cid is None:
            return await super().close()
        was = _pg3_in_tx(self)
        result = await super().close()
        if self.closed:
            self._txl_cid = None
            if _rt.ACTIVE:
                _closed(self, cid, was)
        return result

    async def __aexit__(self, exc_type, exc, tb):
        if self._txl_cid is None or exc_type is None:
            return await super().__aexit__(exc_type, exc, tb)
        self._txl_cause = "error"
        try:
            return await super().__aexit__(exc_type, exc, tb)
        finally:
            self._txl_cause = None


def _pg3_status(conn):
    try:
        return conn.pgconn.transaction_status
    except Exception:
        return None


@_rt.guarded
def _pg3_register(conn):
    info = conn.info
    db = _pg_db(info.user, info.host, info.port, info.dbname)
    conn._txl_cid = _register(conn, "psycopg", db, _pg3_in_tx(conn))


def _pg3_class(cls, mixin):
    if _is_traced_class(cls):
        return cls
    return _traced_subclass(cls, mixin)


def _wrap_pg3_connect(original, mixin):
    func = original.__func__

    def connect(cls, *args, **kwargs):
        if not _rt.ACTIVE or _is_traced_class(cls) or _created_by_orm():
            return func(cls, *args, **kwargs)
        conn = func(_pg3_class(cls, mixin), *args, **kwargs)
        _pg3_register(conn)
        return conn

    async def connect_async(cls, *args, **kwargs):
        if not _rt.ACTIVE or _is_traced_class(cls) or _created_by_orm():
            return await func(cls, *args, **kwargs)
        conn = await func(_pg3_class(cls, mixin), *args, **kwargs)
        _pg3_register(conn)
        return conn

    import inspect

    wrapper = connect_async if inspect.iscoroutinefunction(func) else connect
    wrapper = _rt.same_signature(func, wrapper)
    wrapper._txl_traced = True
    return classmethod(wrapper)


def _hook_psycopg(module):
    for cls_name, mixin in (("Connection", _Pg3ConnectionMixin), ("AsyncConnection", _Pg3AsyncConnectionMixin)):
        cls = getattr(module, cls_name, None)
        if cls is None:
            continue
        original = cls.__dict__.get("connect")
        if not isinstance(original, classmethod) or getattr(original.__func__, "_txl_traced", False):
            continue
        cls.connect = _wrap_pg3_connect(original, mixin)
    # `psycopg.connect` is `Connection.connect` bound when psycopg was imported.
    conn_cls = getattr(module, "Connection", None)
    current = getattr(module, "connect", None)
    if conn_cls is not None and current is not None and not getattr(getattr(current, "__func__", None), "_txl_traced", False):
        module.connect = conn_cls.connect


# ---------------------------------------------------------------------------
# asyncpg


def _status_rows(status):
    if isinstance(status, str):
        tail = status.rpartition(" ")[2]
        if tail.isdigit():
            return int(tail)
    return None


class _AsyncpgConnectionMixin(object):
    __slots__ = ()
    _txl_cid = None
    _txl_cause = None
    _txl_quiet = False

    async def _txl_run(self, method, query, args, kwargs, params, many, rows_of):
        cid = self._txl_cid
        if cid is None or self._txl_quiet or not _rt.ACTIVE:
            return await method(query, *args, **kwargs)
        protocol = self._protocol
        was = protocol.is_in_transaction()
        start = _monotonic_ns()
        try:
            result = await method(query, *args, **kwargs)
        except Exception as exc:
            _record(cid, query, params, many, None, start, exc, was, protocol.is_in_transaction(), self._txl_cause)
            raise
        _record(cid, query, params, many, rows_of(result), start, None, was, protocol.is_in_transaction(), self._txl_cause)
        return result

    async def execute(self, query, *args, **kwargs):
        return await self._txl_run(super().execute, query, args, kwargs, args or None, None, _status_rows)

    async def executemany(self, command, args, **kwargs):
        cid = self._txl_cid
        if cid is None or self._txl_quiet or not _rt.ACTIVE:
            return await super().executemany(command, args, **kwargs)
        params, many = _many_params(args)
        return await self._txl_run(super().executemany, command, (args,), kwargs, params, many, _no_rows)

    async def fetch(self, query, *args, **kwargs):
        return await self._txl_run(super().fetch, query, args, kwargs, args or None, None, _len_rows)

    async def fetchrow(self, query, *args, **kwargs):
        return await self._txl_run(super().fetchrow, query, args, kwargs, args or None, None, _one_row)

    async def fetchval(self, query, *args, **kwargs):
        return await self._txl_run(super().fetchval, query, args, kwargs, args or None, None, _no_rows)

    async def fetchmany(self, query, args, **kwargs):
        cid = self._txl_cid
        if cid is None or self._txl_quiet or not _rt.ACTIVE:
            return await super().fetchmany(query, args, **kwargs)
        params, many = _many_params(args)
        return await self._txl_run(super().fetchmany, query, (args,), kwargs, params, many, _len_rows)

    def transaction(self, *args, **kwargs):
        tr = super().transaction(*args, **kwargs)
        if self._txl_cid is not None:
            try:
                tr.__class__ = _traced_subclass(type(tr), _AsyncpgTransactionMixin, slots=())
            except TypeError:
                pass
        return tr

    async def close(self, *args, **kwargs):
        cid = self._txl_cid
        if cid is None:
            return await super().close(*args, **kwargs)
        was = _asyncpg_in_tx(self)
        try:
            return await super().close(*args, **kwargs)
        finally:
            self._txl_cid = None
            if _rt.ACTIVE:
                _closed(self, cid, was)

    def terminate(self):
        cid = self._txl_cid
        if cid is None:
            return super().terminate()
        was = _asyncpg_in_tx(self)
        try:
            return super().terminate()
        finally:
            self._txl_cid = None
            if _rt.ACTIVE:
                _closed(self, cid, was)

    async def _reset(self, *args, **kwargs):
        return await self._txl_resetting(super()._reset, args, kwargs)

    async def reset(self, *args, **kwargs):
        return await self._txl_resetting(super().reset, args, kwargs)

    async def _txl_resetting(self, method, args, kwargs):
        """The pool's reset on release: its ROLLBACK and RESET ALL are housekeeping, not the code's statements."""
        cid = self._txl_cid
        if cid is None or self._txl_quiet or not _rt.ACTIVE:
            return await method(*args, **kwargs)
        self._txl_quiet = True
        try:
            return await method(*args, **kwargs)
        finally:
            self._txl_quiet = False
            if not _asyncpg_in_tx(self):
                _settle(cid, False, "rollback", "pool-reset")


class _AsyncpgTransactionMixin(object):
    __slots__ = ()

    async def __aexit__(self, extype, ex, tb):
        conn = self._connection
        if extype is None or getattr(conn, "_txl_cid", None) is None:
            return await super().__aexit__(extype, ex, tb)
        conn._txl_cause = "error"
        try:
            return await super().__aexit__(extype, ex, tb)
        finally:
            conn._txl_cause = None


def _no_rows(result):
    return None


def _len_rows(result):
    return len(result) if isinstance(result, list) else None


def _one_row(result):
    return 0 if result is None else 1


def _asyncpg_in_tx(conn):
    try:
        return conn.is_in_transaction()
    except Exception:
        return False


@_rt.guarded
def _asyncpg_register(conn):
    params = getattr(conn, "_params", None)
    addr = getattr(conn, "_addr", None)
    host = port = None
    if isinstance(addr, tuple) and addr:
        host, port = addr[0], (addr[1] if len(addr) > 1 else None)
    elif isinstance(addr, str):
        # A Unix socket path: the directory is what libpq would call the host.
        host = os.path.dirname(addr)
        port = addr.rpartition(".")[2] if addr.rpartition(".")[2].isdigit() else None
    db = _pg_db(getattr(params, "user", None), host, port, getattr(params, "database", None))
    conn._txl_cid = _register(conn, "asyncpg", db, _asyncpg_in_tx(conn))


_asyncpg_connection = None


def _asyncpg_connection_class(cls):
    if not isinstance(cls, type) or not issubclass(cls, _asyncpg_connection):
        return None
    if _is_traced_class(cls):
        return cls
    # No slots: our per-connection fields live in the instance dict, defaults on the mixin.
    return _traced_subclass(cls, _AsyncpgConnectionMixin)


def _wrap_asyncpg_connect(original):
    async def connect(*args, **kwargs):
        if not _rt.ACTIVE or _created_by_orm():
            return await original(*args, **kwargs)
        traced = _asyncpg_connection_class(kwargs.get("connection_class", _asyncpg_connection))
        if traced is None:
            return await original(*args, **kwargs)
        kwargs["connection_class"] = traced
        conn = await original(*args, **kwargs)
        if type(conn) is traced:
            _asyncpg_register(conn)
        return conn

    connect = _rt.same_signature(original, connect)
    connect._txl_traced = True
    return connect


def _hook_asyncpg(module):
    global _asyncpg_connection
    connection_module = sys.modules.get("asyncpg.connection")
    if connection_module is None:
        import asyncpg.connection as connection_module
    _asyncpg_connection = connection_module.Connection
    original = connection_module.connect
    if getattr(original, "_txl_traced", False):
        return
    wrapped = _wrap_asyncpg_connect(original)
    # Pools look up `asyncpg.connection.connect` when they are created.
    connection_module.connect = wrapped
    if getattr(module, "connect", None) is original:
        module.connect = wrapped


# ---------------------------------------------------------------------------


def install():
    """Hook each driver when it is imported (right away when it already is)."""
    _rt.register_import_hook("sqlite3", _hook_sqlite3)
    _rt.register_import_hook("psycopg2", _hook_psycopg2)
    _rt.register_import_hook("psycopg", _hook_psycopg)
    _rt.register_import_hook("asyncpg", _hook_asyncpg)
