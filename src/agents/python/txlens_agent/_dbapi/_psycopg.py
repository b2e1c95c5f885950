"""psycopg 3, sync and async: Connection.connect / AsyncConnection.connect build a traced subclass.

The sync and the async connection share their state probes (libpq's status),
cursor() and transaction(); they differ only in which methods are coroutines,
which the base classes in `_base` take care of.
"""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

from operator import attrgetter

from .. import _runtime as _rt
from ._base import (
    AsyncTracedConnection,
    TracedConnection,
    created_by_orm,
    is_traced_class,
    reclass,
    register,
    savepoint_event,
    settle,
    traced_call,
    traced_call_async,
    traced_subclass,
)
from ._postgres import LibpqState, libpq_probes, postgres_db

_status, _in_tx = libpq_probes(attrgetter("pgconn.transaction_status"))


class _CursorMixin(object):
    __slots__ = ()

    def execute(self, query, params=None, *args, **kwargs):
        conn = self._conn
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().execute(query, params, *args, **kwargs)
        return traced_call(super().execute, (query, params) + args, kwargs, conn, cid, in_tx=_in_tx, sql=query, params=params, cursor=self)

    def executemany(self, query, params_seq, *args, **kwargs):
        conn = self._conn
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return super().executemany(query, params_seq, *args, **kwargs)
        method = super().executemany
        return traced_call(method, (query, params_seq) + args, kwargs, conn, cid, in_tx=_in_tx, sql=query, params=params_seq, many=True, cursor=self)


class _AsyncCursorMixin(object):
    __slots__ = ()

    async def execute(self, query, params=None, *args, **kwargs):
        conn = self._conn
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return await super().execute(query, params, *args, **kwargs)
        method = super().execute
        return await traced_call_async(method, (query, params) + args, kwargs, conn, cid, in_tx=_in_tx, sql=query, params=params, cursor=self)

    async def executemany(self, query, params_seq, *args, **kwargs):
        conn = self._conn
        cid = getattr(conn, "_txl_cid", None)
        if cid is None or not _rt.ACTIVE:
            return await super().executemany(query, params_seq, *args, **kwargs)
        method = super().executemany
        args = (query, params_seq) + args
        return await traced_call_async(method, args, kwargs, conn, cid, in_tx=_in_tx, sql=query, params=params_seq, many=True, cursor=self)


class _TransactionBlock(object):
    """Stands in for `conn.transaction()`'s context manager, reporting its BEGIN and its end."""

    __slots__ = ("_cm", "_conn", "_tx", "_savepoint")

    def __init__(self, cm, conn):
        self._cm = cm
        self._conn = conn
        self._tx = None
        self._savepoint = None

    def _entered(self, was_in_tx):
        conn = self._conn
        cid = conn._txl_cid
        if cid is not None and _rt.ACTIVE:
            self._savepoint = _block_entered(cid, was_in_tx, _in_tx(conn), self._tx)

    def _exited(self, exc_type, exc):
        conn = self._conn
        cid = conn._txl_cid
        if cid is None or not _rt.ACTIVE:
            return
        if _in_tx(conn):
            if self._savepoint:
                _savepoint_ended(cid, "release" if exc_type is None else "rollback", self._savepoint)
            return
        if exc_type is None:
            forced = getattr(self._tx, "force_rollback", False)
            settle(cid, False, "rollback" if forced else "commit", "explicit")
        else:
            explicit = type(exc).__name__ == "Rollback" and type(exc).__module__.startswith("psycopg")
            settle(cid, False, "rollback", "explicit" if explicit else "error")

    def __enter__(self):
        was_in_tx = _in_tx(self._conn)
        self._tx = self._cm.__enter__()
        self._entered(was_in_tx)
        return self._tx

    def __exit__(self, exc_type, exc, tb):
        try:
            return self._cm.__exit__(exc_type, exc, tb)
        finally:
            self._exited(exc_type, exc)

    async def __aenter__(self):
        was_in_tx = _in_tx(self._conn)
        self._tx = await self._cm.__aenter__()
        self._entered(was_in_tx)
        return self._tx

    async def __aexit__(self, exc_type, exc, tb):
        try:
            return await self._cm.__aexit__(exc_type, exc, tb)
        finally:
            self._exited(exc_type, exc)


@_rt.guarded
def _block_entered(cid, was_in_tx, now_in_tx, tx):
    if now_in_tx and not was_in_tx:
        # psycopg sent BEGIN because the code asked for a transaction block.
        _rt.tx_begin(cid, implicit=False)
    elif now_in_tx and was_in_tx:
        name = getattr(tx, "savepoint_name", None)
        if name:
            savepoint_event(cid, "begin", name)
            return name
    return None


@_rt.guarded
def _savepoint_ended(cid, action, name):
    savepoint_event(cid, action, name)


class _ConnectionCommon(LibpqState):
    """What psycopg's Connection and AsyncConnection share: state, cursors, transaction blocks."""

    __slots__ = ()
    _txl_cursor_mixin = None

    def _txl_status(self):
        return _status(self)

    def cursor(self, *args, **kwargs):
        cursor = super().cursor(*args, **kwargs)
        if self._txl_cid is not None:
            # Built by whatever cursor_factory is set, then made its traced subclass.
            cursor = reclass(cursor, self._txl_cursor_mixin)
        return cursor

    def transaction(self, *args, **kwargs):
        cm = super().transaction(*args, **kwargs)
        if self._txl_cid is None:
            return cm
        return _TransactionBlock(cm, self)


class _ConnectionMixin(_ConnectionCommon, TracedConnection):
    __slots__ = ()
    _txl_cursor_mixin = _CursorMixin


class _AsyncConnectionMixin(_ConnectionCommon, AsyncTracedConnection):
    __slots__ = ()
    _txl_cursor_mixin = _AsyncCursorMixin


@_rt.guarded
def _register(conn):
    info = conn.info
    register(conn, "psycopg", postgres_db(info.user, info.host, info.port, info.dbname))


def _wrap_connect(original, mixin):
    func = original.__func__

    def connect(cls, *args, **kwargs):
        if not _rt.ACTIVE or is_traced_class(cls) or created_by_orm():
            return func(cls, *args, **kwargs)
        conn = func(traced_subclass(cls, mixin), *args, **kwargs)
        _register(conn)
        return conn

    async def connect_async(cls, *args, **kwargs):
        if not _rt.ACTIVE or is_traced_class(cls) or created_by_orm():
            return await func(cls, *args, **kwargs)
        conn = await func(traced_subclass(cls, mixin), *args, **kwargs)
        _register(conn)
        return conn

    import inspect

    return classmethod(_rt.dressed(func, connect_async if inspect.iscoroutinefunction(func) else connect))


def hook(module):
    for cls_name, mixin in (("Connection", _ConnectionMixin), ("AsyncConnection", _AsyncConnectionMixin)):
        cls = getattr(module, cls_name, None)
        if cls is None:
            continue
        original = cls.__dict__.get("connect")
        if not isinstance(original, classmethod) or _rt.is_agent_wrapper(original.__func__):
            continue
        cls.connect = _wrap_connect(original, mixin)
    # `psycopg.connect` is `Connection.connect` bound when psycopg was imported.
    conn_cls = getattr(module, "Connection", None)
    current = getattr(module, "connect", None)
    if conn_cls is not None and current is not None and not _rt.is_agent_wrapper(getattr(current, "__func__", None)):
        module.connect = conn_cls.connect
