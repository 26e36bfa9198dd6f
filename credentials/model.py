"""VC Data Model 2.0 validation of credentials and presentations.

Each broken rule raises :class:`~credentials.errors.DataModelError` whose ``rule`` names it
(e.g. ``context.first``, ``issuer.url``, ``validUntil.order``). Structural rules are checked
on the JSON; term definitions (every type and property defined, no redefinition of a
protected term, no unknown context) are checked by strict JSON-LD expansion with the bundled
contexts. Status entries of types other than ours are carried as given: only the generic
rules (``type`` present, ``id`` a single URL) apply to them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from credentials import jsonld, templates
from credentials.contexts import CREDENTIALS_V2_URL
from credentials.errors import CredentialError, DataModelError, ErrorCode
from credentials.limits import DEFAULT_LIMITS, Limits, check_shape

_URL: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$")
# xsd:dateTimeStamp: a dateTime with a mandatory time zone
_DATETIME_STAMP: Final = re.compile(
    r"^-?\d{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$"
)
_LANGUAGE_VALUE_KEYS: Final = frozenset({"@value", "@language", "@direction"})


def is_url(value: Any) -> bool:
    """True if ``value`` is a string with a scheme and no whitespace (a URL/IRI)."""
    return isinstance(value, str) and bool(_URL.match(value))


def parse_datetime_stamp(value: Any, rule: str) -> datetime:
    """Parse an ``xsd:dateTimeStamp``; raise ``DataModelError(rule)`` if it is not one."""
    if not isinstance(value, str) or not _DATETIME_STAMP.match(value):
        raise DataModelError(rule, f"{value!r} is not an XML Schema dateTimeStamp")
    text = value.replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = re.match(r"\d+", rest)
        frac = digits.group(0) if digits else ""
        text = head + "." + frac[:6].ljust(6, "0") + rest[len(frac) :]
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise DataModelError(rule, f"{value!r} is not a valid date-time") from None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _check_context(document: Mapping[str, Any], kind: str) -> None:
    if "@context" not in document:
        raise DataModelError("context.required", f"a {kind} needs @context")
    ctx = document["@context"]
    items = _as_list(ctx)
    if not items or items[0] != CREDENTIALS_V2_URL:
        raise DataModelError(
            "context.first", f"the first @context item must be {CREDENTIALS_V2_URL}"
        )
    for item in items[1:]:
        if isinstance(item, str):
            if not is_url(item):
                raise DataModelError("context.url", f"@context item {item!r} is not a URL")
        elif not isinstance(item, dict):
            raise DataModelError("context.item", "@context items must be URLs or objects")


def _check_id(value: Any, rule: str) -> None:
    if not is_url(value):
        raise DataModelError(rule, f"id {value!r} must be a single URL")


def _check_type(document: Mapping[str, Any], required: str, rule: str) -> None:
    if "type" not in document:
        raise DataModelError(f"{rule}.required", "type is required")
    types = _as_list(document["type"])
    if not types or not all(isinstance(t, str) and t for t in types):
        raise DataModelError(f"{rule}.form", "type must be a string or a list of strings")
    if required not in types:
        raise DataModelError(f"{rule}.{required}", f"type must include {required}")


def _check_typed_objects(value: Any, rule: str, *, id_required: bool = False) -> None:
    """evidence, credentialStatus, termsOfUse, refreshService, credentialSchema: each item
    is an object with a ``type`` (strings) and, where present or required, one URL ``id``."""
    for item in _as_list(value):
        if not isinstance(item, dict):
            raise DataModelError(f"{rule}.object", f"{rule} items must be objects")
        if "type" not in item:
            raise DataModelError(f"{rule}.type", f"each {rule} needs a type")
        types = _as_list(item["type"])
        if not types or not all(isinstance(t, str) and t for t in types):
            raise DataModelError(f"{rule}.type", f"{rule}.type must be string(s)")
        if "id" in item or id_required:
            _check_id(item.get("id"), f"{rule}.id")


def _check_language_values(value: Any, rule: str) -> None:
    for item in _as_list(value):
        if isinstance(item, str):
            continue
        if not isinstance(item, dict) or "@value" not in item:
            raise DataModelError(rule, f"{rule} must be a string or language value object")
        extra = set(item) - _LANGUAGE_VALUE_KEYS
        if extra:
            raise DataModelError(rule, f"{rule} value object has extra members {sorted(extra)}")
        if not isinstance(item["@value"], str):
            raise DataModelError(rule, f"{rule} @value must be a string")


def _check_related_resources(value: Any) -> None:
    seen: set[str] = set()
    for item in _as_list(value):
        if not isinstance(item, dict):
            raise DataModelError("relatedResource.object", "relatedResource items are objects")
        _check_id(item.get("id"), "relatedResource.id")
        if item["id"] in seen:
            raise DataModelError("relatedResource.unique", f"duplicate id {item['id']}")
        seen.add(item["id"])
        if "digestSRI" not in item and "digestMultibase" not in item:
            raise DataModelError(
                "relatedResource.digest", "relatedResource needs digestSRI or digestMultibase"
            )


def _check_proofs(document: Mapping[str, Any], limits: Limits) -> None:
    if "proof" not in document:
        return
    proofs = _as_list(document["proof"])
    if len(proofs) > limits.max_proofs:
        raise DataModelError("proof.count", f"more than {limits.max_proofs} proofs")
    for proof in proofs:
        if not isinstance(proof, dict) or not isinstance(proof.get("type"), str):
            raise DataModelError("proof.type", "each proof is an object with a type")


def _expand_for_terms(document: Mapping[str, Any]) -> None:
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    try:
        # Same strict checks as expansion. A shape with a template has passed them for
        # every value its slots can take (credentials.templates), so the quads themselves
        # are not needed here; any other document takes full expansion.
        try:
            shaped = templates.shape_expands(unsecured)
        except (TypeError, ValueError):
            shaped = False  # not JSON: full expansion raises the typed error
        if not shaped:
            jsonld.to_quads(unsecured)
    except CredentialError as exc:
        rule = {
            ErrorCode.CONTEXT_UNKNOWN: "context.unknown",
            ErrorCode.UNDEFINED_TERM: "terms.defined",
        }.get(exc.code, "jsonld.valid")
        raise DataModelError(rule, exc.message) from None


def validate_credential(
    document: Any,
    *,
    limits: Limits = DEFAULT_LIMITS,
    check_terms: bool = True,
    now: datetime | None = None,
) -> None:
    """Validate a verifiable credential against the VC Data Model 2.0 normative rules.

    ``check_terms`` runs strict JSON-LD expansion (unknown contexts, undefined terms,
    protected term redefinition). ``now`` is unused by the data model (validity is the
    verifier's ``validity_period`` check) and accepted for symmetry.
    """
    del now
    if not isinstance(document, dict):
        raise DataModelError("credential.object", "a credential must be a JSON object")
    try:
        check_shape(document, limits)
    except CredentialError as exc:
        raise DataModelError("limits", exc.message) from None
    _check_context(document, "credential")
    if "id" in document:
        _check_id(document["id"], "id.url")
    _check_type(document, "VerifiableCredential", "type")
    if "type" in document and "EnvelopedVerifiableCredential" in _as_list(document["type"]):
        raise DataModelError("type.enveloped", "an enveloped credential is not a credential")
    # issuer
    if "issuer" not in document:
        raise DataModelError("issuer.required", "issuer is required")
    issuer = document["issuer"]
    if isinstance(issuer, dict):
        _check_id(issuer.get("id"), "issuer.url")
        if "name" in issuer:
            _check_language_values(issuer["name"], "issuer.name")
        if "description" in issuer:
            _check_language_values(issuer["description"], "issuer.description")
    else:
        _check_id(issuer, "issuer.url")
    # subject
    if "credentialSubject" not in document:
        raise DataModelError("credentialSubject.required", "credentialSubject is required")
    subjects = _as_list(document["credentialSubject"])
    if not subjects:
        raise DataModelError("credentialSubject.required", "credentialSubject is empty")
    for subject in subjects:
        if not isinstance(subject, dict):
            raise DataModelError("credentialSubject.object", "credentialSubject is an object")
        if not subject:
            raise DataModelError("credentialSubject.claims", "a subject needs claims or an id")
        if "id" in subject:
            _check_id(subject["id"], "credentialSubject.id")
    for member in ("name", "description"):
        if member in document:
            _check_language_values(document[member], member)
    # validity
    valid_from = valid_until = None
    if "validFrom" in document:
        valid_from = parse_datetime_stamp(document["validFrom"], "validFrom.datetime")
    if "validUntil" in document:
        valid_until = parse_datetime_stamp(document["validUntil"], "validUntil.datetime")
    if valid_from and valid_until and valid_from > valid_until:
        raise DataModelError("validUntil.order", "validFrom is later than validUntil")
    # typed members
    if "credentialStatus" in document:
        statuses = _as_list(document["credentialStatus"])
        if len(statuses) > limits.max_status_entries:
            raise DataModelError("credentialStatus.count", "too many status entries")
        _check_typed_objects(statuses, "credentialStatus")
    if "credentialSchema" in document:
        _check_typed_objects(document["credentialSchema"], "credentialSchema", id_required=True)
    for member in ("evidence", "termsOfUse", "refreshService"):
        if member in document:
            _check_typed_objects(document[member], member)
    if "relatedResource" in document:
        _check_related_resources(document["relatedResource"])
    _check_proofs(document, limits)
    if check_terms:
        _expand_for_terms(document)


def _check_enveloped(item: Mapping[str, Any], kind: str) -> None:
    ctx = _as_list(item.get("@context"))
    if not ctx or ctx[0] != CREDENTIALS_V2_URL:
        raise DataModelError(f"{kind}.context", "enveloped credential needs the v2 context")
    if item.get(
        "type"
    ) != "EnvelopedVerifiableCredential" and "EnvelopedVerifiableCredential" not in _as_list(
        item.get("type")
    ):
        raise DataModelError(f"{kind}.type", "type must be EnvelopedVerifiableCredential")
    ident = item.get("id")
    if not isinstance(ident, str) or not ident.startswith("data:"):
        raise DataModelError(f"{kind}.id", "an enveloped credential's id is a data: URL")


def validate_presentation(
    document: Any, *, limits: Limits = DEFAULT_LIMITS, check_terms: bool = True
) -> None:
    """Validate a verifiable presentation (and each credential it carries).

    Enveloped credentials (``EnvelopedVerifiableCredential`` with a ``data:`` URL id) are
    checked for form only.
    """
    if not isinstance(document, dict):
        raise DataModelError("presentation.object", "a presentation must be a JSON object")
    try:
        check_shape(document, limits)
    except CredentialError as exc:
        raise DataModelError("limits", exc.message) from None
    _check_context(document, "presentation")
    if "id" in document:
        _check_id(document["id"], "id.url")
    _check_type(document, "VerifiablePresentation", "type")
    if "holder" in document:
        holder = document["holder"]
        if isinstance(holder, dict):
            _check_id(holder.get("id"), "holder.url")
        else:
            _check_id(holder, "holder.url")
    credentials = _as_list(document.get("verifiableCredential", []))
    if len(credentials) > limits.max_credentials_in_presentation:
        raise DataModelError("verifiableCredential.count", "too many credentials")
    for item in credentials:
        if not isinstance(item, dict):
            raise DataModelError(
                "verifiableCredential.object", "verifiableCredential items must be objects"
            )
        if "EnvelopedVerifiableCredential" in _as_list(item.get("type")) or (
            isinstance(item.get("id"), str) and str(item["id"]).startswith("data:")
        ):
            _check_enveloped(item, "verifiableCredential")
        else:
            try:
                validate_credential(item, limits=limits, check_terms=check_terms)
            except DataModelError as exc:
                raise DataModelError(f"verifiableCredential.{exc.rule}", exc.message) from None
    _check_proofs(document, limits)
    if check_terms:
        unsecured = {
            k: v for k, v in document.items() if k not in ("proof", "verifiableCredential")
        }
        _expand_for_terms(unsecured)
