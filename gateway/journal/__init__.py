"""The message journal, sans-IO: what one exchange leaves behind (never pupil data), and how a transfer's
messages are read back: the cause of a failure and the party that must act."""

from .entry import JournalEntry, entry_from_exchange

__all__ = ["JournalEntry", "entry_from_exchange"]
