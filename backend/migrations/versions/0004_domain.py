"""domain: battery models, attributes, measurements, passport versions, vehicles,
installations, lifecycle events and their anchors

Revision ID: 0004_domain
Revises: 0003_auth
Create Date: 2026-11-26 01:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_domain"
down_revision: str | None = "0003_auth"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vehicle",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("vin", sa.String(length=17), nullable=False),
        sa.Column("plate", sa.String(length=20), nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vehicle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vehicle_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vehicle_plate"), ["plate"], unique=False)
        batch_op.create_index(batch_op.f("ix_vehicle_vin"), ["vin"], unique=True)

    op.create_table(
        "battery_model",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("manufacturer", sa.String(length=200), nullable=False),
        sa.Column("chemistry", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("rated_capacity_ah", sa.Float(), nullable=False),
        sa.Column("nominal_voltage_v", sa.Float(), nullable=False),
        sa.Column("identification", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("carbon_footprint", sa.JSON(), nullable=False),
        sa.Column("due_diligence", sa.JSON(), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("circularity", sa.JSON(), nullable=False),
        sa.Column("performance", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organisation_id", "name"),
    )
    with op.batch_alter_table("battery_model", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_battery_model_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_battery_model_chemistry"), ["chemistry"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_battery_model_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "event_anchor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=42), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("chain_transaction_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chain_transaction_id"],
            ["chain_transaction.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender", "sequence"),
    )
    op.create_table(
        "battery_measurement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battery_id", sa.String(), nullable=False),
        sa.Column("term", sa.String(length=60), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("measured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("originator", sa.String(length=300), nullable=False),
        sa.Column("method", sa.String(length=200), nullable=False),
        sa.Column("uncertainty", sa.Float(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["battery_id"],
            ["battery.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("battery_measurement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_battery_measurement_battery_id"), ["battery_id"], unique=False
        )

    op.create_table(
        "installation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vehicle_id", sa.String(), nullable=False),
        sa.Column("battery_id", sa.String(), nullable=False),
        sa.Column("installed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removal_reason", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["battery_id"],
            ["battery.id"],
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicle.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("installation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_installation_battery_id"), ["battery_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_installation_vehicle_id"), ["vehicle_id"], unique=False
        )

    op.create_table(
        "lifecycle_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=45), nullable=False),
        sa.Column("battery_id", sa.String(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_id", sa.Integer(), nullable=True),
        sa.Column("anchor_index", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["anchor_id"],
            ["event_anchor.id"],
        ),
        sa.ForeignKeyConstraint(
            ["battery_id"],
            ["battery.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("battery_id", "sequence"),
        sa.UniqueConstraint("hash"),
    )
    with op.batch_alter_table("lifecycle_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lifecycle_event_anchor_id"), ["anchor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lifecycle_event_battery_id"), ["battery_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lifecycle_event_event_id"), ["event_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_lifecycle_event_kind"), ["kind"], unique=False)

    _append_only_lifecycle_events()
    op.create_table(
        "passport_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battery_id", sa.String(), nullable=False),
        sa.Column("credential_type", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("issued_credential_id", sa.String(), nullable=False),
        sa.Column("credential_id", sa.String(length=500), nullable=False),
        sa.Column("previous_credential_id", sa.String(length=500), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["battery_id"],
            ["battery.id"],
        ),
        sa.ForeignKeyConstraint(
            ["issued_credential_id"],
            ["issued_credential.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("battery_id", "credential_type", "version"),
        sa.UniqueConstraint("issued_credential_id"),
    )
    with op.batch_alter_table("passport_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_passport_version_battery_id"), ["battery_id"], unique=False
        )

    with op.batch_alter_table("battery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_id", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="original")
        )
        batch_op.add_column(sa.Column("owner_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("predecessor_id", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("item_data", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("condition", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("state_of_certified_energy", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("ceased_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column(
                "updated_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.now(),
            )
        )
        batch_op.create_index(batch_op.f("ix_battery_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_battery_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_battery_predecessor_id"), ["predecessor_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_battery_state_of_certified_energy"),
            ["state_of_certified_energy"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_battery_status"), ["status"], unique=False)
        batch_op.create_foreign_key(
            "fk_battery_model_id_battery_model", "battery_model", ["model_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_battery_predecessor_id_battery", "battery", ["predecessor_id"], ["id"]
        )


# The event log is append-only in the database too: only the anchoring columns may change.
# (A later batch migration that recreates lifecycle_event on SQLite must recreate these.)
_PROTECTED = (
    "event_id",
    "battery_id",
    "sequence",
    "kind",
    "occurred_at",
    "document",
    "hash",
    "recorded_at",
)


def _append_only_lifecycle_events() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER lifecycle_event_no_update BEFORE UPDATE OF "
            + ", ".join(_PROTECTED)
            + " ON lifecycle_event BEGIN "
            "SELECT RAISE(ABORT, 'lifecycle events are append-only'); END"
        )
        op.execute(
            "CREATE TRIGGER lifecycle_event_no_delete BEFORE DELETE ON lifecycle_event BEGIN "
            "SELECT RAISE(ABORT, 'lifecycle events are append-only'); END"
        )
        return
    changed = " OR ".join(
        f"NEW.{column}::text IS DISTINCT FROM OLD.{column}::text" for column in _PROTECTED
    )
    op.execute(
        "CREATE FUNCTION lifecycle_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "IF TG_OP = 'DELETE' OR " + changed + " THEN "
        "RAISE EXCEPTION 'lifecycle events are append-only'; "
        "END IF; "
        "RETURN NEW; "
        "END $$"
    )
    op.execute(
        "CREATE TRIGGER lifecycle_event_append_only BEFORE UPDATE OR DELETE ON lifecycle_event "
        "FOR EACH ROW EXECUTE FUNCTION lifecycle_event_append_only()"
    )


def _drop_append_only_lifecycle_events() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS lifecycle_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS lifecycle_event_no_delete")
        return
    op.execute("DROP TRIGGER IF EXISTS lifecycle_event_append_only ON lifecycle_event")
    op.execute("DROP FUNCTION IF EXISTS lifecycle_event_append_only()")


def downgrade() -> None:
    with op.batch_alter_table("battery", schema=None) as batch_op:
        batch_op.drop_constraint("fk_battery_predecessor_id_battery", type_="foreignkey")
        batch_op.drop_constraint("fk_battery_model_id_battery_model", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_battery_status"))
        batch_op.drop_index(batch_op.f("ix_battery_state_of_certified_energy"))
        batch_op.drop_index(batch_op.f("ix_battery_predecessor_id"))
        batch_op.drop_index(batch_op.f("ix_battery_owner_id"))
        batch_op.drop_index(batch_op.f("ix_battery_model_id"))
        batch_op.drop_column("updated_at")
        batch_op.drop_column("ceased_at")
        batch_op.drop_column("state_of_certified_energy")
        batch_op.drop_column("condition")
        batch_op.drop_column("item_data")
        batch_op.drop_column("predecessor_id")
        batch_op.drop_column("owner_id")
        batch_op.drop_column("status")
        batch_op.drop_column("model_id")

    with op.batch_alter_table("passport_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_passport_version_battery_id"))

    op.drop_table("passport_version")
    with op.batch_alter_table("lifecycle_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lifecycle_event_kind"))
        batch_op.drop_index(batch_op.f("ix_lifecycle_event_event_id"))
        batch_op.drop_index(batch_op.f("ix_lifecycle_event_battery_id"))
        batch_op.drop_index(batch_op.f("ix_lifecycle_event_anchor_id"))

    _drop_append_only_lifecycle_events()
    op.drop_table("lifecycle_event")
    with op.batch_alter_table("installation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_installation_vehicle_id"))
        batch_op.drop_index(batch_op.f("ix_installation_battery_id"))

    op.drop_table("installation")
    with op.batch_alter_table("battery_measurement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_battery_measurement_battery_id"))

    op.drop_table("battery_measurement")
    op.drop_table("event_anchor")
    with op.batch_alter_table("battery_model", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_battery_model_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_battery_model_chemistry"))
        batch_op.drop_index(batch_op.f("ix_battery_model_category"))

    op.drop_table("battery_model")
    with op.batch_alter_table("vehicle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicle_vin"))
        batch_op.drop_index(batch_op.f("ix_vehicle_plate"))
        batch_op.drop_index(batch_op.f("ix_vehicle_owner_id"))

    op.drop_table("vehicle")
