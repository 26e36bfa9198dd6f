"""Every table, imported once so Alembic and the app see the same metadata."""

from sqlmodel import SQLModel

from backend.audit.models import AuditEntry
from backend.auth.models import Driver, RefreshToken
from backend.chain.models import ChainDeployment, ChainTransaction
from backend.consent.models import Consent
from backend.issuance.models import IssuedCredential, StatusChange, StatusList
from backend.orgs.models import ApiKey, Organisation
from backend.passports.models import Battery

metadata = SQLModel.metadata

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Battery",
    "ChainDeployment",
    "ChainTransaction",
    "Consent",
    "Driver",
    "IssuedCredential",
    "Organisation",
    "RefreshToken",
    "StatusChange",
    "StatusList",
    "metadata",
]
