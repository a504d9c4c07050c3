"""Full-text search over packages and their files (issue 11: the catalogue's search).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 15:30:00+00:00

PostgreSQL: immutable SQL functions that fold a text (accents and case, by ``translate()`` over
the accented Latin letters: no extension needed) and turn it into a ``tsvector`` with the
``simple`` configuration (Dutch, French and English are mixed, so no stemming), and GIN
indexes over those functions' results for packages (title, identifier, Dublin Core values, id)
and files (path, PUID, format name, MIME type). Nothing has to be kept in sync: the indexes are
the functions' results.

Both: B-tree indexes on ``packages.created_at`` ("newest first") and on ``files.puid`` and
``files.mime`` (the PUID and MIME filters).

SQLite: FTS5 tables (``unicode61 remove_diacritics 2``: accents and case folded) kept in sync by
triggers, so ingest, describe, new versions, rebuild and deletion all update them:
``search_packages`` (the package id and one text column) and ``search_files``, an
external-content table over ``files``.

Every object is named ``search_*``, ``ix_search_*`` or ``preserve_*`` (functions): they are not
in the models; ``tests/integration/test_migrations.py`` leaves them out of its comparison.
A later migration that recreates ``packages`` or ``files`` with ``batch_alter_table`` on SQLite
must create the triggers again (a recreated table loses them).
"""

# SQL here is put together from constants of this module only; every value is a bound parameter
# ruff: noqa: S608

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from preserve.catalogue.folding import TRANSLATE_FROM, TRANSLATE_TO

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ----------------------------------------------------------------------------- PostgreSQL


def _pg_functions(schema: str) -> list[str]:
    s = f'"{schema}"'
    return [
        f"""CREATE FUNCTION {s}.preserve_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT lower(translate(coalesce(t, ''), '{TRANSLATE_FROM}', '{TRANSLATE_TO}')) $$""",
        f"""CREATE FUNCTION {s}.preserve_search_document(t text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT pg_catalog.to_tsvector('pg_catalog.simple'::regconfig,
       regexp_replace({s}.preserve_fold(t), '[^[:alnum:]]+', ' ', 'g')) $$""",
        # the values of a Dublin Core description (element -> value or list of values); the
        # keys, and the reserved elements ("_lang"), are left out
        f"""CREATE FUNCTION {s}.preserve_description_text(d json, element text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT coalesce(string_agg(v, ' '), '') FROM (
     SELECT CASE pg_catalog.json_typeof(e.value)
              WHEN 'array' THEN (SELECT string_agg(x, ' ')
                                 FROM pg_catalog.json_array_elements_text(e.value) AS x)
              WHEN 'string' THEN e.value #>> '{{}}'
              WHEN 'null' THEN NULL
              ELSE e.value::text END AS v
     FROM pg_catalog.json_each(CASE WHEN pg_catalog.json_typeof(d) = 'object' THEN d
                                    ELSE '{{}}'::json END) AS e
     WHERE left(e.key, 1) <> '_' AND (element IS NULL OR e.key = element)
   ) AS s $$""",
        f"""CREATE FUNCTION {s}.preserve_package_document(
    title text, identifier text, description json, id text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT {s}.preserve_search_document(
       coalesce(title, '') || ' ' || coalesce(identifier, '') || ' '
       || {s}.preserve_description_text(description, NULL) || ' ' || coalesce(id, '')) $$""",
        f"""CREATE FUNCTION {s}.preserve_file_document(
    path text, puid text, format_name text, mime text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT {s}.preserve_search_document(
       coalesce(path, '') || ' ' || coalesce(puid, '') || ' ' || coalesce(format_name, '')
       || ' ' || coalesce(mime, '')) $$""",
    ]


PG_FUNCTIONS = (
    "preserve_file_document(text, text, text, text)",
    "preserve_package_document(text, text, json, text)",
    "preserve_description_text(json, text)",
    "preserve_search_document(text)",
    "preserve_fold(text)",
)


def _pg_indexes(schema: str) -> list[str]:
    s = f'"{schema}"'
    return [
        f"""CREATE INDEX ix_search_packages ON packages USING gin (
    {s}.preserve_package_document(title, external_identifier, description, id))""",
        f"""CREATE INDEX ix_search_files ON files USING gin (
    {s}.preserve_file_document(path, puid, format_name, mime))""",
    ]


# ----------------------------------------------------------------------------- SQLite

_SQLITE_BODY = """coalesce({row}.title, '') || ' ' || coalesce({row}.external_identifier, '')
    || ' ' || coalesce((SELECT group_concat(t.value, ' ') FROM json_tree({row}.description) AS t
                        WHERE t.type = 'text' AND substr(t.fullkey, 3, 1) <> '_'
                        AND substr(t.fullkey, 3, 2) <> '"_'), '')
    || ' ' || {row}.id"""

_SQLITE_PACKAGE_INSERT = (
    "INSERT INTO search_packages (package_id, body) VALUES (new.id, "
    + _SQLITE_BODY.format(row="new")
    + ");"
)
_SQLITE_FILE_COLUMNS = "path, puid, format_name, mime"

SQLITE_UP = [
    """CREATE VIRTUAL TABLE search_packages USING fts5(
    package_id UNINDEXED, body, tokenize = 'unicode61 remove_diacritics 2')""",
    f"""CREATE VIRTUAL TABLE search_files USING fts5(
    {_SQLITE_FILE_COLUMNS}, content = 'files', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2')""",
    f"""CREATE TRIGGER search_packages_insert AFTER INSERT ON packages BEGIN
    {_SQLITE_PACKAGE_INSERT}
END""",
    f"""CREATE TRIGGER search_packages_update
AFTER UPDATE OF title, external_identifier, description ON packages BEGIN
    DELETE FROM search_packages WHERE package_id = old.id;
    {_SQLITE_PACKAGE_INSERT}
END""",
    """CREATE TRIGGER search_packages_delete AFTER DELETE ON packages BEGIN
    DELETE FROM search_packages WHERE package_id = old.id;
END""",
    f"""CREATE TRIGGER search_files_insert AFTER INSERT ON files BEGIN
    INSERT INTO search_files (rowid, {_SQLITE_FILE_COLUMNS})
    VALUES (new.id, new.path, new.puid, new.format_name, new.mime);
END""",
    f"""CREATE TRIGGER search_files_delete AFTER DELETE ON files BEGIN
    INSERT INTO search_files (search_files, rowid, {_SQLITE_FILE_COLUMNS})
    VALUES ('delete', old.id, old.path, old.puid, old.format_name, old.mime);
END""",
    f"""CREATE TRIGGER search_files_update AFTER UPDATE OF {_SQLITE_FILE_COLUMNS} ON files BEGIN
    INSERT INTO search_files (search_files, rowid, {_SQLITE_FILE_COLUMNS})
    VALUES ('delete', old.id, old.path, old.puid, old.format_name, old.mime);
    INSERT INTO search_files (rowid, {_SQLITE_FILE_COLUMNS})
    VALUES (new.id, new.path, new.puid, new.format_name, new.mime);
END""",
    # the rows there already
    "INSERT INTO search_packages (package_id, body) SELECT p.id, "
    + _SQLITE_BODY.format(row="p")
    + " FROM packages AS p",
    "INSERT INTO search_files (search_files) VALUES ('rebuild')",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS search_files_update",
    "DROP TRIGGER IF EXISTS search_files_delete",
    "DROP TRIGGER IF EXISTS search_files_insert",
    "DROP TRIGGER IF EXISTS search_packages_delete",
    "DROP TRIGGER IF EXISTS search_packages_update",
    "DROP TRIGGER IF EXISTS search_packages_insert",
    "DROP TABLE IF EXISTS search_files",
    "DROP TABLE IF EXISTS search_packages",
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
        for statement in _pg_functions(schema) + _pg_indexes(schema):
            op.execute(statement)
    else:
        for statement in SQLITE_UP:
            op.execute(statement)
    op.create_index("ix_search_packages_created_at", "packages", ["created_at"])
    op.create_index("ix_search_files_puid", "files", ["puid"])
    op.create_index("ix_search_files_mime", "files", ["mime"])


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index("ix_search_files_mime", table_name="files")
    op.drop_index("ix_search_files_puid", table_name="files")
    op.drop_index("ix_search_packages_created_at", table_name="packages")
    if bind.dialect.name == "postgresql":
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
        op.execute("DROP INDEX IF EXISTS ix_search_files")
        op.execute("DROP INDEX IF EXISTS ix_search_packages")
        for function in PG_FUNCTIONS:
            op.execute(f'DROP FUNCTION IF EXISTS "{schema}".{function}')
    else:
        for statement in SQLITE_DOWN:
            op.execute(statement)
