"""The HTTP status each kind of refusal gets (web/errors.py): a state that forbids the request
now (a lifecycle transition refused, a package on hold) is 409, not a 500 nor a 403."""

from __future__ import annotations

import pytest
from preserve.web.errors import status_of

from preserve import errors as e


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (e.Conflict("agreement CRA-1 v1 is signed: it cannot be edited"), 409),
        (e.OnHold("package x is under legal hold 'Dispute'"), 409),
        (e.PermissionDenied("viewers may not edit"), 403),
        (e.NotFound("no package x"), 404),
        (e.InvalidInput("page 0 does not exist"), 400),
        (e.AlreadyExists("collection photos exists"), 409),
    ],
)
def test_each_refusal_has_its_status(error: e.PreserveError, status: int) -> None:
    assert status_of(error) == status
