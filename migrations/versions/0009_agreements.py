"""Collective retention agreements (issue 12): one row per version and its typed terms.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 19:00:00+00:00

- ``agreements``: one row per version (reference shared by the versions, version number, kind,
  component main/annex/addendum with its parent, the version it supersedes, state, start and end
  dates, review interval and next review, notice period, legal basis, rights statement and
  licence URIs, who made and changed it, when it was signed, the frozen content hash).
- ``agreement_parties`` with ``agreement_party_roles``, ``agreement_decisions`` (agree / send
  back) and ``agreement_signatures`` (person, capacity, method, time, SHA-256 signed).
- ``agreement_documents`` (name, kind, media type, size, SHA-256, where the bytes are kept).
- ``agreement_scopes`` (a collection or a metadata rule), ``retention_rules`` (exactly one per
  version), ``agreement_service_levels``, ``agreement_formats`` (PUIDs), ``agreement_rights``
  (PREMIS acts), ``agreement_access``, ``agreement_exit_terms`` and ``agreement_events``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=50), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("component", sa.String(length=10), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=True),
        sa.Column("effective_until", sa.Date(), nullable=True),
        sa.Column("review_interval_months", sa.Integer(), nullable=True),
        sa.Column("next_review_on", sa.Date(), nullable=True),
        sa.Column("notice_period_days", sa.Integer(), nullable=True),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("rights_statement_uri", sa.String(length=255), nullable=True),
        sa.Column("licence_uri", sa.String(length=255), nullable=True),
        sa.Column("proposal_round", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notice_given_on", sa.Date(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "component IN ('main', 'annex', 'addendum')", name="ck_agreements_component"
        ),
        sa.CheckConstraint(
            "kind IN ('collaboration', 'service', 'management', 'deposit', 'submission', 'data_processing', 'escrow')",
            name="ck_agreements_kind",
        ),
        sa.CheckConstraint(
            "state IN ('draft', 'proposed', 'pending_signature', 'signed', 'active', 'under_review', 'suspended', 'notice_given', 'exiting', 'expired', 'closed', 'withdrawn', 'superseded')",
            name="ck_agreements_state",
        ),
        sa.CheckConstraint("version_no >= 1", name="ck_agreements_version_no"),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["agreements.id"],
            name="fk_agreements_parent_id_agreements",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["agreements.id"],
            name="fk_agreements_supersedes_id_agreements",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreements"),
        sa.UniqueConstraint("reference", "version_no", name="uq_agreements_reference_version_no"),
    )
    op.create_index("ix_agreements_parent_id", "agreements", ["parent_id"], unique=False)
    op.create_index("ix_agreements_state", "agreements", ["state"], unique=False)
    op.create_index("ix_agreements_supersedes_id", "agreements", ["supersedes_id"], unique=False)
    op.create_table(
        "agreement_access",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("access_group", sa.String(length=20), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("embargo_until", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "(access_group = 'organisation') = (organisation_id IS NOT NULL)",
            name="ck_agreement_access_organisation",
        ),
        sa.CheckConstraint(
            "access_group IN ('public', 'owner', 'parties', 'organisation')",
            name="ck_agreement_access_access_group",
        ),
        sa.CheckConstraint("action IN ('consult', 'download')", name="ck_agreement_access_action"),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_agreement_access_agreement_id_agreements",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_agreement_access_organisation_id_organisations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_access"),
    )
    op.create_index(
        "ix_agreement_access_agreement_id", "agreement_access", ["agreement_id"], unique=False
    )
    op.create_table(
        "agreement_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('main_text', 'annex', 'addendum', 'signed_copy', 'other')",
            name="ck_agreement_documents_kind",
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_agreement_documents_agreement_id_agreements",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_documents"),
    )
    op.create_index(
        "ix_agreement_documents_agreement_id", "agreement_documents", ["agreement_id"], unique=False
    )
    op.create_table(
        "agreement_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("party", sa.String(length=100), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_agreement_events_agreement_id_agreements",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_agreement_events_user_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_events"),
    )
    op.create_index(
        "ix_agreement_events_agreement_id", "agreement_events", ["agreement_id"], unique=False
    )
    op.create_table(
        "agreement_formats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("puid", sa.String(length=30), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.CheckConstraint("level IN ('accepted', 'preferred')", name="ck_agreement_formats_level"),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_agreement_formats_agreement_id_agreements",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_formats"),
        sa.UniqueConstraint("agreement_id", "puid", name="uq_agreement_formats_agreement_id_puid"),
    )
    op.create_table(
        "agreement_parties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("represented_by_id", sa.Integer(), nullable=True),
        sa.Column("required_signatures", sa.Integer(), nullable=False),
        sa.Column("approve_disposal", sa.Boolean(), nullable=False),
        sa.Column("approve_deletion", sa.Boolean(), nullable=False),
        sa.Column("approve_access_change", sa.Boolean(), nullable=False),
        sa.Column("approve_amendment", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "required_signatures >= 0", name="ck_agreement_parties_required_signatures"
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_agreement_parties_agreement_id_agreements",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_agreement_parties_organisation_id_organisations",
        ),
        sa.ForeignKeyConstraint(
            ["represented_by_id"],
            ["agreement_parties.id"],
            name="fk_agreement_parties_represented_by_id_agreement_parties",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_parties"),
        sa.UniqueConstraint(
            "agreement_id",
            "organisation_id",
            name="uq_agreement_parties_agreement_id_organisation_id",
        ),
    )
    op.create_index(
        "ix_agreement_parties_organisation_id",
        "agreement_parties",
        ["organisation_id"],
        unique=False,
    )
    op.create_table(
        "agreement_rights",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("act", sa.String(length=20), nullable=False),
        sa.Column("restriction", sa.String(length=20), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "act IN ('replicate', 'migrate', 'modify', 'use', 'disseminate', 'delete')",
            name="ck_agreement_rights_act",
        ),
        sa.CheckConstraint(
            "restriction IN ('allow', 'disallow', 'conditional')",
            name="ck_agreement_rights_restriction",
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_agreement_rights_agreement_id_agreements",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_rights"),
        sa.UniqueConstraint("agreement_id", "act", name="uq_agreement_rights_agreement_id_act"),
    )
    op.create_table(
        "agreement_service_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("min_copies", sa.Integer(), nullable=False),
        sa.Column("min_distinct_sites", sa.Integer(), nullable=False),
        sa.Column("allowed_regions", sa.JSON(), nullable=False),
        sa.Column("offline_copy_required", sa.Boolean(), nullable=False),
        sa.Column("fixity_interval_days", sa.Integer(), nullable=False),
        sa.Column("restore_test_interval_days", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "fixity_interval_days >= 1", name="ck_agreement_service_levels_fixity_interval_days"
        ),
        sa.CheckConstraint("min_copies >= 1", name="ck_agreement_service_levels_min_copies"),
        sa.CheckConstraint(
            "min_distinct_sites >= 1", name="ck_agreement_service_levels_min_distinct_sites"
        ),
        sa.CheckConstraint(
            "restore_test_interval_days IS NULL OR restore_test_interval_days >= 1",
            name="ck_agreement_service_levels_restore_test_interval_days",
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_agreement_service_levels_agreement_id_agreements",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_service_levels"),
        sa.UniqueConstraint("agreement_id", name="uq_agreement_service_levels_agreement_id"),
    )
    op.create_table(
        "retention_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("trigger", sa.String(length=120), nullable=False),
        sa.Column("period_value", sa.Integer(), nullable=False),
        sa.Column("period_unit", sa.String(length=10), nullable=False),
        sa.Column("bound", sa.String(length=10), nullable=False),
        sa.Column("motivation", sa.Text(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "action IN ('keep_permanently', 'review', 'destroy', 'transfer', 'return_to_depositor', 'keep_sample')",
            name="ck_retention_rules_action",
        ),
        sa.CheckConstraint("bound IN ('minimum', 'maximum')", name="ck_retention_rules_bound"),
        sa.CheckConstraint(
            "period_unit IN ('days', 'weeks', 'months', 'years')",
            name="ck_retention_rules_period_unit",
        ),
        sa.CheckConstraint("period_value >= 0", name="ck_retention_rules_period_value"),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_retention_rules_agreement_id_agreements",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_retention_rules"),
        sa.UniqueConstraint("agreement_id", name="uq_retention_rules_agreement_id"),
    )
    op.create_table(
        "agreement_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("proposal_round", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "decision IN ('agree', 'send_back')", name="ck_agreement_decisions_decision"
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["agreement_parties.id"],
            name="fk_agreement_decisions_party_id_agreement_parties",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_agreement_decisions_user_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_decisions"),
    )
    op.create_index(
        "ix_agreement_decisions_party_id", "agreement_decisions", ["party_id"], unique=False
    )
    op.create_table(
        "agreement_exit_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("recipient_party_id", sa.Integer(), nullable=True),
        sa.Column("package_format", sa.String(length=20), nullable=False),
        sa.Column("deadline_days", sa.Integer(), nullable=False),
        sa.Column("post_exit_action", sa.String(length=30), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "package_format IN ('bagit', 'bagit_premis', 'e_ark_aip')",
            name="ck_agreement_exit_terms_package_format",
        ),
        sa.CheckConstraint(
            "post_exit_action <> 'retain_until' OR retain_until IS NOT NULL",
            name="ck_agreement_exit_terms_retain_until",
        ),
        sa.CheckConstraint(
            "post_exit_action IN ('delete_with_certificate', 'retain_until', 'transfer')",
            name="ck_agreement_exit_terms_post_exit_action",
        ),
        sa.CheckConstraint("deadline_days >= 1", name="ck_agreement_exit_terms_deadline_days"),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_agreement_exit_terms_agreement_id_agreements",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_party_id"],
            ["agreement_parties.id"],
            name="fk_agreement_exit_terms_recipient_party_id_agreement_parties",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_exit_terms"),
        sa.UniqueConstraint("agreement_id", name="uq_agreement_exit_terms_agreement_id"),
    )
    op.create_table(
        "agreement_party_roles",
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.CheckConstraint(
            "role IN ('owner_depositor', 'creator_rights_holder', 'submitting_agent', 'custodian', 'storage_node', 'umbrella_representative', 'successor')",
            name="ck_agreement_party_roles_role",
        ),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["agreement_parties.id"],
            name="fk_agreement_party_roles_party_id_agreement_parties",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("party_id", "role", name="pk_agreement_party_roles"),
    )
    op.create_table(
        "agreement_scopes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("selector", sa.String(length=20), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.Column("element", sa.String(length=100), nullable=True),
        sa.Column("operator", sa.String(length=20), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(selector = 'collection' AND collection_id IS NOT NULL) OR (selector = 'metadata' AND element IS NOT NULL AND operator IS NOT NULL AND value IS NOT NULL)",
            name="ck_agreement_scopes_complete",
        ),
        sa.CheckConstraint(
            "operator IS NULL OR operator IN ('equals', 'contains', 'starts_with')",
            name="ck_agreement_scopes_operator",
        ),
        sa.CheckConstraint(
            "selector IN ('collection', 'metadata')", name="ck_agreement_scopes_selector"
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_agreement_scopes_agreement_id_agreements",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name="fk_agreement_scopes_collection_id_collections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_scopes"),
    )
    op.create_index(
        "ix_agreement_scopes_agreement_id", "agreement_scopes", ["agreement_id"], unique=False
    )
    op.create_index(
        "ix_agreement_scopes_collection_id", "agreement_scopes", ["collection_id"], unique=False
    )
    op.create_table(
        "agreement_signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("signatory", sa.String(length=255), nullable=False),
        sa.Column("capacity", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document_sha256", sa.String(length=64), nullable=False),
        sa.CheckConstraint("method IN ('digital', 'paper')", name="ck_agreement_signatures_method"),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["agreement_parties.id"],
            name="fk_agreement_signatures_party_id_agreement_parties",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name="fk_agreement_signatures_user_id_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_signatures"),
    )
    op.create_index(
        "ix_agreement_signatures_party_id", "agreement_signatures", ["party_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_agreement_signatures_party_id", table_name="agreement_signatures")
    op.drop_table("agreement_signatures")
    op.drop_index("ix_agreement_scopes_collection_id", table_name="agreement_scopes")
    op.drop_index("ix_agreement_scopes_agreement_id", table_name="agreement_scopes")
    op.drop_table("agreement_scopes")
    op.drop_table("agreement_party_roles")
    op.drop_table("agreement_exit_terms")
    op.drop_index("ix_agreement_decisions_party_id", table_name="agreement_decisions")
    op.drop_table("agreement_decisions")
    op.drop_table("retention_rules")
    op.drop_table("agreement_service_levels")
    op.drop_table("agreement_rights")
    op.drop_index("ix_agreement_parties_organisation_id", table_name="agreement_parties")
    op.drop_table("agreement_parties")
    op.drop_table("agreement_formats")
    op.drop_index("ix_agreement_events_agreement_id", table_name="agreement_events")
    op.drop_table("agreement_events")
    op.drop_index("ix_agreement_documents_agreement_id", table_name="agreement_documents")
    op.drop_table("agreement_documents")
    op.drop_index("ix_agreement_access_agreement_id", table_name="agreement_access")
    op.drop_table("agreement_access")
    op.drop_index("ix_agreements_supersedes_id", table_name="agreements")
    op.drop_index("ix_agreements_state", table_name="agreements")
    op.drop_index("ix_agreements_parent_id", table_name="agreements")
    op.drop_table("agreements")
