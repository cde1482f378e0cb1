"""protocol signatures: each device's signature algorithm

Devices enrolled with a key before this revision signed msgspec's sorted JSON: they keep
``ed25519-sorted-json`` so their phones and their ledger rows still verify. Devices
enrolled from now on sign RFC 8785 (``ed25519-jcs``, set by the enrolment).

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-02 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signature_alg", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE devices SET signature_alg = 'ed25519-sorted-json' WHERE public_key IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("signature_alg")
