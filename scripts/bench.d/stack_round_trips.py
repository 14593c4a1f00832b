#!/usr/bin/env python3
"""AWS requests per HTTP request, by route, from a stack's traces (scripts/stack writes
http-requests.jsonl and aws-requests.jsonl into its data directory when it stops).

    scripts/bench.d/stack_round_trips.py DATA_DIR

Each AWS request of an HTTP function is given to the HTTP request whose time window holds
it, so the traffic must be one HTTP request at a time (scripts/bench-stack does that).
"Round trips" are the waits one after another: AWS requests that overlap count as one.
The worker and the sweeper run beside the HTTP requests and are counted apart.
"""
import collections
import json
import pathlib
import sys

data = pathlib.Path(sys.argv[1])
load = lambda name: [json.loads(l) for l in (data / name).read_text().splitlines() if l.strip()]  # noqa: E731
http = sorted(load("http-requests.jsonl"), key=lambda r: r["start_us"])
aws = sorted(load("aws-requests.jsonl"), key=lambda r: r["start_us"])
background = {"worker", "sweeper"}

by_route = collections.defaultdict(list)
for h in http:
    inside = [a for a in aws if a["function"] not in background and h["start_us"] <= a["start_us"] <= h["end_us"]]
    waves, end = 0, -1
    for a in inside:
        if a["start_us"] > end:
            waves += 1
        end = max(end, a["end_us"])
    ops = collections.Counter(a["operation"] for a in inside)
    by_route[h["route"] or "(no route)"].append((len(inside), waves, ops, h["end_us"] - h["start_us"]))

print("| route | requests | AWS requests each (min–max) | round trips one after another (min–max) | operations (all requests) |")
print("|---|---:|---:|---:|---|")
for route, rows in sorted(by_route.items()):
    counts = [r[0] for r in rows]
    waves = [r[1] for r in rows]
    ops = collections.Counter()
    for r in rows:
        ops.update(r[2])
    rng = lambda v: f"{min(v)}" if min(v) == max(v) else f"{min(v)}–{max(v)}"  # noqa: E731
    print(f"| `{route}` | {len(rows)} | {rng(counts)} | {rng(waves)} | {', '.join(f'{k} {v}' for k, v in ops.most_common())} |")
bg = collections.Counter((a["function"], a["operation"]) for a in aws if a["function"] in background)
print()
print("Background (worker, sweeper): " + ", ".join(f"{f} {o} {n}" for (f, o), n in sorted(bg.items())))
