"""The catalogue: SQLAlchemy models, repositories (the only place that writes queries), engines and
migrations. Import the submodules you need; this package imports nothing itself, so that
``migrations/env.py`` can use :mod:`preserve.catalogue.database` without loading the models."""
