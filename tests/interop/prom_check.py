#!/usr/bin/env python3
"""Parses a Prometheus text exposition with the official Python client's parser
(prometheus_client.parser, Debian's python3-prometheus-client) and checks what a scraper relies
on. For tests/integration/metrics_test.cc.

usage: prom_check.py EXPOSITION_FILE

Checks: the text parses; every family has HELP text and a type of counter, gauge or histogram
(none "unknown"); family names are unique and start with cairn_ or are the process_ ones;
counter samples end in _total (or _created); every histogram has _bucket samples with
increasing 'le' bounds ending in +Inf, cumulative counts, and +Inf equal to _count, per label set.
Prints "<families> families, <samples> samples: OK", or the problems and exit status 1.
"""
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def check_histogram(family, problems):
    series = {}
    for s in family.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        entry = series.setdefault(key, {"buckets": [], "count": None})
        if s.name == family.name + "_bucket":
            entry["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name == family.name + "_count":
            entry["count"] = s.value
    for key, entry in series.items():
        bounds = [b for b, _ in entry["buckets"]]
        counts = [c for _, c in entry["buckets"]]
        if not bounds or bounds[-1] != math.inf:
            problems.append(f"{family.name}{dict(key)}: no +Inf bucket")
            continue
        if bounds != sorted(bounds) or counts != sorted(counts):
            problems.append(f"{family.name}{dict(key)}: buckets not increasing")
        if entry["count"] is None or counts[-1] != entry["count"]:
            problems.append(f"{family.name}{dict(key)}: +Inf bucket {counts[-1]} != _count {entry['count']}")


def main(path):
    text = open(path, encoding="utf-8").read()
    problems, names, samples = [], set(), 0
    for family in text_string_to_metric_families(text):
        if family.name in names:
            problems.append(f"{family.name}: family repeated")
        names.add(family.name)
        if not family.name.startswith(("cairn_", "process_")):
            problems.append(f"{family.name}: not a cairn_ metric")
        if family.type not in ("counter", "gauge", "histogram"):
            problems.append(f"{family.name}: type {family.type}")
        if not family.documentation.strip():
            problems.append(f"{family.name}: no HELP text")
        for s in family.samples:
            samples += 1
            if family.type == "counter" and not s.name.endswith(("_total", "_created")):
                problems.append(f"{s.name}: a counter sample without _total")
        if family.type == "histogram":
            check_histogram(family, problems)
    if not names:
        problems.append("no metric families")
    for p in problems:
        print(p)
    print(f"{len(names)} families, {samples} samples: " + ("OK" if not problems else "FAILED"))
    return 0 if not problems else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
