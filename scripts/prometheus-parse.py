#!/usr/bin/python3
"""Parses a Prometheus text exposition (format 0.0.4) with the official Python client's parser
(Debian: python3-prometheus-client) and prints it as JSON: {family: {type, help, samples: [{name, labels, value}]}}.
Exits 1 with the parser's error when the text is not valid exposition. Used by the tests of /metrics.

usage: prometheus-parse.py FILE   (- for stdin)
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    text = sys.stdin.read() if sys.argv[1] == "-" else open(sys.argv[1], encoding="utf-8").read()
    out = {}
    try:
        for family in text_string_to_metric_families(text):
            if family.name in out:
                raise ValueError(f"family {family.name} appears twice")
            out[family.name] = {
                "type": family.type,
                "help": family.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
            }
    except Exception as e:  # the parser raises ValueError and friends for malformed input
        print(f"invalid exposition: {e!r}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
