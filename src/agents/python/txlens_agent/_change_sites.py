"""Change sites: the user line that changed an ORM object, for the statement a flush sends for it.

A flush (autoflush before a query, `flush()`, `commit()`) sends the INSERT,
UPDATE and DELETE statements for objects changed earlier, often far from the
line that triggers it. The stack at that moment shows the trigger, not the
change. So the agent notes, cheaply, where each object changed:

- `Session._save_impl`: an object becomes pending (`add`, `add_all`, a
  save-update cascade, `merge` of a new object); the line is the `add`.
- `Session._delete_impl`: an object is marked for deletion (`delete`, and the
  delete cascade it starts); the line is the `delete`.
- the identity map's `_modified` set: SQLAlchemy adds a persistent object's
  state to it exactly once per clean-to-dirty transition (InstanceState.
  _modified_event), so replacing that set with a subclass whose `add` looks up
  the user frame costs one frame walk per object per flush cycle, never one per
  attribute write. Later writes to an already dirty object are not seen: the
  site is the first change since the object was last flushed.

At flush time the persistence functions (`_emit_insert_statements`,
`_emit_update_statements`, `_emit_post_update_statements`,
`_emit_delete_statements`) run one `Connection.execute` per group of records,
in record order, each consuming as many records as it has parameter sets. The
records' states are queued as SQLAlchemy draws them, and each new execution
context takes its share from the front of the queue. Its statement is then
reported at the first of those objects' change sites, with the flush's own
line as `flushAt` and the other objects' distinct sites as `alsoAt`.

Statements a flush sends without records of their own (many-to-many rows,
lazy loads the unit of work needs) and objects without a known site keep the
flush's line, as before. Sites are dropped once their flush is over, so a
later flush never reports an old line.
"""

import contextvars
import threading

from . import _runtime as rt

_SITE = "_txlens_change_at"
_MAX_ALSO = 5

_scope_var = contextvars.ContextVar("txlens_flush_scope", default=None)

# How many flushes are running right now, in any thread or task: the statement
# hook reads this plain global first, so statements outside a flush pay one
# global lookup and no context-variable access. Counted per flush, not per
# persistence call: a flush makes several of those, most with nothing to send.
FLUSHING = 0
_flushing_lock = threading.Lock()


class _FlushScope(object):
    __slots__ = ("emitting", "queue", "pos", "ctx", "site", "also", "flush_at", "flushed")

    def __init__(self):
        self.emitting = False
        self.queue = None
        self.pos = 0
        self.ctx = None
        self.site = None
        self.also = None
        self.flush_at = None
        self.flushed = []


def _note(state, at):
    if at is not None:
        state.__dict__[_SITE] = at


# ---------------------------------------------------------------------------
# Where objects change


class _DirtyStates(set):
    """The identity map's set of modified states; `add` is SQLAlchemy's clean-to-dirty moment."""

    __slots__ = ()

    def add(self, state):
        # Inside a flush SQLAlchemy dirties objects itself (foreign keys it copies, every
        # new object it registers as persistent): no user line changed them.
        if rt.ACTIVE and state not in self and _scope_var.get() is None:
            _dirtied(state)
        set.add(self, state)


@rt.guarded
def _dirtied(state):
    # Frames out: _dirtied <- guarded hook <- add <- _modified_event / the identity map.
    _note(state, rt.user_frame(4))


def _identity_map_init(original):
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if rt.ACTIVE and type(self._modified) is set and not self._modified:
            self._modified = _DirtyStates()

    return __init__


def _session_save_impl(save_impl):
    def _save_impl(self, state):
        if not rt.ACTIVE or state in self._new:
            return save_impl(self, state)
        result = save_impl(self, state)
        _pending(state)
        return result

    return _save_impl


def _session_delete_impl(delete_impl):
    def _delete_impl(self, state, *args, **kwargs):
        if not rt.ACTIVE or state.key is None or state in self._deleted:
            return delete_impl(self, state, *args, **kwargs)
        result = delete_impl(self, state, *args, **kwargs)
        _deleted(state)
        return result

    return _delete_impl


def _session_flush(flush):
    def _flush(self, *args, **kwargs):
        if not rt.ACTIVE:
            return flush(self, *args, **kwargs)
        global FLUSHING
        scope = _FlushScope()
        token = _scope_var.set(scope)
        with _flushing_lock:
            FLUSHING += 1
        try:
            return flush(self, *args, **kwargs)
        finally:
            with _flushing_lock:
                FLUSHING -= 1
            _scope_var.reset(token)
            _forget(scope)

    return _flush


@rt.guarded
def _pending(state):
    # Frames out: _pending <- guarded hook <- _save_impl wrapper <- Session internals <- add.
    _note(state, rt.user_frame(4))


@rt.guarded
def _deleted(state):
    _note(state, rt.user_frame(4))


@rt.guarded
def _forget(scope):
    for state in scope.flushed:
        if state is not None:
            state.__dict__.pop(_SITE, None)
    scope.flushed = None


# ---------------------------------------------------------------------------
# The flush's statements


def _queue_states(records, queue):
    # Insert, update and post-update records start with the object's state.
    for record in records:
        queue.append(record[0])
        yield record


def _emitting(original, records_carry_state):
    def emit_statements(base_mapper, uowtransaction, *args, **kwargs):
        scope = _scope_var.get() if uowtransaction is not None else None
        # Bulk operations pass no unit of work: their statements stay at the executing line.
        if scope is None or scope.emitting or len(args) < 3 or not rt.ACTIVE:
            return original(base_mapper, uowtransaction, *args, **kwargs)
        queue = []
        if records_carry_state:
            args = args[:2] + (_queue_states(args[2], queue),) + args[3:]
        scope.queue = queue
        scope.pos = 0
        scope.ctx = None
        scope.emitting = True
        try:
            return original(base_mapper, uowtransaction, *args, **kwargs)
        finally:
            scope.emitting = False
            scope.ctx = None
            if scope.flushed is not None:
                scope.flushed.extend(queue)
            scope.queue = None

    return emit_statements


def _collecting_deletes(original):
    # DELETE records are (parameters, connection): the state is taken from the
    # input, one state at a time through SQLAlchemy's own generator, so the
    # states it skips (tables their mapper does not have) are skipped here too.
    def _collect_delete_commands(base_mapper, uowtransaction, table, states_to_delete):
        # save_obj and delete_obj ask once per table, mostly with nothing to delete.
        if not states_to_delete or not rt.ACTIVE:
            return original(base_mapper, uowtransaction, table, states_to_delete)
        scope = _scope_var.get()
        if scope is None:
            return original(base_mapper, uowtransaction, table, states_to_delete)
        return _deletes_with_states(original, base_mapper, uowtransaction, table, states_to_delete, scope)

    return _collect_delete_commands


def _deletes_with_states(original, base_mapper, uowtransaction, table, states_to_delete, scope):
    for entry in states_to_delete:
        for record in original(base_mapper, uowtransaction, table, (entry,)):
            queue = scope.queue
            if queue is not None:
                queue.append(entry[0])
            yield record


def attribute(event, context):
    """Give a flushed statement its objects' change site (`at`), the flush's line (`flushAt`) and the others (`alsoAt`)."""
    scope = _scope_var.get()
    if scope is None or not scope.emitting:
        return
    if context is not scope.ctx:
        if context is None or not (context.isinsert or context.isupdate or context.isdelete):
            return
        params = context.compiled_parameters
        count = len(params) if params else 1
        start = scope.pos
        scope.pos = start + count
        scope.ctx = context
        site = None
        also = None
        for state in scope.queue[start : start + count]:
            at = state.__dict__.get(_SITE) if state is not None else None
            if at is None:
                continue
            if site is None:
                site = at
            elif at != site and (also is None or (at not in also and len(also) < _MAX_ALSO)):
                if also is None:
                    also = []
                also.append(at)
        scope.site = site
        scope.also = also
    site = scope.site
    if site is None:
        return
    flush_at = scope.flush_at
    if flush_at is None:
        # The line that made the flush happen: the statement's own first user frame.
        flush_at = scope.flush_at = rt.user_frame(3)
    event["at"] = site
    if flush_at is not None:
        event["flushAt"] = flush_at
    if scope.also is not None:
        event["alsoAt"] = list(scope.also)


def install_orm():
    """Hook the Session, the identity map and the persistence functions (sqlalchemy.orm is imported)."""
    from sqlalchemy.orm import identity, persistence
    from sqlalchemy.orm.session import Session

    rt.wrap_attribute(identity.IdentityMap, "__init__", _identity_map_init)
    rt.wrap_attribute(Session, "_save_impl", _session_save_impl)
    rt.wrap_attribute(Session, "_delete_impl", _session_delete_impl)
    rt.wrap_attribute(Session, "_flush", _session_flush)
    for name, carries_state in (
        ("_emit_insert_statements", True),
        ("_emit_update_statements", True),
        ("_emit_post_update_statements", True),
        ("_emit_delete_statements", False),
    ):
        rt.wrap_attribute(persistence, name, lambda original, carries_state=carries_state: _emitting(original, carries_state))
    rt.wrap_attribute(persistence, "_collect_delete_commands", _collecting_deletes)
