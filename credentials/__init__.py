"""Standalone W3C Verifiable Credentials library of the battery passport platform.

No import of ``backend/`` or ``graphql_schema/``; no network at run time. See
``credentials/README.md`` for the public API with a runnable example.
"""

from credentials.dataintegrity import Cryptosuite, ProofOptions, add_proof, verify_proof
from credentials.did import (
    DidResolver,
    StaticDocumentFetcher,
    build_did_document,
    did_web_to_url,
    org_did_web,
)
from credentials.errors import CredentialError, DataModelError, ErrorCode
from credentials.issuance import assign_issuer, issue, sign_presentation
from credentials.jose import envelope, issue_vc_jwt
from credentials.keys import KeyAlgorithm, KeyPair, PublicKey, Signer
from credentials.keystore import FileKeyStore
from credentials.model import validate_credential, validate_presentation
from credentials.snapshot import Snapshot, write_snapshot
from credentials.statuslist import (
    Bitstring,
    StatusListCredentialBuilder,
    StatusPurpose,
    allocate_index,
    make_status_entry,
)
from credentials.verifier import (
    PLATFORM_POLICY,
    VC_API_POLICY,
    CheckName,
    CheckStatus,
    VerificationPolicy,
    VerificationResult,
    Verifier,
)
from credentials.vocab import BATTERY_CONTEXT_URL, PASSPORT_TERMS, VOCAB_IRI

__all__ = [
    "BATTERY_CONTEXT_URL",
    "PASSPORT_TERMS",
    "PLATFORM_POLICY",
    "VC_API_POLICY",
    "VOCAB_IRI",
    "Bitstring",
    "CheckName",
    "CheckStatus",
    "CredentialError",
    "Cryptosuite",
    "DataModelError",
    "DidResolver",
    "ErrorCode",
    "FileKeyStore",
    "KeyAlgorithm",
    "KeyPair",
    "ProofOptions",
    "PublicKey",
    "Signer",
    "Snapshot",
    "StaticDocumentFetcher",
    "StatusListCredentialBuilder",
    "StatusPurpose",
    "VerificationPolicy",
    "VerificationResult",
    "Verifier",
    "add_proof",
    "allocate_index",
    "assign_issuer",
    "build_did_document",
    "did_web_to_url",
    "envelope",
    "issue",
    "issue_vc_jwt",
    "make_status_entry",
    "org_did_web",
    "sign_presentation",
    "validate_credential",
    "validate_presentation",
    "verify_proof",
    "write_snapshot",
]
