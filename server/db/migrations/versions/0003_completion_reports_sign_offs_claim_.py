"""completion reports, sign-offs, claim verdicts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:56:53.214625
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import server.db.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "claim_verdicts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("claim_type", sa.String(length=32), nullable=False),
        sa.Column("rules_version", sa.Integer(), nullable=False),
        sa.Column("computed_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column(
            "verdicts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_claim_verdicts_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_verdicts")),
    )
    with op.batch_alter_table("claim_verdicts", schema=None) as batch_op:
        batch_op.create_index("ix_claim_verdicts_job", ["job_id", "computed_at"], unique=False)

    op.create_table(
        "completion_reports",
        sa.Column("work_done", sa.String(length=4000), nullable=False),
        sa.Column(
            "parts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "charges",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "checklist",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "photos",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "findings",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("technician_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("device_time", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "flags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_completion_reports_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_completion_reports_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["users.id"],
            name=op.f("fk_completion_reports_technician_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_completion_reports")),
    )
    with op.batch_alter_table("completion_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_completion_reports_job_id"), ["job_id"], unique=False)

    op.create_table(
        "sign_offs",
        sa.Column("signer_name", sa.String(length=200), nullable=False),
        sa.Column("signed_at", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.Column("signature_sha256", sa.String(length=64), nullable=True),
        sa.Column(
            "strokes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("technician_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("device_time", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "flags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_sign_offs_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_sign_offs_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["users.id"],
            name=op.f("fk_sign_offs_technician_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_offs")),
    )
    with op.batch_alter_table("sign_offs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_offs_job_id"), ["job_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("sign_offs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_offs_job_id"))

    op.drop_table("sign_offs")
    with op.batch_alter_table("completion_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_completion_reports_job_id"))

    op.drop_table("completion_reports")
    with op.batch_alter_table("claim_verdicts", schema=None) as batch_op:
        batch_op.drop_index("ix_claim_verdicts_job")

    op.drop_table("claim_verdicts")
