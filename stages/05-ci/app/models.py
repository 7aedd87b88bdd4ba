from datetime import UTC, datetime

from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()

MAX_URL_LENGTH = 2048


class Link(db.Model):
    __tablename__ = "links"

    id = db.Column(db.Integer, primary_key=True)
    code = db.Column(db.String(16), unique=True, nullable=False)
    url = db.Column(db.String(MAX_URL_LENGTH), nullable=False)
    visits = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False,
                           default=lambda: datetime.now(UTC))

    def to_dict(self) -> dict:
        return {"code": self.code, "url": self.url, "visits": self.visits,
                "created_at": self.created_at.isoformat()}


class VisitMover(db.Model):
    """One row: the id of the last batch of visits moved from Redis (visits.py), so that a batch
    is never added twice."""
    __tablename__ = "visit_mover"

    id = db.Column(db.Integer, primary_key=True)
    last_batch = db.Column(db.String(32), nullable=True)
