"""An exit's deletion is allowed by the exit terms, even when the rights disallow delete.

The README's own example agreement grants ``delete: disallow`` (no deletion during custody) and
ends with ``delete_with_certificate``: the exit deletion was proposed and approved, then refused
at execution, and the agreement could never be closed. The exit terms the parties signed are
what allow that deletion; ad hoc deletions stay refused by the grant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from preserve.errors import Conflict
from preserve.services import agreements as service
from preserve.services import disposal, exits
from tests.agreement_setup import person
from tests.integration import test_exit as ex

NO_DELETE = [
    {"act": "replicate", "restriction": "allow"},
    {"act": "delete", "restriction": "disallow"},
]


def test_the_exit_terms_allow_the_exit_deletion_that_the_rights_disallow(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_spec = ex.spec

    def spec(**changes: Any) -> Any:
        return real_spec(rights=NO_DELETE, **changes)

    monkeypatch.setattr(ex, "spec", spec)
    w = ex._world(tmp_path, database_url, ex._terms("delete_with_certificate"))
    try:
        cas, mia = person(w.app, "cas"), person(w.app, "mia")
        # during custody the grant holds: no ad hoc deletion
        with pytest.raises(Conflict, match="disallows delete"):
            disposal.propose(w.app, mia, [w.packages[0]], kind="adhoc", reason="space")
        out = tmp_path / "exit"
        exits.export(w.app, cas, ex.REF, out)
        exits.confirm(w.app, mia, ex.REF, w.receipt(out), "museum")
        [request] = disposal.list_requests(w.app, None)
        assert request.kind == "exit"
        disposal.approve(w.app, person(w.app, "max"), request.id, "museum")
        disposal.approve(w.app, person(w.app, "root"), request.id, "archive")
        assert disposal.execute(w.app, cas, request.id).state == "executed"
        assert exits.status(w.app, None, ex.REF).exports[0].post_exit_state == "done"
        closed = service.close(w.app, cas, ex.REF, "deleted, declaration", now=ex.EXITING)
        assert closed.state == "closed"
    finally:
        w.app.close()
