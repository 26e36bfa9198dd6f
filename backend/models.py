"""Every table, imported once so Alembic and the app see the same metadata."""

from sqlmodel import SQLModel

from backend.chain.models import ChainDeployment, ChainTransaction
from backend.issuance.models import IssuedCredential, StatusChange, StatusList
from backend.orgs.models import ApiKey, Organisation
from backend.passports.models import Battery

metadata = SQLModel.metadata

__all__ = [
    "ApiKey",
    "Battery",
    "ChainDeployment",
    "ChainTransaction",
    "IssuedCredential",
    "Organisation",
    "StatusChange",
    "StatusList",
    "metadata",
]
