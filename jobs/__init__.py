"""The job system: the lab store, the runner and its scheduler, the map projector, the
worker process and the command line (``python -m trainers``)."""
