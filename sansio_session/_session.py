# The handler's session: a mutable mapping of JSON values, plus intents.
#
# The mapping is plain data; the cookie lives beside it (session.cookie),
# never inside it. Whether the data changed is decided at the end of the
# request by comparing its JSON with the JSON it started from (express's
# fingerprint), so a change deep inside a nested list counts. To keep a
# request that only reads cheap, we serialise the starting point lazily: the
# first time the handler could change the data (a write, or a read that hands
# out a dict or a list it could mutate), the session asks the machine to take
# the fingerprint first. A handler that reads only strings and numbers costs
# no JSON work at all.
#
# The intents (regenerate, destroy, reload, save) need the store, so they go
# through the machine, which emits an action, and through the driver's
# executor, which runs it: in a framework they return an awaitable (a
# coroutine, a Deferred); with the synchronous runner they complete at once.
from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, NoReturn
from weakref import ref

from ._errors import UsageError

if TYPE_CHECKING:
    from ._machine import SessionMachine
    from ._record import SessionCookie

__all__ = ["Session"]

_MUTABLE = (dict, list)


class _Gone(dict[str, Any]):
    # What a session's data becomes once it is destroyed or unset: every use
    # fails loudly instead of silently changing nothing.
    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise UsageError("the session was destroyed or unset; it has no data")

    __getitem__ = __setitem__ = __delitem__ = __iter__ = __len__ = __contains__ = _refuse
    get = pop = popitem = setdefault = update = clear = keys = values = items = copy = _refuse


GONE: dict[str, Any] = _Gone()


class Session(MutableMapping[str, Any]):
    """The session of one request: its data as a mapping, its id and cookie.

    Keys are strings; values must be JSON-serialisable (checked when saved).
    ``regenerate()``, ``destroy()``, ``reload()`` and ``save()`` need the
    store: under a driver, await what they return.
    """

    __slots__ = ("_data", "_pristine", "_machine_ref", "cookie")

    def __init__(self, machine: SessionMachine, data: dict[str, Any], cookie: SessionCookie) -> None:
        # Weakly: the machine holds its session, and a cycle between the two
        # would leave every request's session to the garbage collector
        # instead of freeing it as soon as the request lets go.
        self._machine_ref = ref(machine)
        self._data = data
        self._pristine = True
        self.cookie = cookie

    @property
    def _machine(self) -> SessionMachine:
        machine = self._machine_ref()
        if machine is None:
            raise UsageError("the request this session belonged to is over")
        return machine

    def _spoil(self) -> None:
        self._machine._before_change()
        self._pristine = False

    def _spoil_for_read(self) -> None:
        # Reading after the commit (a WebSocket's open(), say) is fine: the
        # decision is taken, so there is no starting point left to keep.
        if self._machine._can_change():
            self._spoil()

    # The mapping. Reads that can hand out a mutable value spoil first.
    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        if self._pristine and isinstance(value, _MUTABLE):
            self._spoil_for_read()
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._data.get(key, default)
        if self._pristine and isinstance(value, _MUTABLE):
            self._spoil_for_read()
        return value

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"session keys are strings, not {type(key).__name__}")
        if key == "cookie":
            # The record keeps the cookie under this name beside the data.
            raise KeyError("'cookie' is reserved; use session.cookie")
        if self._pristine:
            self._spoil()
        else:
            self._machine._use()  # a change is legal only while the handler runs
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        if self._pristine:
            self._spoil()
        else:
            self._machine._use()  # a change is legal only while the handler runs
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def values(self) -> Any:
        if self._pristine:
            self._spoil_for_read()
        return self._data.values()

    def items(self) -> Any:
        if self._pristine:
            self._spoil_for_read()
        return self._data.items()

    def clear(self) -> None:
        if self._pristine:
            self._spoil()
        else:
            self._machine._use()  # a change is legal only while the handler runs
        self._data.clear()

    def __repr__(self) -> str:
        return f"<Session {self._machine.describe_id()} {len(self._data)} keys>"

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the data, as plain JSON values."""
        return self._machine._data_copy()

    # Identity and state.
    @property
    def id(self) -> str:
        return self._machine.sid

    @property
    def is_new(self) -> bool:
        """True when the session was created during this request."""
        return self._machine.is_new

    # Intents that need the store.
    def regenerate(self, *, keep_data: bool = False) -> Any:
        """Replace the session by a new one with a new id; the old is destroyed.

        ``keep_data=True`` moves the data to the new id (for a login, as a
        defence against session fixation that keeps a shopping cart).
        """
        return self._machine._intent_regenerate(keep_data)

    def destroy(self) -> Any:
        """Destroy the session in the store; the request goes on without one."""
        return self._machine._intent_destroy()

    def reload(self) -> Any:
        """Replace the data with what the store holds now."""
        return self._machine._intent_reload()

    def save(self) -> Any:
        """Save the session now, before the end of the request."""
        return self._machine._intent_save()

    # Intents that need no store.
    def touch(self) -> None:
        """Reset the cookie's expiry to now + its original max age."""
        self._machine._use()
        self.cookie.reset_max_age(self._machine.now_ms)

    @property
    def user(self) -> str | None:
        """The user id this session is bound to, or None."""
        return self.cookie.user

    def bind(self, user: str) -> None:
        """Bind the session to a user id, for "log out everywhere".

        Stores that keep a per-user index list the user's sessions
        (``sessions_of``) and destroy them all at once (``destroy_all``).
        """
        if not isinstance(user, str) or not user or len(user) > 256 or not user.isprintable():
            raise ValueError("a user id is 1 to 256 printable characters")
        self._machine._use()
        if user != self.cookie.user:
            # A binding is stored like a change of the data (and a new
            # session that gets one is saved and sent).
            self._machine._user_changed = True
            self.cookie.user = user

    def unset(self) -> None:
        """Drop the session from the request (``req.session = null``).

        With ``unset="keep"`` the stored session stays as it was; with
        ``unset="destroy"`` it is destroyed at the end of the request.
        """
        self._machine._intent_unset()
