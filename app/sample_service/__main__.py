"""Development server: `python -m sample_service` (use gunicorn in production)."""

from __future__ import annotations

import os

from sample_service.wsgi import app

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")), threaded=True)
