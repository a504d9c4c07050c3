"""The ingest pipeline, one module per stage (see ``docs/architecture.md``):

``receive`` (what the delivery is) -> ``stage`` (copy and hash in one read) -> ``identify``
(siegfried, libmagic, Pillow in helper processes) -> ``store`` (every location, every copy
verified) -> ``metadata`` (Dublin Core, PREMIS, bag-info) -> ``register`` (one transaction);
``recover`` removes what an interrupted ingest left; ``pipeline`` runs the stages in order.
"""

from preserve.ingest.model import IngestedFile, IngestFailure, IngestReport, IngestResult
from preserve.ingest.pipeline import ingest, ingest_one
from preserve.ingest.recover import recover_interrupted

__all__ = [
    "IngestFailure",
    "IngestReport",
    "IngestResult",
    "IngestedFile",
    "ingest",
    "ingest_one",
    "recover_interrupted",
]
