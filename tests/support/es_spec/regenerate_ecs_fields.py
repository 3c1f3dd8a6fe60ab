"""Regenerate ecs_fields.json: ECS's own definition of each field our templates map.

Usage (from the repository root, with a clone of https://github.com/elastic/ecs):

    .venv/bin/python tests/support/es_spec/regenerate_ecs_fields.py /path/to/ecs v8.11.0

The ECS version is the one the app writes in `ecs.version`. Only fields our component
templates map are kept, plus the names of ECS's top-level field sets, so the committed file
stays small and the test can tell "custom field inside an ECS field set" from "our own set".
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tests.support import es_mappings  # noqa: E402

KEPT_ATTRIBUTES = ("type", "index", "doc_values", "multi_fields")


def ecs_flat(ecs_repo: Path, ref: str) -> tuple[str, dict[str, Any]]:
    commit = subprocess.run(["git", "-C", str(ecs_repo), "rev-parse", f"{ref}^{{commit}}"],
                            check=True, capture_output=True, text=True).stdout.strip()
    text = subprocess.run(["git", "-C", str(ecs_repo), "show",
                           f"{commit}:generated/ecs/ecs_flat.yml"],
                          check=True, capture_output=True, text=True).stdout
    return commit, yaml.safe_load(text)


def our_fields() -> set[str]:
    fields: set[str] = set()
    for template in es_mappings.index_templates():
        fields.update(es_mappings.mapped_fields(template))
    return fields


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    ecs_repo, ref = Path(argv[0]), argv[1]
    commit, flat = ecs_flat(ecs_repo, ref)
    wanted = our_fields()
    fields = {
        name: {
            key: ([{"name": m["name"], "type": m["type"]} for m in spec[key]]
                  if key == "multi_fields" else spec[key])
            for key in KEPT_ATTRIBUTES if key in spec
        }
        for name, spec in sorted(flat.items()) if name in wanted
    }
    out = {
        "source": f"https://github.com/elastic/ecs/blob/{commit}/generated/ecs/ecs_flat.yml",
        "ecs_ref": ref,
        "ecs_commit": commit,
        "regenerate": "python tests/support/es_spec/regenerate_ecs_fields.py <ecs clone> "
                      f"{ref}",
        "field_sets": sorted({name.split(".")[0] for name in flat}),
        "fields": fields,
    }
    (HERE / "ecs_fields.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{len(fields)} fields from ECS {ref} ({commit})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
