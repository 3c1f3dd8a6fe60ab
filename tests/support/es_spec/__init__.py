"""Reference data generated from Elastic's own published definitions (see README.md)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
ECS_FIELDS_FILE = HERE / "ecs_fields.json"
