"""visit mover: the last batch of visits moved from Redis

Revision ID: 0002
Revises: 0001

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table('visit_mover',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_batch', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.bulk_insert(table, [{'id': 1, 'last_batch': None}])


def downgrade():
    op.drop_table('visit_mover')
