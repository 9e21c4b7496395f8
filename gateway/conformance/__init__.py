"""The conformance suite: vendors test their own source or target against the chain's rules, any time, offline.

``catalogue`` lists the scenarios (stable ids, rule, severity, what is sent and expected, how to fix); ``source``
and ``target`` run the two roles (the suite plays the other parties: its own Traffic Center, a target, a test
school); ``judge`` reads an answer part by part; ``mutations`` builds hostile messages the way an attacker would;
``report`` writes JUnit XML and one self-contained HTML page; ``live`` is the terminal view; ``reference`` runs
the whole suite against the gateway's own reference source and target (gateway/commands/conformance.py: the
commands).
"""

from .catalogue import BY_ID, CHAIN_RULES, MUST, SCENARIOS, SHOULD, Scenario
from .results import ERROR, FAILED, NOT_APPLICABLE, PASSED, Result, RunReport

__all__ = ["BY_ID", "CHAIN_RULES", "ERROR", "FAILED", "MUST", "NOT_APPLICABLE", "PASSED", "Result", "RunReport",
           "SCENARIOS", "SHOULD", "Scenario"]
