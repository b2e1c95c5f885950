"""What the PostgreSQL drivers share: the `db` of their connect event, and libpq's transaction status."""

# pytest leaves frames of a module with this global out of the tracebacks it
# shows: an error raised through an agent wrapper reads as the user's own.
__tracebackhide__ = True

from ._base import ConnectionState


def postgres_db(user, host, port, dbname):
    """The connect event's `db` for a PostgreSQL connection (its URL never holds a password)."""
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
    db["url"] = _url(user, host, port, dbname)
    return db


def _url(user, host, port, dbname):
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


# libpq PQtransactionStatus: IDLE 0, ACTIVE 1, INTRANS 2, INERROR 3, UNKNOWN 4.
PQ_INTRANS = 2
PQ_INERROR = 3


def pq_in_tx(status):
    return status == PQ_INTRANS or status == PQ_INERROR


def libpq_probes(read_status):
    """A libpq driver's `(status, in_tx)` probes, from how it reads PQtransactionStatus.

    `read_status(conn)` is the driver's own accessor; a connection whose status
    cannot be read (closed, broken) has status None and is not in a transaction.
    """

    def status(conn):
        try:
            return read_status(conn)
        except Exception:
            return None

    def in_tx(conn):
        return pq_in_tx(status(conn))

    return status, in_tx


class LibpqState(ConnectionState):
    """State probes of a libpq-based connection (psycopg2, psycopg 3 sync and async).

    Subclasses say how to read the connection's libpq transaction status
    (`_txl_status`); the rest is the same for every such driver.
    """

    __slots__ = ()

    def _txl_status(self):
        raise NotImplementedError

    def _txl_in_tx(self):
        return pq_in_tx(self._txl_status())

    def _txl_failed(self):
        return self._txl_status() == PQ_INERROR

    def _txl_closed(self, raised):
        return not raised and bool(self.closed)
