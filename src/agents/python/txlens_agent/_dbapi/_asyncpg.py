"""asyncpg: connect() (also what pools call) gets a traced connection_class."""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

import os
import sys

from .. import _runtime as _rt
from ._base import Closing, ConnectionState, ErrorCause, created_by_orm, reclass, register, settle, traced_call_async, traced_class_for
from ._postgres import postgres_db

# asyncpg.connection.Connection, set when asyncpg is imported.
_connection = None


def _in_tx(conn):
    try:
        return conn._protocol.is_in_transaction()
    except Exception:
        return False


# What a call returned, as the statement's row count.


def _status_rows(status):
    if isinstance(status, str):
        tail = status.rpartition(" ")[2]
        if tail.isdigit():
            return int(tail)
    return None


def _no_rows(result):
    return None


def _len_rows(result):
    return len(result) if isinstance(result, list) else None


def _one_row(result):
    return 0 if result is None else 1


class _ConnectionMixin(ConnectionState):
    __slots__ = ()
    _txl_quiet = False

    def _txl_in_tx(self):
        return _in_tx(self)

    def _txl_closed(self, raised):
        # close() and terminate() leave the connection unusable even when they raise.
        return True

    async def _txl_run(self, method, query, args, kwargs, rows_of, params=None, many=False):
        cid = self._txl_cid
        if cid is None or self._txl_quiet or not _rt.ACTIVE:
            return await method(query, *args, **kwargs)
        return await traced_call_async(
            method, (query,) + args, kwargs, self, cid, in_tx=_in_tx, sql=query, params=params, many=many, rows_of=rows_of, cause=self._txl_cause
        )

    async def execute(self, query, *args, **kwargs):
        return await self._txl_run(super().execute, query, args, kwargs, _status_rows, params=args or None)

    async def executemany(self, command, args, **kwargs):
        return await self._txl_run(super().executemany, command, (args,), kwargs, _no_rows, params=args, many=True)

    async def fetch(self, query, *args, **kwargs):
        return await self._txl_run(super().fetch, query, args, kwargs, _len_rows, params=args or None)

    async def fetchrow(self, query, *args, **kwargs):
        return await self._txl_run(super().fetchrow, query, args, kwargs, _one_row, params=args or None)

    async def fetchval(self, query, *args, **kwargs):
        return await self._txl_run(super().fetchval, query, args, kwargs, _no_rows, params=args or None)

    async def fetchmany(self, query, args, **kwargs):
        return await self._txl_run(super().fetchmany, query, (args,), kwargs, _len_rows, params=args, many=True)

    def transaction(self, *args, **kwargs):
        tr = super().transaction(*args, **kwargs)
        if self._txl_cid is not None:
            tr = reclass(tr, _TransactionMixin)
        return tr

    async def close(self, *args, **kwargs):
        cid = self._txl_cid
        if cid is None:
            return await super().close(*args, **kwargs)
        with Closing(self, cid):
            return await super().close(*args, **kwargs)

    def terminate(self):
        cid = self._txl_cid
        if cid is None:
            return super().terminate()
        with Closing(self, cid):
            return super().terminate()

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
            if not _in_tx(self):
                settle(cid, False, "rollback", "pool-reset")


class _TransactionMixin(object):
    __slots__ = ()

    async def __aexit__(self, extype, ex, tb):
        conn = self._connection
        if extype is None or getattr(conn, "_txl_cid", None) is None:
            return await super().__aexit__(extype, ex, tb)
        with ErrorCause(conn):
            return await super().__aexit__(extype, ex, tb)


@_rt.guarded
def _register(conn):
    params = getattr(conn, "_params", None)
    addr = getattr(conn, "_addr", None)
    host = port = None
    if isinstance(addr, tuple) and addr:
        host, port = addr[0], (addr[1] if len(addr) > 1 else None)
    elif isinstance(addr, str):
        # A Unix socket path: the directory is what libpq would call the host.
        host = os.path.dirname(addr)
        port = addr.rpartition(".")[2] if addr.rpartition(".")[2].isdigit() else None
    register(conn, "asyncpg", postgres_db(getattr(params, "user", None), host, port, getattr(params, "database", None)))


def _wrap_connect(original):
    async def connect(*args, **kwargs):
        if not _rt.ACTIVE or created_by_orm():
            return await original(*args, **kwargs)
        # No slots: our per-connection fields live in the instance dict, defaults on the mixin.
        traced = traced_class_for(kwargs.get("connection_class", _connection), _connection, _ConnectionMixin)
        if traced is None:
            return await original(*args, **kwargs)
        kwargs["connection_class"] = traced
        conn = await original(*args, **kwargs)
        if type(conn) is traced:
            _register(conn)
        return conn

    return _rt.dressed(original, connect)


def hook(module):
    global _connection
    connection_module = sys.modules.get("asyncpg.connection")
    if connection_module is None:
        import asyncpg.connection as connection_module
    _connection = connection_module.Connection
    original = connection_module.connect
    if _rt.is_agent_wrapper(original):
        return
    wrapped = _wrap_connect(original)
    # Pools look up `asyncpg.connection.connect` when they are created.
    connection_module.connect = wrapped
    if getattr(module, "connect", None) is original:
        module.connect = wrapped
