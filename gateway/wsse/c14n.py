"""Exclusive XML canonicalisation (WB007) of one element in place, with InclusiveNamespaces PrefixLists.

lxml hands the PrefixList to libxml2 only for prefixes already interned in the document's dictionary. The
token ``#default`` (the default namespace, which Apache WSS4J lists whenever one is in scope) is never a name in a
document, so lxml silently drops it and the digest comes out wrong. lxml keeps one dictionary per thread; a pull
parser asked to filter on the tag ``#default`` interns the string there, once per thread.
"""

from __future__ import annotations

import threading

from lxml import etree

_primed = threading.local()


def _intern_default_token() -> None:
    if getattr(_primed, "done", False):
        return
    parser = etree.XMLPullParser(events=("start",), tag="#default")
    parser.feed(b"<x/>")
    parser.close()
    _primed.done = True


def exc_c14n(element: etree._Element, inclusive_prefixes: list[str] | None = None) -> bytes:
    """The exclusive canonical form (without comments) of ``element`` where it stands in its document."""
    if inclusive_prefixes:
        if "#default" in inclusive_prefixes:
            _intern_default_token()
        return etree.tostring(
            element, method="c14n", exclusive=True, with_comments=False, inclusive_ns_prefixes=inclusive_prefixes
        )
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)
