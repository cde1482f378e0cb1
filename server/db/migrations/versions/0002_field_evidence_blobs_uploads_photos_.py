"""field evidence: blobs, uploads, photos, calls, rules

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:48:38.161498
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import server.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "evidence_rule_sets",
        sa.Column("claim_type", sa.String(length=32), nullable=False),
        sa.Column(
            "rules",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("claim_type", name=op.f("pk_evidence_rule_sets")),
    )
    op.create_table(
        "blob_uploads",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_blob_uploads_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_blob_uploads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blob_uploads")),
    )
    with op.batch_alter_table("blob_uploads", schema=None) as batch_op:
        batch_op.create_index("ix_blob_uploads_updated", ["updated_at"], unique=False)

    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("created_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("device_id", sa.Uuid(), nullable=True),
        sa.Column(
            "info",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_blobs_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_blobs_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_table(
        "call_attempts",
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("started_at", server.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=False),
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
            name=op.f("fk_call_attempts_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_call_attempts_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["users.id"],
            name=op.f("fk_call_attempts_technician_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_attempts")),
    )
    with op.batch_alter_table("call_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_attempts_job_id"), ["job_id"], unique=False)

    op.create_table(
        "photos",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("taken_at", server.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("latitude", sa.Double(), nullable=True),
        sa.Column("longitude", sa.Double(), nullable=True),
        sa.Column("camera", sa.String(length=120), nullable=True),
        sa.Column("phash", sa.String(length=16), nullable=True),
        sa.Column(
            "reused_from",
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
            name=op.f("fk_photos_device_id_devices"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_photos_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["technician_id"],
            ["users.id"],
            name=op.f("fk_photos_technician_id_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
    )
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_photos_job_id"), ["job_id"], unique=False)
        batch_op.create_index("ix_photos_phash", ["phash"], unique=False)
        batch_op.create_index("ix_photos_sha256", ["sha256"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.drop_index("ix_photos_sha256")
        batch_op.drop_index("ix_photos_phash")
        batch_op.drop_index(batch_op.f("ix_photos_job_id"))

    op.drop_table("photos")
    with op.batch_alter_table("call_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_attempts_job_id"))

    op.drop_table("call_attempts")
    op.drop_table("blobs")
    with op.batch_alter_table("blob_uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_blob_uploads_updated")

    op.drop_table("blob_uploads")
    op.drop_table("evidence_rule_sets")
