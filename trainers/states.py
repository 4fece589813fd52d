"""The states of a run. The store and the scheduler set ``queued``, ``running`` and ``failed``;
the training loop ends a run ``finished``, ``cancelled`` or ``diverged``; ``imported`` runs
hold embeddings made elsewhere."""

QUEUED, RUNNING, FINISHED, CANCELLED, FAILED, DIVERGED, IMPORTED = (
    "queued",
    "running",
    "finished",
    "cancelled",
    "failed",
    "diverged",
    "imported",
)
ACTIVE = (QUEUED, RUNNING)
RESUMABLE = (CANCELLED, FAILED, DIVERGED)
