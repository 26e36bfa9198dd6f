"""Typed errors of the credentials library.

Every expected failure raises a subclass of :class:`CredentialError` carrying a machine
``code`` (a :class:`ErrorCode`) and, for data-model violations, the ``rule`` that was broken.
Callers map these to GraphQL error unions or VC-API problem details.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Machine-readable error codes."""

    CONTEXT_UNKNOWN = "context_unknown"
    CONTEXT_DIGEST_MISMATCH = "context_digest_mismatch"
    JSONLD_ERROR = "jsonld_error"
    UNDEFINED_TERM = "undefined_term"
    INPUT_TOO_LARGE = "input_too_large"
    INVALID_KEY = "invalid_key"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    KEY_NOT_FOUND = "key_not_found"
    KEYSTORE_ERROR = "keystore_error"
    INVALID_DID = "invalid_did"
    DID_RESOLUTION_FAILED = "did_resolution_failed"
    VERIFICATION_METHOD_NOT_FOUND = "verification_method_not_found"
    INVALID_PROOF = "invalid_proof"
    UNSUPPORTED_CRYPTOSUITE = "unsupported_cryptosuite"
    CANONICALIZATION_LIMIT = "canonicalization_limit"
    INVALID_NQUADS = "invalid_nquads"
    STATUS_LIST_ERROR = "status_list_error"
    STATUS_LIST_FULL = "status_list_full"
    DATA_MODEL = "data_model"
    SNAPSHOT_ERROR = "snapshot_error"


class CredentialError(Exception):
    """Base class of every error this library raises on purpose."""

    code: ErrorCode = ErrorCode.JSONLD_ERROR

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message


class ContextError(CredentialError):
    """A JSON-LD context is unknown (never fetched) or its bytes do not match the pin."""

    code = ErrorCode.CONTEXT_UNKNOWN


class JsonLdProcessingError(CredentialError):
    """JSON-LD expansion / RDF conversion failed, or a term was undefined."""

    code = ErrorCode.JSONLD_ERROR


class InputLimitError(CredentialError):
    """Untrusted input exceeded a hard bound (bytes, depth, proofs, blank nodes...)."""

    code = ErrorCode.INPUT_TOO_LARGE


class KeyMaterialError(CredentialError):
    """A key is malformed, of an unsupported type, or not found."""

    code = ErrorCode.INVALID_KEY


class KeyStoreError(CredentialError):
    """The key store cannot read, decrypt or write a key."""

    code = ErrorCode.KEYSTORE_ERROR


class DidError(CredentialError):
    """A DID is malformed, cannot be resolved, or lacks the requested method."""

    code = ErrorCode.INVALID_DID


class ProofError(CredentialError):
    """A Data Integrity proof is malformed, unsupported or does not verify."""

    code = ErrorCode.INVALID_PROOF


class CanonicalizationError(CredentialError):
    """RDFC-1.0 refused the input (work bound exceeded, or malformed N-Quads)."""

    code = ErrorCode.CANONICALIZATION_LIMIT


class StatusListError(CredentialError):
    """A Bitstring Status List is malformed, too small, or an index is out of range."""

    code = ErrorCode.STATUS_LIST_ERROR


class DataModelError(CredentialError):
    """A VC Data Model 2.0 normative rule is broken; ``rule`` names it."""

    code = ErrorCode.DATA_MODEL

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule


class SnapshotError(CredentialError):
    """An offline snapshot directory is missing or malformed."""

    code = ErrorCode.SNAPSHOT_ERROR
