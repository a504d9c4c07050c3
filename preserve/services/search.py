"""Find packages: free text over what describes them and their files, filters, pages.

:func:`search_packages` is what the web catalogue's package list and the API's search call. Free
text matches the title, the identifier, the Dublin Core values (creator, date, description, ...),
the package id, and the files' paths, PUIDs, format names and MIME types, accent- and
case-insensitively; every word must match (in the package or in one of its files), and the last
one matches as a prefix ("brus" finds "Brussel") unless it ends in digits ("fmt/11").
PostgreSQL answers from one search document per package (``search_documents``: the package's
own words and its current version's files' words, ``tsvector`` with the ``simple``
configuration, one GIN index, kept by statement-level triggers), SQLite from FTS5 tables kept in
sync by triggers (both built by migration 0007).
Only packages of the person's organisations are ever counted or listed.

Counts are exact up to :data:`COUNT_LIMIT` matches (and always as far as the page asked for);
beyond, a page says "more than" that many, and ``exact_count`` counts them all. A count stops at
its limit, so a word in nearly every package costs what a rare word costs (an exact count of
such a word takes about 0.1 s at 100,000 packages on PostgreSQL; see docs/benchmarks.md, "Web
catalogue").
"""

# SQL here is put together from constants of this module only; every value is a bound parameter
# ruff: noqa: S608

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from preserve.catalogue.folding import fold
from preserve.errors import InvalidInput
from preserve.services.sharing import shared_agreements

if TYPE_CHECKING:
    from preserve.bootstrap import Application
    from preserve.services.access import Principal

#: How the results can be ordered; "relevance" needs text (without it: "newest").
SORTS = ("relevance", "newest", "oldest", "title", "size")
STATUSES = ("ingesting", "stored", "failed")
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 25
#: Longer texts are refused: nobody types them, and each word costs an index lookup.
MAX_TEXT = 500
MAX_WORDS = 16
MAX_PAGE = 100_000
#: With at most this many matches, PostgreSQL takes them from the search index, then orders
#: them; with more, it walks the packages newest first and stops at a page of matches.
FEW_MATCHES = 20_000
#: Matches are counted up to this many (or to the end of the page asked for), unless
#: ``PackageQuery.exact_count``: beyond it, "more than 1,000 packages".
COUNT_LIMIT = 1_000
_WORD_PARTS = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class PackageQuery:
    """What to look for; every field is optional and the filters combine (AND)."""

    text: str = ""
    organisation: str | None = None  # slug
    collection: str | None = None  # slug (in ``organisation`` if given, else any visible)
    puid: str | None = None
    format_name: str | None = None
    mime: str | None = None
    creator: str | None = None  # a part of a Dublin Core creator, accents and case folded
    date_from: str | None = None  # Dublin Core dates: ISO 8601 (a year, a month, a day)
    date_to: str | None = None
    ingested_from: date | None = None
    ingested_to: date | None = None  # both included
    status: str | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort: str | None = None  # None: relevance with text, else newest
    #: count every match, however many (else counting stops after :data:`COUNT_LIMIT`)
    exact_count: bool = False


@dataclass(frozen=True)
class PackageHit:
    id: str
    title: str
    identifier: str | None
    organisation: str
    collection: str
    ingested_at: datetime
    stored_at: datetime | None
    files: int
    bytes: int
    version: int
    status: str
    damaged: bool


@dataclass(frozen=True)
class PackagePage:
    items: tuple[PackageHit, ...]
    #: how many packages match: exactly when ``exact``, else a lower bound (more match)
    total: int
    page: int
    per_page: int
    sort: str
    exact: bool = True

    @property
    def pages(self) -> int:
        """How many pages (when ``exact``; otherwise at least this many)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        # not exact: more matches were found than the end of this page
        return self.page < self.pages or not self.exact

    @property
    def first_index(self) -> int:
        """The position (1-based) of the first item on this page among all results."""
        return (self.page - 1) * self.per_page + 1 if self.items else 0


# ----------------------------------------------------------------------------- checking


def _date_text(value: str | None, field: str) -> str | None:
    """A Dublin Core date bound: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
        raise InvalidInput(
            f"{field} {value!r} is not a date: give a year (1923), a month (1923-05) or a day "
            "(1923-05-17)"
        )
    try:
        parts = [int(p) for p in value.split("-")]
        date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        raise InvalidInput(f"{field} {value!r} is not a date that exists") from None
    return value


def parse_day(value: str | None, field: str) -> date | None:
    """A day (``2024-03-31``) given to ``field``; None for nothing; InvalidInput otherwise."""
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{field} {value!r} is not a date: give a day such as 2024-03-31"
        ) from None


def parse_int(value: str | None, field: str, default: int) -> int:
    """A whole number given to ``field`` (page, per_page); InvalidInput otherwise."""
    if value is None or not str(value).strip():
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{field} {value!r} is not a whole number") from None


def _words(text: str) -> list[list[str]]:
    """The folded words of ``text``, each as its alphanumeric parts ("IMG_0001.tif" is one word
    of three parts, matched as a phrase); words without a letter or digit are left out."""
    if len(text) > MAX_TEXT:
        raise InvalidInput(
            f"the search text is {len(text)} characters long: give at most {MAX_TEXT}"
        )
    words = [_WORD_PARTS.findall(w) for w in fold(text).split()]
    words = [w for w in words if w]
    if len(words) > MAX_WORDS:
        raise InvalidInput(f"the search text has {len(words)} words: give at most {MAX_WORDS}")
    return words


def _check(query: PackageQuery) -> None:
    if query.page < 1 or query.page > MAX_PAGE:
        raise InvalidInput(f"page {query.page} does not exist: pages start at 1")
    if not 1 <= query.per_page <= MAX_PER_PAGE:
        raise InvalidInput(
            f"per_page {query.per_page} is out of range: give 1 to {MAX_PER_PAGE} per page"
        )
    if query.sort is not None and query.sort not in SORTS:
        raise InvalidInput(f"no sort order {query.sort!r}: give one of {', '.join(SORTS)}")
    if query.status is not None and query.status not in STATUSES:
        raise InvalidInput(f"no status {query.status!r}: give one of {', '.join(STATUSES)}")
    if (
        query.ingested_from is not None
        and query.ingested_to is not None
        and query.ingested_from > query.ingested_to
    ):
        raise InvalidInput(
            f"ingested from {query.ingested_from.isoformat()} is after ingested to "
            f"{query.ingested_to.isoformat()}: no package can match"
        )
    for name in ("puid", "format_name", "mime", "creator", "organisation", "collection"):
        value = getattr(query, name)
        if value is not None and len(value) > 255:
            raise InvalidInput(f"{name} is {len(value)} characters long: give at most 255")


# ----------------------------------------------------------------------------- queries


def _fts_queries(dialect: str, words: list[list[str]]) -> tuple[list[str], str]:
    """One index query per word, and one for all words together (relevance)."""
    out = []
    for i, parts in enumerate(words):
        # the last word may be unfinished ("brus"), unless it ends in a number: "fmt/11" is
        # not "fmt/111"
        last = i == len(words) - 1 and not parts[-1].isdigit()
        if dialect == "postgresql":
            # the parts of a word (IMG, 0001, tif) all present, not as a phrase: a phrase needs
            # every matching row's tsvector computed again to check positions (a recheck that
            # took a minute for fmt/353 over a million files); the GIN index answers & alone
            q = " & ".join(parts)
            out.append(f"({q}:*)" if last else f"({q})")
        else:
            out.append('"' + " ".join(parts) + '"' + ("*" if last else ""))
    joiner = " & " if dialect == "postgresql" else " AND "
    return out, joiner.join(out)


def _pg_query(session: Any, text: str) -> str:
    """The ``tsquery`` of ``text`` as PostgreSQL parses it, with every phrase operator made an
    AND: the documents are stripped of positions (migration 0007), and PostgreSQL's parser cuts
    some words in two ("631e15bf", a package id, is the number 631e15 and the word bf), which it
    would join as a phrase that a stripped document never matches."""
    parsed = session.execute(
        sa.text("SELECT CAST(to_tsquery('simple', :q) AS text)"), {"q": text}
    ).scalar_one()
    return parsed.replace("<->", "&")


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _word_condition(dialect: str, param: str) -> str:
    """SQLite: the package ``p`` matches the index query in ``:param`` (itself or a file).
    (PostgreSQL: the package's search document, one row per package with its own words and its
    files', kept by triggers (migration 0007), answers from one GIN index over the packages,
    however many files match.)"""
    return (
        f"p.id IN (SELECT package_id FROM search_packages WHERE search_packages MATCH :{param} "
        f"UNION SELECT sf.package_id FROM search_files JOIN files AS sf "
        f"ON sf.id = search_files.rowid JOIN packages AS fp ON fp.id = sf.package_id "
        f"WHERE search_files MATCH :{param} AND sf.role = 'payload' AND sf.version = fp.version)"
    )


def _own_match(dialect: str, param: str) -> str:
    """SQL: the package's own description (not only a file) matches every word (PostgreSQL: the
    own words kept beside its search document ``sd``, migration 0007)."""
    if dialect == "postgresql":
        return f"sd.own @@ CAST(:{param} AS tsquery)"
    return f"p.id IN (SELECT package_id FROM search_packages WHERE search_packages MATCH :{param})"


#: The Dublin Core elements whose values the date filters look at.
DATE_ELEMENTS = ("date", "dcterms:created", "dcterms:issued")


def _date_values(dialect: str) -> str:
    """SQL: the Dublin Core dates of ``p`` as rows of one column ``v``."""
    if dialect == "postgresql":
        parts = [
            f"SELECT x AS v FROM json_array_elements_text(CASE json_typeof(p.description -> "
            f"'{key}') WHEN 'array' THEN p.description -> '{key}' WHEN 'string' THEN "
            f"json_build_array(p.description ->> '{key}') ELSE '[]'::json END) AS x"
            for key in DATE_ELEMENTS
        ]
    else:
        parts = [
            f"SELECT value AS v FROM json_each(p.description, '$.\"{key}\"') WHERE type = 'text'"
            for key in DATE_ELEMENTS
        ]
    return "(" + " UNION ALL ".join(parts) + ") AS d"


def _resolve_places(
    session: Any, principal: Principal, query: PackageQuery
) -> tuple[list[int] | None, int | None]:
    """The organisations to look in (None: all) and the collection id, from the slugs given;
    an organisation or collection the person cannot see is unknown, as one that does not exist."""
    visible = principal.visible_organisations()
    orgs: list[int] | None = None if visible is None else sorted(visible)
    if orgs:
        every = session.execute(sa.text("SELECT id FROM organisations")).scalars().all()
        if set(every) <= set(orgs):
            # a member of every organisation sees every package: no filter to apply (the
            # count then needs no join with the collections)
            orgs = None
    if query.organisation:
        org_id = session.execute(
            sa.text("SELECT id FROM organisations WHERE slug = :slug"),
            {"slug": query.organisation},
        ).scalar()
        if org_id is None or (visible is not None and org_id not in visible):
            raise InvalidInput(f"no organisation {query.organisation!r}")
        orgs = [org_id]
    collection_id = None
    if query.collection:
        sql = "SELECT id, organisation_id FROM collections WHERE slug = :slug"
        rows = session.execute(sa.text(sql), {"slug": query.collection}).all()
        rows = [r for r in rows if orgs is None or r[1] in orgs]
        if not rows:
            raise InvalidInput(f"no collection {query.collection!r}")
        if len(rows) > 1:
            raise InvalidInput(
                f"more than one organisation has a collection {query.collection!r}: choose "
                "the organisation too"
            )
        collection_id = rows[0][0]
    return orgs, collection_id


def _since(day: date, dialect: str) -> datetime | str:
    """Midnight UTC of ``day``, as the dialect compares timestamps (SQLite: text)."""
    moment = datetime.combine(day, time(), UTC)
    return moment if dialect == "postgresql" else moment.strftime("%Y-%m-%d %H:%M:%S")


def search_packages(app: Application, principal: Principal, query: PackageQuery) -> PackagePage:
    """The page ``query.page`` of the packages the person sees that match ``query``, and how
    many match in all. Bad input raises :class:`InvalidInput` with a message saying why."""
    _check(query)
    words = _words(query.text or "")
    if (query.text or "").strip() and not words:
        raise InvalidInput(
            f"the search text {query.text.strip()[:50]!r} has no letters or digits to look for"
        )
    date_from = _date_text(query.date_from, "date from")
    date_to = _date_text(query.date_to, "date to")
    if date_from and date_to and date_from[:4] > date_to[:4]:
        raise InvalidInput(f"date from {date_from} is after date to {date_to}: nothing can match")
    sort = query.sort or ("relevance" if words else "newest")
    if sort == "relevance" and not words:
        sort = "newest"
    with app.uow() as uow:
        session = uow.session
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            # a page of a search is a few short index walks that stop early: parallel workers
            # only add start-up work (and under load take cores from other requests); the first
            # page of "haven" took 33 ms with two workers, 9 ms without
            session.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
        orgs, collection_id = _resolve_places(session, principal, query)
        where: list[str] = []
        params: dict[str, Any] = {}
        expanding: list[str] = []
        if orgs is not None:
            # packages of other organisations shared with the person's through an agreement in
            # force (its parties see them): the versions' ids, a short list
            shared = (
                []
                if query.organisation or query.collection
                else shared_agreements(session, principal)
            )
            # the collections of those organisations (a short list), so that the packages are
            # filtered by their own column, without a join
            place_ids = (
                session.execute(
                    sa.text("SELECT id FROM collections WHERE organisation_id IN :orgs").bindparams(
                        sa.bindparam("orgs", expanding=True)
                    ),
                    {"orgs": orgs},
                )
                .scalars()
                .all()
                if orgs
                else []
            )
            if not place_ids and not shared:
                return PackagePage((), 0, query.page, query.per_page, sort)
            if shared:
                # an EXISTS on package_retention's primary key per package
                where.append(
                    "(p.collection_id IN :places OR EXISTS (SELECT 1 FROM package_retention "
                    "AS pr WHERE pr.package_id = p.id AND pr.agreement_id IN :shared))"
                )
                params["shared"] = shared
                expanding.append("shared")
            else:
                where.append("p.collection_id IN :places")
            params["places"] = list(place_ids)
            expanding.append("places")
        if collection_id is not None:
            where.append("p.collection_id = :collection_id")
            params["collection_id"] = collection_id
        if query.status:
            where.append("p.status = :status")
            params["status"] = query.status
        if query.ingested_from:
            where.append("p.created_at >= :ingested_from")
            params["ingested_from"] = _since(query.ingested_from, dialect)
        if query.ingested_to:
            where.append("p.created_at < :ingested_before")
            params["ingested_before"] = _since(query.ingested_to + timedelta(days=1), dialect)
        # PUIDs and MIME types are written in lower case; format names as the registry does
        for column, sql in (
            ("puid", "puid = :puid"),
            # "text/plain" also finds "text/plain; charset=us-ascii"
            ("mime", "(mime = :mime OR mime LIKE :mime || ';%')"),
            ("format_name", "lower(format_name) = :format_name"),
        ):
            value = getattr(query, column)
            if value and value.strip():
                where.append(f"p.id IN (SELECT package_id FROM files WHERE {sql})")
                params[column] = value.strip().lower()
        if query.creator and query.creator.strip():
            params["creator"] = _like(fold(query.creator.strip()))
            if dialect == "postgresql":
                where.append(
                    "preserve_fold(preserve_description_text(p.description, 'creator')) "
                    "LIKE :creator ESCAPE '\\'"
                )
            else:
                where.append(
                    "EXISTS (SELECT 1 FROM json_each(p.description, '$.creator') AS cr "
                    "WHERE cr.type = 'text' AND fold(cr.value) LIKE :creator ESCAPE '\\')"
                )
        # a date's text compared as text, byte by byte: "1920" is within 1920-06-01..1921
        binary = ' COLLATE "C"' if dialect == "postgresql" else ""
        if date_from:
            where.append(
                f"EXISTS (SELECT 1 FROM {_date_values(dialect)} WHERE substr(d.v, 1, 10){binary}"
                " >= substr(:date_from, 1, length(substr(d.v, 1, 10))))"
            )
            params["date_from"] = date_from
        if date_to:
            where.append(
                f"EXISTS (SELECT 1 FROM {_date_values(dialect)} WHERE d.v{binary} <= :date_to)"
            )
            params["date_to"] = date_to + "~"
        pg_words = bool(words) and dialect == "postgresql"
        others = len(where)  # the conditions other than the words
        if words:
            per_word, together = _fts_queries(dialect, words)
            if pg_words:
                # every word in the package's one document: a single index query
                where.append("sd.document @@ CAST(:all_words AS tsquery)")
            else:
                for i, q in enumerate(per_word):
                    where.append(_word_condition(dialect, f"w{i}"))
                    params[f"w{i}"] = q
            if pg_words:
                together = _pg_query(session, together)
            params["all_words"] = together
        newest = "p.created_at DESC, p.id"
        order = {
            "relevance": newest,
            "newest": newest,
            "oldest": "p.created_at, p.id",
            "title": "lower(p.title), p.id",
            "size": "p.size DESC, p.id",
        }[sort]
        documents = " JOIN search_documents AS sd ON sd.package_id = p.id" if pg_words else ""
        joins = "FROM packages AS p JOIN collections AS c ON c.id = p.collection_id" + documents
        condition = ("WHERE " + " AND ".join(where)) if where else ""

        def statement(sql: str) -> sa.TextClause:
            text = sa.text(sql)
            for name in expanding:
                text = text.bindparams(sa.bindparam(name, expanding=True))
            return text

        if pg_words and not others:
            # words alone: one document per package, so counting the documents that match
            # is counting the packages (from the GIN index, no join)
            matches = (
                "SELECT 1 FROM search_documents AS sd "
                "WHERE sd.document @@ CAST(:all_words AS tsquery)"
            )
        else:
            matches = f"SELECT 1 FROM packages AS p{documents} {condition}"
        offset = (query.page - 1) * query.per_page
        if query.exact_count:
            count_sql, count_params = f"SELECT count(*) FROM ({matches}) AS m", params
        else:
            # up to the limit, and always past the end of the page asked for (so that the page
            # knows whether another follows)
            count_upto = max(COUNT_LIMIT, offset + query.per_page) + 1
            count_sql = f"SELECT count(*) FROM ({matches} LIMIT :count_upto) AS m"
            count_params = {**params, "count_upto": count_upto}
        total = session.execute(statement(count_sql), count_params).scalar_one()
        exact = query.exact_count or total < count_upto
        if not exact:
            total -= 1
        if total == 0 or (exact and offset >= total):
            return PackagePage((), int(total), query.page, query.per_page, sort, exact)
        match = "sd.document @@ CAST(:all_words AS tsquery)"
        if pg_words and exact and total <= FEW_MATCHES:
            # few matches: take them from the GIN index first, then order them (ordering by
            # the created_at index and checking each package would read most of the packages
            # before it found a page of rare ones)
            condition = condition.replace(match, "TRUE")
            joins = joins.replace(
                " JOIN search_documents AS sd ON sd.package_id = p.id",
                " JOIN (SELECT package_id, own FROM search_documents WHERE document @@ "
                "CAST(:all_words AS tsquery) OFFSET 0) AS sd ON sd.package_id = p.id",
            )
        columns = (
            "SELECT p.id, p.title, p.external_identifier, o.slug AS organisation, "
            "c.slug AS collection, p.created_at, p.stored_at, p.file_count, p.size, "
            "p.version, p.status, p.damaged_at "
            f"{joins} JOIN organisations AS o ON o.id = c.organisation_id"
        )
        rows: Sequence[Any]
        if sort == "relevance":
            # the packages that match by their own words (title, identifier, description) come
            # first, then those that match only by their files' words, each newest first: the
            # first query takes the own matches up to the end of the page; only when they end
            # before it does a second take the files' matches that follow (no count of either
            # kind, no ranking of every match)
            own = _own_match(dialect, "all_words")
            and_ = " AND " if where else "WHERE "
            upto = offset + query.per_page
            if match in condition:
                # own words are in the document too: asking both would make PostgreSQL take
                # them as independent and expect 441 packages where "zoë" has 6,664 (and sort
                # them all instead of walking the newest: 45 ms instead of a few)
                own_condition = condition.replace(match, own)
            else:
                own_condition = f"{condition}{and_}{own}"
            first = session.execute(
                statement(f"{columns} {own_condition} ORDER BY {newest} LIMIT :upto"),
                {**params, "upto": upto},
            ).all()
            rows = list(first[offset:])
            if len(first) < upto:
                rows += session.execute(
                    statement(
                        f"{columns} {condition}{and_}NOT {own} ORDER BY {newest} "
                        "LIMIT :limit OFFSET :offset"
                    ),
                    {
                        **params,
                        "limit": query.per_page - len(rows),
                        "offset": max(0, offset - len(first)),
                    },
                ).all()
        else:
            rows = session.execute(
                statement(f"{columns} {condition} ORDER BY {order} LIMIT :limit OFFSET :offset"),
                {**params, "limit": query.per_page, "offset": offset},
            ).all()
    items = tuple(
        PackageHit(
            id=r[0],
            title=r[1] or "",
            identifier=r[2],
            organisation=r[3],
            collection=r[4],
            ingested_at=_aware(r[5]),
            stored_at=_aware(r[6]) if r[6] is not None else None,
            files=int(r[7] or 0),
            bytes=int(r[8] or 0),
            version=int(r[9] or 1),
            status=r[10],
            damaged=r[11] is not None,
        )
        for r in rows
    )
    return PackagePage(items, int(total), query.page, query.per_page, sort, exact)


def _aware(value: Any) -> datetime:
    """A timestamp read by raw SQL (SQLite gives text or naive values) as aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
