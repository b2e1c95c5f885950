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

One module per driver; `_base` holds what they share (the traced call of a
statement, the ends of a transaction, the traced classes), `_postgres` what
the three PostgreSQL drivers share.
"""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

import importlib

from .. import _runtime as _rt

# Each driver's library, and the module of ours that hooks it: loaded only when the
# library is, so a process pays for the drivers it uses.
_DRIVERS = (("sqlite3", "_sqlite3"), ("psycopg2", "_psycopg2"), ("psycopg", "_psycopg"), ("asyncpg", "_asyncpg"))


def install():
    """Hook each driver when it is imported (right away when it already is)."""
    for library, module in _DRIVERS:
        _rt.register_import_hook(library, _hooking_with(module))


def _hooking_with(module):
    def hook(library):
        importlib.import_module("." + module, __name__).hook(library)

    return hook
