"""The sample's gunicorn settings (app/gunicorn.conf.py), plus a flush of the benchmark's
logging variant when a worker exits, so every variant's sink receives all its events."""

import runpy
from pathlib import Path

_app_config = runpy.run_path(str(Path(__file__).resolve().parent.parent / "app/gunicorn.conf.py"))
globals().update({k: v for k, v in _app_config.items() if not k.startswith("__")})
_sample_worker_exit = _app_config["worker_exit"]


def worker_exit(server: object, worker: object) -> None:
    import variants_wsgi

    variants_wsgi.close()  # the alternatives' own handlers; ours is closed by shutdown_logging
    _sample_worker_exit(server, worker)
