"""docs/faults.md stays true: every rule id it names is a rule of the gateway, every fault code it names is one the
gateway answers with, and every rule of the gateway appears in it."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.wsse import errors, ns
from gateway.wsse.errors import RULES

DOC = Path(__file__).resolve().parents[1] / "docs" / "faults.md"
PREFIX = {"soapenv": ns.SOAP11, "wsse": ns.WSSE, "wsu": ns.WSU, "wsa": ns.WSA}


def _table_rows() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8").split("## Rule → fault code → Digikoppeling code", 1)[1]
    text = text.split("\n## ", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| `")]


def test_the_fault_table_names_only_rules_and_codes_the_gateway_has():
    codes = {cls.faultcode for cls in vars(errors).values() if isinstance(cls, type)
             and issubclass(cls, errors.SecurityError)} | {(ns.WSA, "ActionNotSupported")}  # set in checks.py
    seen_rules = set()
    for rules, faultcode, _dk in _table_rows():
        named = set(re.findall(r"`([A-Z][A-Z0-9-]+)`", rules))
        assert named and named <= set(RULES), named - set(RULES)
        seen_rules |= named
        prefix, local = faultcode.strip("`").split(":")
        assert (PREFIX[prefix], local) in codes, faultcode
    assert set(RULES) <= seen_rules, sorted(set(RULES) - seen_rules)


def test_the_receivers_order_names_only_rules_the_gateway_has():
    text = DOC.read_text(encoding="utf-8").split("## What a receiver checks, in order", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([A-Z][A-Z0-9-]+)`", text))
    assert named and named <= set(RULES), named - set(RULES)
