"""The only package that imports SQLAlchemy: tables, queries, the unit of work, migrations."""
