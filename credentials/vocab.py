"""The battery-passport vocabulary: context URL, vocabulary IRI and the attribute→term table.

``PASSPORT_TERMS`` maps each of the 93 attributes of the EU Annex XIII itemisation
(DIN DKE SPEC 99100, ``shared/passport-attributes.csv``, keyed by its row number ``no``) to
the JSON property name used in credentials. The backend uses exactly these names; the
bundled context ``battery-passport-v1.jsonld`` defines every one of them under
:data:`VOCAB_IRI`. A test keeps the table, the CSV and the context in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

BATTERY_CONTEXT_URL: Final = "https://w3id.org/battery-passport/v1"
"""URL of the battery-passport JSON-LD context (served by the platform at this path)."""

VOCAB_IRI: Final = "https://w3id.org/battery-passport/vocab#"
"""Base IRI of every battery-passport term."""


@dataclass(frozen=True, slots=True)
class PassportTerm:
    """One passport attribute: its CSV row number, DIN DKE SPEC 99100 clause and JSON term."""

    no: int
    clause: str
    term: str

    @property
    def iri(self) -> str:
        """The full vocabulary IRI of the term."""
        return VOCAB_IRI + self.term


# (no, clause, term). Names are camelCase and shortened where the attribute title is a
# sentence; the clause keeps the link to the specification.
_TABLE: Final = (
    (1, "6.1.2.1", "batteryPassportIdentifier"),
    (2, "6.1.2.2", "batteryIdentifier"),
    (3, "6.1.2.3", "operatorInformation"),
    (4, "6.1.2.4", "manufacturerInformation"),
    (5, "6.1.3.1", "manufacturingPlace"),
    (6, "6.1.3.2", "manufacturingDate"),
    (7, "6.1.3.3", "puttingIntoServiceDate"),
    (8, "6.1.3.4", "warrantyPeriod"),
    (9, "6.1.3.5", "batteryCategory"),
    (10, "6.1.3.6", "batteryMass"),
    (11, "6.1.3.7", "batteryStatus"),
    (12, "6.2.2", "separateCollectionSymbol"),
    (13, "6.2.3", "cadmiumLeadSymbols"),
    (14, "6.2.4", "carbonFootprintLabel"),
    (15, "6.2.5", "extinguishingAgent"),
    (16, "6.2.6", "labelsMeaning"),
    (17, "6.2.7", "euDeclarationOfConformity"),
    (18, "6.2.8", "complianceTestReports"),
    (19, "6.3.2", "carbonFootprintPerFunctionalUnit"),
    (20, "6.3.3", "carbonFootprintRawMaterialShare"),
    (21, "6.3.4", "carbonFootprintProductionShare"),
    (22, "6.3.5", "carbonFootprintDistributionShare"),
    (23, "6.3.6", "carbonFootprintEndOfLifeShare"),
    (24, "6.3.7", "carbonFootprintPerformanceClass"),
    (25, "6.3.8", "carbonFootprintStudyUrl"),
    (26, "6.3.9", "carbonFootprintGeneralInformation"),
    (27, "6.3.10", "absoluteCarbonFootprint"),
    (28, "6.4.2", "dueDiligenceReport"),
    (29, "6.4.3", "thirdPartyAssurances"),
    (30, "6.4.4", "supplyChainIndices"),
    (31, "6.5.2", "batteryChemistry"),
    (32, "6.5.3", "criticalRawMaterials"),
    (33, "6.5.4", "cathodeAnodeElectrolyteMaterials"),
    (34, "6.5.5", "hazardousSubstances"),
    (35, "6.5.6", "substanceImpact"),
    (36, "6.6.1.2", "dismantlingInformation"),
    (37, "6.6.1.3", "componentPartNumbers"),
    (38, "6.6.1.4", "sparePartSources"),
    (39, "6.6.1.5", "safetyMeasures"),
    (40, "6.6.2.3", "preConsumerRecycledNickelShare"),
    (41, "6.6.2.4", "preConsumerRecycledCobaltShare"),
    (42, "6.6.2.5", "preConsumerRecycledLithiumShare"),
    (43, "6.6.2.6", "preConsumerRecycledLeadShare"),
    (44, "6.6.2.7", "postConsumerRecycledNickelShare"),
    (45, "6.6.2.8", "postConsumerRecycledCobaltShare"),
    (46, "6.6.2.9", "postConsumerRecycledLithiumShare"),
    (47, "6.6.2.10", "postConsumerRecycledLeadShare"),
    (48, "6.6.2.11", "renewableContentShare"),
    (49, "6.6.3.2", "endUserWastePreventionRole"),
    (50, "6.6.3.3", "endUserSeparateCollectionRole"),
    (51, "6.6.3.4", "collectionSecondLifeTreatmentInformation"),
    (52, "6.7.2.2", "ratedCapacity"),
    (53, "6.7.2.3", "remainingCapacity"),
    (54, "6.7.2.4", "capacityFade"),
    (55, "6.7.2.5", "certifiedUsableEnergy"),
    (56, "6.7.2.6", "remainingUsableEnergy"),
    (57, "6.7.2.7", "stateOfCertifiedEnergy"),
    (58, "6.7.2.8", "stateOfCharge"),
    (59, "6.7.2.9", "minimumVoltage"),
    (60, "6.7.2.10", "maximumVoltage"),
    (61, "6.7.2.11", "nominalVoltage"),
    (62, "6.7.3.2", "originalPowerCapability"),
    (63, "6.7.3.3", "remainingPowerCapability"),
    (64, "6.7.3.4", "powerFade"),
    (65, "6.7.3.5", "maximumPermittedPower"),
    (66, "6.7.3.6", "powerToEnergyRatio"),
    (67, "6.7.4.2", "initialRoundTripEfficiency"),
    (68, "6.7.4.3", "roundTripEfficiencyAt50PercentCycleLife"),
    (69, "6.7.4.4", "remainingRoundTripEfficiency"),
    (70, "6.7.4.5", "roundTripEfficiencyFade"),
    (71, "6.7.4.6", "initialSelfDischargeRate"),
    (72, "6.7.4.7", "currentSelfDischargeRate"),
    (73, "6.7.4.8", "selfDischargeRateEvolution"),
    (74, "6.7.5.2", "initialInternalResistance"),
    (75, "6.7.5.3", "internalResistanceIncrease"),
    (76, "6.7.6.2", "expectedLifetimeYears"),
    (77, "6.7.6.3", "expectedLifetimeCycles"),
    (78, "6.7.6.4", "fullCycleCount"),
    (79, "6.7.6.5", "cycleLifeReferenceTest"),
    (80, "6.7.6.6", "cycleLifeTestCRate"),
    (81, "6.7.6.7", "energyThroughput"),
    (82, "6.7.6.8", "capacityThroughput"),
    (83, "6.7.6.9", "capacityThresholdForExhaustion"),
    (84, "6.7.7.2", "temperatureInformation"),
    (85, "6.7.7.3", "idleTemperatureLowerBoundary"),
    (86, "6.7.7.4", "idleTemperatureUpperBoundary"),
    (87, "6.7.7.5", "timeAboveTemperatureBoundary"),
    (88, "6.7.7.6", "timeBelowTemperatureBoundary"),
    (89, "6.7.7.7", "chargingTimeAboveTemperatureBoundary"),
    (90, "6.7.7.8", "chargingTimeBelowTemperatureBoundary"),
    (91, "6.7.8.2", "deepDischargeEventCount"),
    (92, "6.7.8.3", "overchargeEventCount"),
    (93, "6.7.8.4", "accidentInformation"),
)

PASSPORT_TERMS: Final[MappingProxyType[int, PassportTerm]] = MappingProxyType(
    {no: PassportTerm(no, clause, term) for no, clause, term in _TABLE}
)
"""Attribute row number (``no`` in ``passport-attributes.csv``) → :class:`PassportTerm`."""

MEASUREMENT_TERMS: Final = ("value", "unit", "measuredAt", "originator", "method", "uncertainty")
"""Properties of a measured value object (dynamic data): value with provenance."""

CREDENTIAL_TYPES: Final = (
    "BatteryPassportCredential",
    "BatteryConditionCredential",
    "BatteryInspectionCredential",
    "ChargingSafetyCredential",
    "AccreditedInspectorCredential",
    "LegitimateInterestCredential",
)
"""Credential types defined by the battery-passport context."""

CLASS_TYPES: Final = ("Battery", "BatteryModel", "Measurement", "Organization")
"""Non-credential classes defined by the battery-passport context."""

PLATFORM_TERMS: Final = (
    # identifiers and links between passports / models / organisations
    "batteryModel",
    "molitBatteryId",
    "vehicleIdentificationNumber",
    "predecessorPassport",
    "lifecycleStatus",
    "organization",
    "role",
    # condition / inspection / safety results
    "stateOfHealth",
    "temperatureHistogram",
    "cellVoltageSpread",
    "cellStateOfHealthSpread",
    "insulationResistance",
    "inspectionGrade",
    "inspectionMethod",
    "inspectedAt",
    "reuseEligible",
    "safetyGrade",
    "maxAllowedStateOfCharge",
    "activeAlerts",
    "accreditedRoles",
    # the version a served status list credential claims (checked against the chain registry)
    "statusListVersion",
)
"""Further properties the platform's services use (not Annex XIII items themselves)."""

DATETIME_TERMS: Final = frozenset({"measuredAt", "inspectedAt"})
"""Terms typed ``xsd:dateTime`` in the context."""

ID_TERMS: Final = frozenset({"batteryModel", "predecessorPassport"})
"""Terms whose values are IRIs (``@type: @id``); they must be absolute (URN, URL or DID),
which the signing pipeline enforces because JSON-LD silently drops relative IRIs."""


def all_property_terms() -> tuple[str, ...]:
    """Every property term of the context, in definition order."""
    return tuple(t.term for t in PASSPORT_TERMS.values()) + MEASUREMENT_TERMS + PLATFORM_TERMS


VCT_BASE: Final = "https://w3id.org/battery-passport/vct/"
"""Base of the SD-JWT VC ``vct`` values of the platform's credential types."""


def vct_for(credential_type: str) -> str:
    """The SD-JWT VC ``vct`` for one of :data:`CREDENTIAL_TYPES` (claims use the same
    property names as the JSON-LD credentials)."""
    if credential_type not in CREDENTIAL_TYPES:
        from credentials.errors import DataModelError  # vocab stays import-light

        raise DataModelError("vct.type", f"unknown credential type {credential_type!r}")
    return VCT_BASE + credential_type
