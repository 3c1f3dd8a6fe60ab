"""`python -m elk_provision <step>`: the one provisioning command for compose, Ansible and tests.

Steps: `init` (secrets, certificates), `elasticsearch`, `kibana` (saved objects), `all`.
Exit status 0 when every asset is in place, 1 with one clear line naming the asset and the
server's reason otherwise, 2 for bad arguments.
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
    _es_args(steps.add_parser("elasticsearch", help="roles, users, passwords, ILM, templates"),
             env)
    kb = steps.add_parser("kibana", help="import saved objects (data view, searches)")
    _kibana_args(kb, env)
    both = steps.add_parser("all", help="elasticsearch, then kibana")
    _es_args(both, env)
    _kibana_args(both, env, with_secrets=False)
    return parser


def _es_args(es: argparse.ArgumentParser, env: os._Environ[str] | dict[str, str]) -> None:
    es.add_argument("--es-url", default=env.get("ES_URL", "https://elasticsearch:9200"))
    es.add_argument("--ca-file", default=env.get("CA_FILE"),
                    help="CA that signed Elasticsearch's certificate (verification is always on)")
    es.add_argument("--secrets-dir", type=Path,
                    default=Path(env.get("SECRETS_DIR", "/run/elk-secrets")))
    es.add_argument("--assets-dir", type=Path, default=Path(env.get("ASSETS_DIR", "elasticsearch")))
    es.add_argument("--timeout", type=float, default=float(env.get("PROVISION_TIMEOUT", "300")),
                    help="seconds to wait for Elasticsearch to become ready")


def _kibana_args(parser: argparse.ArgumentParser, env: os._Environ[str] | dict[str, str],
                 with_secrets: bool = True) -> None:
    parser.add_argument("--kibana-url", default=env.get("KIBANA_URL", "http://kibana:5601"))
    parser.add_argument("--objects-dir", type=Path,
                        default=Path(env.get("OBJECTS_DIR", "kibana/saved_objects")))
    parser.add_argument("--rules-dir", type=Path,
                        default=Path(env.get("RULES_DIR", "kibana/rules")))
    parser.add_argument("--kibana-timeout", type=float,
                        default=float(env.get("KIBANA_TIMEOUT", "300")))
    if with_secrets:
        parser.add_argument("--ca-file", default=env.get("CA_FILE"))
        parser.add_argument("--secrets-dir", type=Path,
                            default=Path(env.get("SECRETS_DIR", "/run/elk-secrets")))


def run_kibana(args: argparse.Namespace) -> int:
    from elk_provision.kibana_objects import provision_kibana

    password = _elastic_password(args.secrets_dir)
    lines = provision_kibana(url=args.kibana_url, username="elastic", password=password,
                             ca_file=args.ca_file, objects_dir=args.objects_dir,
                             timeout=args.kibana_timeout,
                             rules_dir=args.rules_dir if args.rules_dir.is_dir() else None)
    for line in lines:
        print(line)
    print(f"kibana: {len(lines)} saved objects and rules in place", flush=True)
    return 0


def _elastic_password(secrets_dir: Path) -> str:
    path = secrets_dir / "elastic_password"
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ProvisioningError(f"cannot read {path} ({exc.strerror})") from exc


def run_elasticsearch(args: argparse.Namespace) -> int:
    from elasticsearch import Elasticsearch
    from elk_provision.elasticsearch_assets import ElasticsearchProvisioner, wait_until_ready

    password = _elastic_password(args.secrets_dir)
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
        if args.step == "kibana":
            return run_kibana(args)
        if args.step == "all":
            return run_elasticsearch(args) or run_kibana(args)
        return run_elasticsearch(args)
    except ProvisioningError as exc:
        print(f"provisioning failed: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
