"""`python -m elk_provision <step>`: the one provisioning command for compose, Ansible and tests.

Steps available now: `init` (secrets and certificates) and `elasticsearch`. Exit status 0
when every asset is in place, 1 with one clear line naming the asset and Elasticsearch's
reason otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from elk_provision.errors import ProvisioningError


def _parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(prog="elk-provision", description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    init = steps.add_parser("init", help="create missing secrets and certificates")
    init.add_argument("--secrets-dir", type=Path,
                      default=Path(env.get("SECRETS_DIR", "/run/elk-secrets")))
    init.add_argument("--certs-dir", type=Path, default=Path(env.get("CERTS_DIR", "/certs")))
    init.add_argument("--node", action="append", default=[], metavar="NAME[,DNS...]",
                      help="an extra node certificate (e.g. es02 for a three-node cluster)")
    init.add_argument("--owner", default=env.get("INIT_OWNER"), metavar="UID:GID",
                      help="chown created files so non-root containers can read them")
    es = steps.add_parser("elasticsearch", help="roles, users, passwords, ILM, templates")
    es.add_argument("--es-url", default=env.get("ES_URL", "https://elasticsearch:9200"))
    es.add_argument("--ca-file", default=env.get("CA_FILE"),
                    help="CA that signed Elasticsearch's certificate (verification is always on)")
    es.add_argument("--secrets-dir", type=Path,
                    default=Path(env.get("SECRETS_DIR", "/run/elk-secrets")))
    es.add_argument("--assets-dir", type=Path, default=Path(env.get("ASSETS_DIR", "elasticsearch")))
    es.add_argument("--timeout", type=float, default=float(env.get("PROVISION_TIMEOUT", "300")),
                    help="seconds to wait for Elasticsearch to become ready")
    return parser


def run_elasticsearch(args: argparse.Namespace) -> int:
    from elasticsearch import Elasticsearch
    from elk_provision.elasticsearch_assets import ElasticsearchProvisioner, wait_until_ready

    password_file = args.secrets_dir / "elastic_password"
    try:
        password = password_file.read_text().strip()
    except OSError as exc:
        raise ProvisioningError(f"cannot read {password_file} ({exc.strerror})") from exc
    es = Elasticsearch(args.es_url, basic_auth=("elastic", password), ca_certs=args.ca_file,
                       request_timeout=30)
    wait_until_ready(es, args.timeout)
    changes = ElasticsearchProvisioner(es, args.assets_dir, args.secrets_dir).run()
    changed = sum(change.action != "unchanged" for change in changes)
    print(f"elasticsearch: {len(changes)} assets checked, {changed} changed", flush=True)
    return 0


def run_init_step(args: argparse.Namespace) -> int:
    from elk_provision.init_secrets import run_init

    owner = None
    if args.owner:
        try:
            uid, gid = (int(part) for part in args.owner.split(":"))
        except ValueError as exc:
            raise ProvisioningError(f"--owner {args.owner!r} is not UID:GID") from exc
        owner = (uid, gid)
    created = run_init(args.secrets_dir, args.certs_dir, args.node, owner)
    for path in created:
        print(f"created {path}")
    print(f"init: {len(created)} files created", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.step == "init":
            return run_init_step(args)
        return run_elasticsearch(args)
    except ProvisioningError as exc:
        print(f"provisioning failed: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
