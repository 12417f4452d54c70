"""Alembic environment for the ops DB; driven from code by `migrations_runner.upgrade_to_head`."""

from alembic import context
from sqlalchemy import create_engine

config = context.config
version_table = config.get_main_option("version_table")


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), version_table=version_table, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
    else:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as new_connection:
            run_migrations(new_connection)
        engine.dispose()
