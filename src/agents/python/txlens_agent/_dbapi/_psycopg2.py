"""psycopg2: connect() gets a traced connection_factory, whose cursors get a traced cursor_factory."""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

import sys
from operator import methodcaller

from .. import _runtime as _rt
from ._base import NO_KEYWORDS, TracedConnection, arg, created_by_orm, register, traced_call, traced_class_for
from ._postgres import LibpqState, libpq_probes, postgres_db

# psycopg2.extensions.connection and .cursor, set when psycopg2 is imported.
_connection = None
_cursor = None

_status, _in_tx = libpq_probes(methodcaller("get_transaction_status"))


class _CursorMixin(object):
    __slots__ = ()

    def execute(self, query, vars=None):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().execute(query, vars)
        return traced_call(super().execute, (query, vars), NO_KEYWORDS, conn, cid, in_tx=_in_tx, sql=query, params=vars, cursor=self)

    def executemany(self, query, vars_list):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().executemany(query, vars_list)
        method = super().executemany
        return traced_call(method, (query, vars_list), NO_KEYWORDS, conn, cid, in_tx=_in_tx, sql=query, params=vars_list, many=True, cursor=self)

    def callproc(self, procname, *args, **kwargs):
        conn = self.connection
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().callproc(procname, *args, **kwargs)
        sql, params = "CALL %s" % procname, arg(args, kwargs, 0, "parameters")
        return traced_call(super().callproc, (procname,) + args, kwargs, conn, cid, in_tx=_in_tx, sql=sql, params=params, cursor=self)


class _ConnectionMixin(LibpqState, TracedConnection):
    __slots__ = ()

    def _txl_status(self):
        return _status(self)

    def cursor(self, *args, **kwargs):
        if self._txl_cid is None:
            return super().cursor(*args, **kwargs)
        # cursor(name=None, cursor_factory=None, withhold=False, scrollable=None)
        if len(args) > 1:
            factory = args[1]
        else:
            factory = kwargs.get("cursor_factory") or self.cursor_factory or _cursor
        traced = traced_class_for(factory, _cursor, _CursorMixin, slots=())
        if traced is None:
            return super().cursor(*args, **kwargs)
        if len(args) > 1:
            args = args[:1] + (traced,) + args[2:]
        else:
            kwargs["cursor_factory"] = traced
        return super().cursor(*args, **kwargs)


@_rt.guarded
def _register(conn):
    info = conn.info
    register(conn, "psycopg2", postgres_db(info.user, info.host, info.port, info.dbname))


def _wrap_connect(original):
    def connect(dsn=None, connection_factory=None, cursor_factory=None, **kwargs):
        if not _rt.ACTIVE or "async" in kwargs or "async_" in kwargs or created_by_orm():
            return original(dsn, connection_factory=connection_factory, cursor_factory=cursor_factory, **kwargs)
        traced = traced_class_for(connection_factory or _connection, _connection, _ConnectionMixin)
        if traced is None:
            return original(dsn, connection_factory=connection_factory, cursor_factory=cursor_factory, **kwargs)
        conn = original(dsn, connection_factory=traced, cursor_factory=cursor_factory, **kwargs)
        if type(conn) is traced:
            _register(conn)
        return conn

    return _rt.dressed(original, connect)


def hook(module):
    global _cursor, _connection
    ext = sys.modules.get("psycopg2.extensions")
    if ext is None:
        import psycopg2.extensions as ext  # imported by psycopg2 itself already
    _cursor = ext.cursor
    _connection = ext.connection
    current = getattr(module, "connect", None)
    if current is not None and not _rt.is_agent_wrapper(current):
        module.connect = _wrap_connect(current)
