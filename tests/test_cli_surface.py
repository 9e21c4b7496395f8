"""One CLI surface: every sub-command's --help explains every option and ends with the one exit-status table,
--version answers, --database/--config go where a user puts them, and the environment names are the config keys."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from gateway import __version__
from gateway.commands import build_parser
from gateway.commands.common import EXIT_CODES
from gateway.config import ENV_PREFIX, Config

ROOT = Path(__file__).resolve().parents[1]


def _walk(parser: argparse.ArgumentParser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, (*path, name))


COMMANDS = list(_walk(build_parser()))


def test_the_walk_finds_every_command():
    names = {" ".join(p) for p, _ in COMMANDS}
    for expected in ("serve", "demo", "transfer", "school klaarzetten", "register vendor add", "register import",
                     "conformance source", "validate", "sign", "verify", "diagnose", "trace", "purge",
                     "operator add", "pki issue", "bundles fetch"):
        assert expected in names


@pytest.mark.parametrize("path,parser", COMMANDS, ids=[" ".join(p) or "oso-gateway" for p, _ in COMMANDS])
def test_every_option_has_help_and_the_exit_table_ends_the_help(path, parser):
    missing = [a.option_strings[-1] if a.option_strings else a.dest for a in parser._actions
               if not isinstance(a, argparse._SubParsersAction) and not (a.help and a.help.strip())
               and a.help is not argparse.SUPPRESS]
    assert not missing, f"oso-gateway {' '.join(path)}: options without help: {missing}"
    assert parser.format_help().rstrip().endswith(EXIT_CODES.rstrip().splitlines()[-1].strip())


def test_version():
    r = subprocess.run([sys.executable, "-m", "gateway", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"oso-gateway {__version__}"


def test_a_usage_error_is_exit_2_and_names_the_problem():
    r = subprocess.run([sys.executable, "-m", "gateway", "purge", "--no-such-option"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "unrecognized arguments: --no-such-option" in r.stderr


def test_database_and_config_are_taken_at_every_level_of_a_command():
    """`oso-gateway register --database URL vendor add …` and `… vendor add --database URL` both work: every group
    on the way to a command that takes --database (or --config) takes it too."""
    by_path = dict(COMMANDS)
    for path, parser in COMMANDS:
        for option in ("--database", "--config"):
            if option not in parser._option_string_actions or len(path) < 2:
                continue
            for depth in range(1, len(path)):
                ancestor = by_path[path[:depth]]
                assert option in ancestor._option_string_actions, (
                    f"oso-gateway {' '.join(path)} takes {option}, but {' '.join(path[:depth])} does not")
    ns = build_parser().parse_args(["register", "--database", "sqlite:///a.db", "vendor", "add", "--oin", "1",
                                    "--naam", "x"])
    assert ns.database == "sqlite:///a.db"
    ns = build_parser().parse_args(["register", "vendor", "add", "--oin", "1", "--naam", "x", "--database",
                                    "sqlite:///b.db"])
    assert ns.database == "sqlite:///b.db"


def test_every_environment_name_in_the_sources_is_a_config_key():
    keys = {ENV_PREFIX + f.name.upper() for f in fields(Config)}
    named = set()
    for path in (ROOT / "gateway").rglob("*.py"):
        named |= set(re.findall(r"\bOSO_GATEWAY_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    for path in [ROOT / "README.md", ROOT / "Makefile", *(ROOT / "docs").glob("*.md")]:
        named |= set(re.findall(r"\bOSO_GATEWAY_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    named.discard("OSO_GATEWAY_")
    assert named <= keys, f"environment names that are no config key: {sorted(named - keys)}"
