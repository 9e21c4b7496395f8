"""What the store refuses. Register conflicts are RegisterErrors (bad input for the register), so a caller that
already answers a RegisterError with a clear message answers these the same way."""

from __future__ import annotations

from ..oso.register import RegisterError


class StoreError(Exception):
    """A failure of the store itself (not of the input)."""


class ConcurrentUpdate(StoreError):
    """Another transaction changed (or removed) the session since it was read: read it again and retry the step."""

    def __init__(self, sessie_id: str, versie: int):
        self.sessie_id, self.versie = sessie_id, versie
        super().__init__(f"sessie {sessie_id} was changed by another transaction since version {versie}")


class RegisterConflict(RegisterError):
    """A register write that contradicts what the register holds."""


class DuplicateEntry(RegisterConflict):
    """The entry is registered already."""


class UnknownEntry(RegisterConflict):
    """The entry, or one it refers to, is not registered."""
