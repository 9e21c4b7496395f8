"""Importing the register from a TOML or CSV file: all or nothing.

Everything is checked first (each field's form, duplicates in the file, references to vendors and schools, entries
that differ from what is registered), and every problem is reported with the file, the line or entry and the field.
Only a file without problems is written, in one transaction.

TOML::

    [[vendor]]
    oin = "00000001234567890000"          # text: a number would lose its leading zeros
    naam = "Voorbeeld LAS B.V."
    gekwalificeerd = true
    gekwalificeerd_sinds = 2024-08-01     # optional, only for a qualified vendor

    [[school]]
    brin = "12AB"
    vestiging = "00"
    sector = "PO"                         # PO, VO or SWV
    naam = "Basisschool De Voorbeeld"

    [[aanleverpunt]]
    routeringskenmerk = "000000070000012AB001"
    brin = "12AB"
    vestiging = "00"
    vendor_oin = "00000001234567890000"
    document_url = "https://las.example/oso/aanleverpunt"
    notificatie_url = "https://las.example/oso/doelsysteem"   # optional
    actief = true                                              # optional, default true

CSV: a header with a ``kind`` column (vendor, school, aanleverpunt) and the field names above as the other columns;
a row fills the columns of its kind and leaves the others empty. Comma or semicolon separated, UTF-8.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable

from ..oso import identifiers as ids
from ..oso.register import Aanleverpunt, RegisterError, School, Sector, Vendor
from .repository import Repository

KINDS = ("vendor", "school", "aanleverpunt")


class ImportFailed(Exception):
    """The file has problems; nothing was imported. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Entry:
    kind: str
    where: str  # "register.csv:4" or "register.toml [[school]] #2"
    value: Vendor | School | Aanleverpunt

    @property
    def key(self) -> tuple:
        v = self.value
        if isinstance(v, Vendor):
            return ("vendor", v.oin)
        if isinstance(v, School):
            return ("school", v.brin, v.vestiging)
        return ("aanleverpunt", v.routeringskenmerk)


@dataclass
class ImportResult:
    """How many entries of each kind were added, updated, or found as they were."""

    added: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def summary(self) -> str:
        per_kind = ", ".join(f"{self.added[k] + self.updated[k] + self.unchanged[k]} {k}" for k in KINDS)
        return (f"{sum(self.added.values())} added, {sum(self.updated.values())} updated, "
                f"{sum(self.unchanged.values())} unchanged ({per_kind})")


# ---- the fields of each kind ---------------------------------------------------------------------------------------

def _check(predicate: Callable[[str], bool], message: str) -> Callable[[str], str | None]:
    return lambda value: None if predicate(value) else message.format(value=value)


_OIN = _check(ids.is_oin, "OIN {value!r} is malformed: exactly 20 digits")
_BRIN = _check(ids.is_brin, "BRIN {value!r} is malformed: two digits and two capitals, e.g. 00YY")
_VESTIGING = _check(ids.is_vestiging, "vestiging {value!r} is malformed: two digits, e.g. 00")
_RK = _check(ids.is_routeringskenmerk, "routeringskenmerk {value!r} is malformed: 20 digits or capitals")
_SECTOR = _check(lambda v: v in {s.value for s in Sector}, "sector {value!r} is not PO, VO or SWV")
_URL = _check(lambda v: v.startswith(("http://", "https://")), "{value!r} is not an http(s) URL")
_NAAM = _check(lambda v: bool(v.strip()), "a name must not be empty")


@dataclass(frozen=True)
class _Field:
    kind: type  # str, bool or date
    required: bool = True
    check: Callable[[str], str | None] | None = None
    default: Any = None


FIELDS: dict[str, dict[str, _Field]] = {
    "vendor": {
        "oin": _Field(str, check=_OIN),
        "naam": _Field(str, check=_NAAM),
        "gekwalificeerd": _Field(bool, required=False, default=False),
        "gekwalificeerd_sinds": _Field(date, required=False),
    },
    "school": {
        "brin": _Field(str, check=_BRIN),
        "vestiging": _Field(str, check=_VESTIGING),
        "sector": _Field(str, check=_SECTOR),
        "naam": _Field(str, check=_NAAM),
    },
    "aanleverpunt": {
        "routeringskenmerk": _Field(str, check=_RK),
        "brin": _Field(str, check=_BRIN),
        "vestiging": _Field(str, check=_VESTIGING),
        "vendor_oin": _Field(str, check=_OIN),
        "document_url": _Field(str, check=_URL),
        "notificatie_url": _Field(str, required=False, check=_URL),
        "actief": _Field(bool, required=False, default=True),
    },
}
_BUILD = {"vendor": Vendor, "school": School, "aanleverpunt": Aanleverpunt}
_TRUE = {"true", "ja", "yes", "1", "j", "y"}
_FALSE = {"false", "nee", "no", "0", "n"}


def _from_text(kind: type, text: str) -> Any:
    """A CSV cell as the field's type (raises ValueError with the reason)."""
    if kind is bool:
        word = text.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ValueError(f"{text!r} is not true or false")
    if kind is date:
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    return text.strip()


def _from_toml(kind: type, value: Any) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not true or false")
        return value
    if kind is date:
        if isinstance(value, date) and not hasattr(value, "hour"):
            return value
        if isinstance(value, str):
            return _from_text(date, value)
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} must be text: put it in quotes (an OIN or BRIN keeps its leading zeros only "
                         "as text)")
    return value.strip()


def _entry(kind: str, raw: dict[str, Any], where: str, convert: Callable[[type, Any], Any],
           problems: list[str]) -> Entry | None:
    spec = FIELDS[kind]
    values: dict[str, Any] = {}
    ok = True
    for name, value in raw.items():
        if name not in spec:
            problems.append(f"{where}: {name}: unknown field for a {kind} (known: {', '.join(spec)})")
            ok = False
            continue
        try:
            value = convert(spec[name].kind, value)
        except ValueError as exc:
            problems.append(f"{where}: {name}: {exc}")
            ok = False
            continue
        message = spec[name].check(value) if spec[name].check and isinstance(value, str) else None
        if message:
            problems.append(f"{where}: {name}: {message}")
            ok = False
            continue
        values[name] = value
    for name, f in spec.items():
        if name not in raw:
            if f.required:
                needed = ", ".join(n for n, g in spec.items() if g.required)
                problems.append(f"{where}: {name}: missing (a {kind} needs {needed})")
                ok = False
            elif f.default is not None:
                values[name] = f.default
    if not ok:
        return None
    try:
        return Entry(kind, where, _BUILD[kind](**values))
    except RegisterError as exc:
        problems.append(f"{where}: {exc}")
        return None


# ---- reading ---------------------------------------------------------------------------------------------------

def read_file(path: str | Path) -> list[Entry]:
    """The entries of a .toml or .csv file, every one checked on its own; raises ImportFailed."""
    path = Path(path)
    name = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFailed([f"{path}: cannot read it: {exc.strerror or exc}"]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed([f"{name}: not UTF-8 text (byte {exc.start})"]) from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        return _read_toml(name, text)
    if suffix == ".csv":
        return _read_csv(name, text)
    raise ImportFailed([f"{name}: unknown format {path.suffix or '(no extension)'!r}: use a .toml or .csv file"])


def _read_toml(name: str, text: str) -> list[Entry]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ImportFailed([f"{name}: not valid TOML: {exc}"]) from None
    problems: list[str] = []
    entries: list[Entry] = []
    for key, value in doc.items():
        if key not in KINDS:
            problems.append(f"{name}: unknown table {key!r} (use [[vendor]], [[school]], [[aanleverpunt]])")
        elif not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            problems.append(f"{name}: {key} must be an array of tables: [[{key}]]")
    for kind in KINDS:
        items = doc.get(kind, [])
        if not isinstance(items, list):
            continue
        for i, raw in enumerate(items, 1):
            if isinstance(raw, dict):
                entry = _entry(kind, raw, f"{name} [[{kind}]] #{i}", _from_toml, problems)
                if entry is not None:
                    entries.append(entry)
    _check_duplicates(entries, problems)
    if problems:
        raise ImportFailed(problems)
    if not entries:
        raise ImportFailed([f"{name}: no [[vendor]], [[school]] or [[aanleverpunt]] entries"])
    return entries


def _read_csv(name: str, text: str) -> list[Entry]:
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFailed([f"{name}: empty file"]) from None
    known = {"kind"} | {f for spec in FIELDS.values() for f in spec}
    problems = [f"{name}:1: column {h!r} is unknown (known: kind, {', '.join(sorted(known - {'kind'}))})"
                for h in header if h not in known]
    if "kind" not in header:
        problems.append(f"{name}:1: the header needs a 'kind' column (vendor, school or aanleverpunt)")
    if len(set(header)) != len(header):
        problems.append(f"{name}:1: a column appears twice")
    if problems:
        raise ImportFailed(problems)
    entries: list[Entry] = []
    try:
        for cells in reader:
            where = f"{name}:{reader.line_num}"
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if len(cells) > len(header):
                problems.append(f"{where}: {len(cells)} cells, but the header has {len(header)} columns")
                continue
            row = {h: c for h, c in zip(header, cells, strict=False) if c.strip()}  # a short row: empty cells
            kind = row.pop("kind", "").strip().lower()
            if kind not in KINDS:
                problems.append(f"{where}: kind: {kind or '(empty)'!r} is not vendor, school or aanleverpunt")
                continue
            for column in [c for c in row if c not in FIELDS[kind]]:
                problems.append(f"{where}: {column}: does not apply to a {kind}: leave it empty")
                row.pop(column)
            entry = _entry(kind, row, where, _from_text, problems)
            if entry is not None:
                entries.append(entry)
    except csv.Error as exc:
        problems.append(f"{name}:{reader.line_num}: not valid CSV: {exc}")
    _check_duplicates(entries, problems)
    if problems:
        raise ImportFailed(problems)
    if not entries:
        raise ImportFailed([f"{name}: no rows to import"])
    return entries


def _describe(key: tuple) -> str:
    if key[0] == "school":
        return f"school {key[1]} vestiging {key[2]}"
    return f"{key[0]} {key[1]}"


def _check_duplicates(entries: list[Entry], problems: list[str]) -> None:
    seen: dict[tuple, str] = {}
    for e in entries:
        if e.key in seen:
            problems.append(f"{e.where}: duplicate: {_describe(e.key)} is also at {seen[e.key]}")
        else:
            seen[e.key] = e.where


# ---- applying ----------------------------------------------------------------------------------------------------

def _registered(repo: Repository, e: Entry):
    v = e.value
    if isinstance(v, Vendor):
        return repo.vendor(v.oin)
    if isinstance(v, School):
        return repo.school(v.brin, v.vestiging)
    return repo.aanleverpunt(v.routeringskenmerk)


def apply(repo: Repository, entries: list[Entry], *, update: bool = False) -> ImportResult:
    """Check the entries against the register, then write them (in the caller's transaction); raises ImportFailed
    before writing anything when there is a problem. An entry equal to the registered one is left alone; one that
    differs is a problem, unless ``update``."""
    problems: list[str] = []
    in_file = {e.key for e in entries}
    plan: list[tuple[Entry, str]] = []  # (entry, "add" | "update" | "unchanged")
    for e in entries:
        current = _registered(repo, e)
        if current is None:
            plan.append((e, "add"))
        elif current == e.value:
            plan.append((e, "unchanged"))
        elif update:
            plan.append((e, "update"))
        else:
            problems.append(f"{e.where}: {_describe(e.key)} is already registered with other values "
                            "(import --update changes it)")
        if isinstance(e.value, Aanleverpunt):
            a = e.value
            if ("school", a.brin, a.vestiging) not in in_file and repo.school(a.brin, a.vestiging) is None:
                problems.append(f"{e.where}: brin/vestiging: unknown school {a.brin} vestiging {a.vestiging}: "
                                "not registered and not in the file")
            if ("vendor", a.vendor_oin) not in in_file and repo.vendor(a.vendor_oin) is None:
                problems.append(f"{e.where}: vendor_oin: unknown vendor {a.vendor_oin}: "
                                "not registered and not in the file")
    if problems:
        raise ImportFailed(problems)
    result = ImportResult()
    for kind in KINDS:  # vendors and schools before the aanleverpunten that refer to them
        for e, action in plan:
            if e.kind != kind:
                continue
            if action == "add":
                getattr(repo, f"add_{kind}")(e.value)
            elif action == "update":
                getattr(repo, f"update_{kind}")(e.value)
            getattr(result, {"add": "added", "update": "updated", "unchanged": "unchanged"}[action])[kind] += 1
    return result
