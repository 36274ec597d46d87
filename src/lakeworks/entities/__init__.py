"""Plain domain objects: dataclasses and str Enums. No SQLAlchemy, no FastAPI."""
