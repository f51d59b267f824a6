"""`python -m gibo.config schema {experiment,data}`: the JSON Schema of the YAML configs, for editors."""

from __future__ import annotations

import json
import sys

from gibo.config.load import json_schema


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m gibo.config", description="JSON Schema of the YAML configs, for editors."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    schema = sub.add_parser("schema", help="print the JSON Schema of one kind of config")
    schema.add_argument(
        "kind", choices=["experiment", "data"], help="experiment (method) configs or synthetic-data configs"
    )
    sys.stdout.write(json.dumps(json_schema(parser.parse_args(argv).kind), indent=2) + "\n")
    return 0
