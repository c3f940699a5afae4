"""Storage: ORM models, migrations, repositories and the outbox queue."""
