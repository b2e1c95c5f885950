"""sqlite3: the traced Connection and Cursor take the driver classes' places in the module."""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

import os
import sys

from .. import _runtime as _rt
from ._base import TracedConnection, arg, created_by_orm, register, settle, traced_call, traced_class_for

# The driver's own classes and the traced default cursor, set when sqlite3 is imported.
_Connection = None
_Cursor = None
_base_cursor = None
_default_cursor = None


def _in_tx(conn):
    try:
        return conn.in_transaction
    except Exception:
        return False


class _CursorMixin(object):
    __slots__ = ()

    def execute(self, *args, **kwargs):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().execute(*args, **kwargs)
        sql, params = arg(args, kwargs, 0, "sql"), arg(args, kwargs, 1, "parameters")
        return traced_call(super().execute, args, kwargs, conn, cid, in_tx=_in_tx, sql=sql, params=params, cursor=self)

    def executemany(self, *args, **kwargs):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().executemany(*args, **kwargs)
        sql, params = arg(args, kwargs, 0, "sql"), arg(args, kwargs, 1, "seq_of_parameters")
        return traced_call(super().executemany, args, kwargs, conn, cid, in_tx=_in_tx, sql=sql, params=params, many=True, cursor=self)

    def executescript(self, *args, **kwargs):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().executescript(*args, **kwargs)
        # executescript COMMITs a pending transaction before running the script.
        sql = arg(args, kwargs, 0, "sql_script")
        return traced_call(super().executescript, args, kwargs, conn, cid, in_tx=_in_tx, sql=sql, commit_by_default=True)


class _ConnectionMixin(TracedConnection):
    __slots__ = ()

    def _txl_in_tx(self):
        return _in_tx(self)

    def cursor(self, *args, **kwargs):
        if self._txl_cid is None:
            return super().cursor(*args, **kwargs)
        traced = _cursor_class(arg(args, kwargs, 0, "factory") or _default_cursor)
        if traced is None:
            return super().cursor(*args, **kwargs)
        return super().cursor(traced)

    # The C versions of these make a plain cursor internally, bypassing cursor().
    def execute(self, *args, **kwargs):
        if self._txl_cid is None:
            return super().execute(*args, **kwargs)
        return _base_cursor(self, _default_cursor).execute(*args, **kwargs)

    def executemany(self, *args, **kwargs):
        if self._txl_cid is None:
            return super().executemany(*args, **kwargs)
        return _base_cursor(self, _default_cursor).executemany(*args, **kwargs)

    def executescript(self, *args, **kwargs):
        if self._txl_cid is None:
            return super().executescript(*args, **kwargs)
        return _base_cursor(self, _default_cursor).executescript(*args, **kwargs)

    def __exit__(self, exc_type, exc, tb):
        cid = self._txl_cid
        if cid is None or not _rt.ACTIVE:
            return super().__exit__(exc_type, exc, tb)
        try:
            return super().__exit__(exc_type, exc, tb)
        finally:
            # The C __exit__ commits or rolls back without calling our methods.
            now_in_tx = _in_tx(self)
            if not now_in_tx or exc_type is None:
                settle(cid, now_in_tx, "commit" if exc_type is None else "rollback", "error")


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


def _stand_in(modules, name, traced, real):
    traced._txl_stands_for = real
    for module in modules:
        if module is not None and getattr(module, name, None) is real:
            setattr(module, name, traced)


def _cursor_class(factory):
    return traced_class_for(factory, _Cursor, _CursorMixin, slots=(), metaclass=_StandIn if factory is _Cursor else type)


def _connection_class(factory):
    return traced_class_for(factory, _Connection, _ConnectionMixin, metaclass=_StandIn if factory is _Connection else type)


# ---------------------------------------------------------------------------
# Connections that are a tool's, not the project's

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
    f = sys._getframe(2)
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


# ---------------------------------------------------------------------------
# Connecting


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


@_rt.guarded
def _register(conn, database, uri):
    register(conn, "sqlite3", _sqlite_db(database, uri))


_FACTORY_POSITION = 5  # connect(database, timeout, detect_types, isolation_level, check_same_thread, factory, ...)


def _wrap_connect(original):
    def connect(*args, **kwargs):
        if not _rt.ACTIVE or created_by_orm():
            return original(*args, **kwargs)
        positional_factory = len(args) > _FACTORY_POSITION
        factory = args[_FACTORY_POSITION] if positional_factory else kwargs.get("factory", _Connection)
        traced = _connection_class(factory)
        if traced is None:
            return original(*args, **kwargs)
        if positional_factory:
            args = args[:_FACTORY_POSITION] + (traced,) + args[_FACTORY_POSITION + 1 :]
        else:
            kwargs["factory"] = traced
        database, uri = arg(args, kwargs, 0, "database"), arg(args, kwargs, 7, "uri")
        if _tool_connect(database, uri):
            # Not traced at all: a tool's data file is not one of the project's databases,
            # and its statements would only be taken for the project's.
            return original(*args, **kwargs)
        conn = original(*args, **kwargs)
        if type(conn) is traced:
            _register(conn, database, uri)
        return conn

    return _rt.dressed(original, connect)


def hook(module):
    global _base_cursor, _default_cursor, _Connection, _Cursor
    dbapi2 = sys.modules.get("sqlite3.dbapi2")
    if _Connection is None:
        _Connection = module.Connection
        _Cursor = module.Cursor
    _base_cursor = _Connection.cursor
    _default_cursor = _cursor_class(_Cursor)
    _stand_in((module, dbapi2), "Cursor", _default_cursor, _Cursor)
    _stand_in((module, dbapi2), "Connection", _connection_class(_Connection), _Connection)
    for mod in (module, dbapi2):
        if mod is None:
            continue
        current = getattr(mod, "connect", None)
        if current is None or _rt.is_agent_wrapper(current):
            continue
        mod.connect = _wrap_connect(current)

