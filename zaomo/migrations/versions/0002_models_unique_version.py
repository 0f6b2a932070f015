"""models: (name, version) unique, so concurrent registrations cannot hand out one version twice

Revision ID: 0002_models_unique_version
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_models_unique_version"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Databases that raced before this revision may hold duplicates: renumber the later rows past the
    # newest version of their name (ordered by id), keeping every row.
    models = sa.table("models", sa.column("id", sa.Integer), sa.column("name", sa.String),
                      sa.column("version", sa.Integer))
    conn = op.get_bind()
    seen: set[tuple[str, int]] = set()
    top: dict[str, int] = {}
    rows = conn.execute(sa.select(models.c.id, models.c.name, models.c.version).order_by(models.c.id)).all()
    for _, name, version in rows:
        top[name] = max(top.get(name, 0), version)
    for id_, name, version in rows:
        if (name, version) in seen:
            top[name] += 1
            conn.execute(models.update().where(models.c.id == id_).values(version=top[name]))
            version = top[name]
        seen.add((name, version))
    op.create_index("uq_models_name_version", "models", ["name", "version"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_models_name_version", table_name="models")
