"""ORM models, column types, engine and schema check. Nothing here leaves the repository."""
