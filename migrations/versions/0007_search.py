"""Full-text search over packages and their files (issue 11: the catalogue's search).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 15:30:00+00:00

PostgreSQL: immutable SQL functions that fold a text (accents and case, by ``translate()`` over
the accented Latin letters: no extension needed) and turn it into a ``tsvector`` with the
``simple`` configuration (Dutch, French and English are mixed, so no stemming). One search
document per package, table ``search_documents`` (package id and ``document``: the package's
own words, title, identifier, Dublin Core values, id, and the distinct words of the payload
files of its current version, their paths, PUIDs, format names and MIME types; without
positions, which nothing uses),
under one GIN index over the packages, not the files: a word found in 350,000 files of 100,000
packages reads at most 100,000 index entries. Statement-level triggers with transition tables
keep it: inserted files add their words to their packages' documents (a 100,000-file ingest in
batches of rows never reads the earlier files again); deleted or changed files, a new current
version, a new title, identifier or description make the package's document again; a deleted
package's document goes with it (foreign key, cascade). Beside the document, ``own`` holds the
package's own words alone, under a GIN index of its own (``ix_search_documents_own``): relevance
puts the packages that match themselves first. At most ``MAX_FILE_WORDS`` distinct file words per package (a tsvector holds
at most 1 MB).

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
    ]


PG_FUNCTIONS = (
    "preserve_search_files_changed()",
    "preserve_search_packages_changed()",
    "preserve_search_refresh(text[])",
    "preserve_file_words(text[], text[], text[], text[], text[])",
    "preserve_package_document(text, text, json, text)",
    "preserve_description_text(json, text)",
    "preserve_search_document(text)",
    "preserve_fold(text)",
)


#: At most this many distinct words of a package's files go into its search document (a
#: tsvector holds at most 1 MB of words; 50,000 words of 6 to 10 letters fit); PUIDs, format
#: names and MIME types are few and come first.
MAX_FILE_WORDS = 50_000


def _pg_documents(schema: str) -> list[str]:
    """The per-package search documents: a table, its GIN index, the functions and the
    statement-level triggers (with transition tables) that keep it in step with packages and
    files, then the documents of the rows there already."""
    s = f'"{schema}"'
    return [
        f"""CREATE TABLE {s}.search_documents (
    package_id varchar(36) NOT NULL,
    own tsvector NOT NULL,
    document tsvector NOT NULL,
    CONSTRAINT pk_search_documents PRIMARY KEY (package_id),
    CONSTRAINT fk_search_documents_package_id_packages FOREIGN KEY (package_id)
        REFERENCES {s}.packages (id) ON DELETE CASCADE)""",
        # the distinct words of these files (payload only), per package
        f"""CREATE FUNCTION {s}.preserve_file_words(path text[], puid text[], format_name text[],
    mime text[], package_id text[]) RETURNS TABLE (package_id text, words text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT w.package_id, array_agg(w.word ORDER BY w.kind, w.word)
   FROM (SELECT u.package_id, w.word, min(w.kind) AS kind
         FROM unnest(path, puid, format_name, mime, package_id)
              AS u(path, puid, format_name, mime, package_id)
         CROSS JOIN LATERAL (
             SELECT 0 AS kind, x AS word FROM unnest(pg_catalog.tsvector_to_array(
                 {s}.preserve_search_document(coalesce(u.puid, '') || ' '
                     || coalesce(u.format_name, '') || ' ' || coalesce(u.mime, '')))) AS x
             UNION ALL
             SELECT 1, x FROM unnest(pg_catalog.tsvector_to_array(
                 {s}.preserve_search_document(u.path))) AS x) AS w
         GROUP BY u.package_id, w.word) AS w
   GROUP BY w.package_id $$""",
        # the documents of these packages made again from their rows and files
        f"""CREATE FUNCTION {s}.preserve_search_refresh(ids text[]) RETURNS void
LANGUAGE sql AS
$$ INSERT INTO {s}.search_documents AS d (package_id, own, document)
   SELECT p.id, o.own, o.own || coalesce(w.files, ''::tsvector)
   FROM {s}.packages AS p
   CROSS JOIN LATERAL (SELECT pg_catalog.strip({s}.preserve_package_document(
              p.title, p.external_identifier, p.description, p.id)) AS own) AS o
   LEFT JOIN (
       SELECT fw.package_id, pg_catalog.array_to_tsvector(fw.words[1:{MAX_FILE_WORDS}]) AS files
       FROM (SELECT array_agg(f.path) AS path, array_agg(f.puid) AS puid,
                    array_agg(f.format_name) AS format_name, array_agg(f.mime) AS mime,
                    array_agg(f.package_id) AS package_id
             FROM {s}.files AS f JOIN {s}.packages AS fp ON fp.id = f.package_id
             WHERE f.package_id = ANY (ids) AND f.role = 'payload'
               AND f.version = fp.version) AS a
       CROSS JOIN LATERAL {s}.preserve_file_words(
           a.path, a.puid, a.format_name, a.mime, a.package_id) AS fw
   ) AS w ON w.package_id = p.id
   WHERE p.id = ANY (ids)
   ON CONFLICT (package_id) DO UPDATE SET own = excluded.own, document = excluded.document
$$""",
        f"""CREATE FUNCTION {s}.preserve_search_packages_changed() RETURNS trigger
LANGUAGE plpgsql AS
$$ BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM {s}.preserve_search_refresh(ARRAY(SELECT n.id FROM new_rows AS n));
    ELSE
        -- a new current version (its files' words instead of the last one's), or a new title,
        -- identifier or description
        PERFORM {s}.preserve_search_refresh(ARRAY(
            SELECT n.id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
            WHERE (n.version, n.title, n.external_identifier, n.description::text)
                  IS DISTINCT FROM
                  (o.version, o.title, o.external_identifier, o.description::text)));
    END IF;
    RETURN NULL;
END $$""",
        f"""CREATE FUNCTION {s}.preserve_search_files_changed() RETURNS trigger
LANGUAGE plpgsql AS
$$ BEGIN
    IF TG_OP = 'INSERT' THEN
        -- new files add their words (a 100,000-file ingest, in batches, never reads the
        -- package's earlier files again)
        UPDATE {s}.search_documents AS d
        SET document = d.document || pg_catalog.array_to_tsvector(
                w.words[1:greatest(0, {MAX_FILE_WORDS} - length(d.document))])
        FROM (SELECT array_agg(n.path) AS path, array_agg(n.puid) AS puid,
                     array_agg(n.format_name) AS format_name, array_agg(n.mime) AS mime,
                     array_agg(n.package_id) AS package_id
              FROM new_rows AS n JOIN {s}.packages AS np ON np.id = n.package_id
              WHERE n.role = 'payload' AND n.version = np.version) AS a
        CROSS JOIN LATERAL {s}.preserve_file_words(
            a.path, a.puid, a.format_name, a.mime, a.package_id) AS w
        WHERE d.package_id = w.package_id;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM {s}.preserve_search_refresh(
            ARRAY(SELECT DISTINCT o.package_id FROM old_rows AS o WHERE o.role = 'payload'));
    ELSE
        PERFORM {s}.preserve_search_refresh(ARRAY(
            SELECT DISTINCT n.package_id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
            WHERE (n.package_id, n.path, n.puid, n.format_name, n.mime, n.role, n.version)
                  IS DISTINCT FROM
                  (o.package_id, o.path, o.puid, o.format_name, o.mime, o.role, o.version)
            UNION SELECT o.package_id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
            WHERE n.package_id IS DISTINCT FROM o.package_id));
    END IF;
    RETURN NULL;
END $$""",
        f"""CREATE TRIGGER search_packages_insert AFTER INSERT ON {s}.packages
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
EXECUTE FUNCTION {s}.preserve_search_packages_changed()""",
        f"""CREATE TRIGGER search_packages_update AFTER UPDATE ON {s}.packages
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
EXECUTE FUNCTION {s}.preserve_search_packages_changed()""",
        f"""CREATE TRIGGER search_files_insert AFTER INSERT ON {s}.files
REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
EXECUTE FUNCTION {s}.preserve_search_files_changed()""",
        f"""CREATE TRIGGER search_files_update AFTER UPDATE ON {s}.files
REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
EXECUTE FUNCTION {s}.preserve_search_files_changed()""",
        f"""CREATE TRIGGER search_files_delete AFTER DELETE ON {s}.files
REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
EXECUTE FUNCTION {s}.preserve_search_files_changed()""",
        # the rows there already
        f"SELECT {s}.preserve_search_refresh(ARRAY(SELECT id FROM {s}.packages))",
        f"CREATE INDEX ix_search_documents ON {s}.search_documents USING gin (document)",
        # the package's own words alone: relevance puts packages that match themselves first
        # (kept beside the document, so that checking a package costs no new parse of its title
        # and description: 0.18 ms a package, the most of a search's time before)
        f"CREATE INDEX ix_search_documents_own ON {s}.search_documents USING gin (own)",
    ]


PG_DOWN = [
    "DROP TRIGGER IF EXISTS search_files_delete ON files",
    "DROP TRIGGER IF EXISTS search_files_update ON files",
    "DROP TRIGGER IF EXISTS search_files_insert ON files",
    "DROP TRIGGER IF EXISTS search_packages_update ON packages",
    "DROP TRIGGER IF EXISTS search_packages_insert ON packages",
    "DROP TABLE IF EXISTS search_documents",
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
        for statement in _pg_functions(schema) + _pg_documents(schema):
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
        for statement in PG_DOWN:
            op.execute(statement)
        for function in PG_FUNCTIONS:
            op.execute(f'DROP FUNCTION IF EXISTS "{schema}".{function}')
    else:
        for statement in SQLITE_DOWN:
            op.execute(statement)
