"""schemathesis hooks for scripts/contract.py: sign the payment channels' webhook, and count
the answers per operation.

The webhook takes no bearer token: a channel signs the raw body with a shared secret
(`x-paspor-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`). Without a
signature every fuzzed notification would stop at 401, so the body is serialized here, once,
and the exact bytes sent are signed.

Every answer is tallied by status class per operation; at exit the tally is written to
`target/contract/statuses.json` and one line per operation says how many of its cases reached a
2xx, so a schema looser than the server (its generated data mostly refused) shows up at a glance.
"""

import atexit
import collections
import hashlib
import hmac
import json
import os
import pathlib
import time

import schemathesis

SECRET = os.environ.get("PASPOR_CONTRACT_WEBHOOK_SECRET", "").encode()


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/v1/payments/notifications" or not SECRET:
        return
    if not isinstance(case.body, (dict, list, int, float, bool)):
        # No body, or raw bytes (a malformed-body case): sent unsigned, answered 401.
        return
    try:
        body = json.dumps(case.body, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return
    timestamp = str(int(time.time()))
    mac = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256)
    case.body = body
    case.headers = dict(case.headers or {})
    case.headers["x-paspor-timestamp"] = timestamp
    case.headers["x-paspor-signature"] = "v1=" + mac.hexdigest()


STATUSES = pathlib.Path(__file__).resolve().parent.parent / "target" / "contract" / "statuses.json"
# "METHOD PATH" -> status classes ("2xx", "4xx", ...) over every case and over the positive
# ones (generated to fit the schema), and the positive cases' refusals by problem `code` (with
# the fields an `invalid_request` names): where the schema is looser than the server, they
# stop at `invalid_request` instead of reaching the logic.
_tally = collections.defaultdict(
    lambda: {
        "all": collections.Counter(),
        "positive": collections.Counter(),
        "refusals": collections.Counter(),
    }
)


def _refusal(response):
    try:
        problem = json.loads(response.content)
    except ValueError:
        return str(response.status_code)
    if not isinstance(problem, dict):
        return str(response.status_code)
    reason = f"{response.status_code} {problem.get('code', '?')}"
    fields = sorted({e.get("field", "?") for e in problem.get("errors") or [] if isinstance(e, dict)})
    return f"{reason} ({', '.join(fields)})" if fields else reason


@schemathesis.hook
def after_call(context, case, response):
    entry = _tally[f"{case.operation.method.upper()} {case.operation.path}"]
    status = f"{response.status_code // 100}xx"
    entry["all"][status] += 1
    meta = getattr(case, "meta", None)
    if meta is not None and meta.generation.mode.is_positive:
        entry["positive"][status] += 1
        if 400 <= response.status_code < 500:
            entry["refusals"][_refusal(response)] += 1


def _share(counter):
    total = sum(counter.values())
    return total, counter["2xx"], round(100 * counter["2xx"] / total, 1) if total else 0.0


@atexit.register
def _summary():
    if not _tally:
        return
    operations = {}
    for label in sorted(_tally):
        entry = _tally[label]
        total, ok, pct = _share(entry["all"])
        p_total, p_ok, p_pct = _share(entry["positive"])
        operations[label] = {
            "cases": total,
            "2xx": ok,
            "share_2xx": pct,
            "statuses": dict(sorted(entry["all"].items())),
            "positive": {"cases": p_total, "2xx": p_ok, "share_2xx": p_pct},
            "positive_refusals": dict(entry["refusals"].most_common()),
        }
    STATUSES.parent.mkdir(parents=True, exist_ok=True)
    STATUSES.write_text(json.dumps(operations, indent=2) + "\n")
    print(f"2xx answers per operation (details in {STATUSES}):", flush=True)
    for label, op in operations.items():
        print(f"{label}: {op['cases']} cases, {op['2xx']} 2xx ({op['share_2xx']}%)", flush=True)
