"""The Celery workers (installed as ``preserve.workers``): a thin adapter that turns a task
message into one call of a service in ``preserve/`` (see :mod:`preserve.workers.app`)."""
