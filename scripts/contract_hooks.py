"""schemathesis hooks for scripts/contract.py: sign the payment channels' webhook.

The webhook takes no bearer token: a channel signs the raw body with a shared secret
(`x-paspor-signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`). Without a
signature every fuzzed notification would stop at 401, so the body is serialized here, once,
and the exact bytes sent are signed.
"""

import hashlib
import hmac
import json
import os
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
