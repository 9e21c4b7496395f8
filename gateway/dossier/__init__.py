"""Dossier validation: the official Edustandaard bundles (XSD + business-rule XSLT) plus the gateway's own checks.

Sans-IO: ``validate(data: bytes, bundles) -> Report``. Bundles are loaded from a directory once and kept
(``load_bundles``); everything else is plain functions over bytes and lxml trees.
"""

from .attachments import AttachmentLimits, check_attachments, inspect_zip
from .bundles import Bundle, BundleError, BundleRegistry, NoBundle, load_bundle, load_bundles, profile_for
from .findings import (BUSINESS_RULE, CANNOT_VALIDATE, ERROR, GATEWAY, INFO, INVALID, RULES, SCHEMA, VALID, WARNING,
                       Finding, Report)
from .identity import (KENNISNET_TEST_SCHOOL, IdentityPolicy, TestSchool, bsn_valid, check_identity,
                       onderwijsnummer_valid)
from .release import Transfer, check_release
from .validate import DEFAULT_POLICY, DossierPolicy, validate, validate_tree

__all__ = [
    "AttachmentLimits", "BUSINESS_RULE", "Bundle", "BundleError", "BundleRegistry", "CANNOT_VALIDATE",
    "DEFAULT_POLICY", "DossierPolicy", "ERROR", "Finding", "GATEWAY", "INFO", "INVALID", "IdentityPolicy",
    "KENNISNET_TEST_SCHOOL", "NoBundle", "RULES", "Report", "SCHEMA", "TestSchool", "Transfer", "VALID", "WARNING",
    "bsn_valid", "check_attachments", "check_identity", "check_release", "inspect_zip", "load_bundle",
    "load_bundles", "onderwijsnummer_valid", "profile_for", "validate", "validate_tree",
]
