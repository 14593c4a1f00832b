#!/usr/bin/env python3
"""Contract fuzzing: schemathesis against openapi.yaml on a real paspor-local.

Starts paspor-local (seeded) on a free port over a fresh data directory, makes a verified
account (its OTP read from the outbox) and a draft application so the fuzzer reaches
authenticated operations, then runs every operation through schemathesis with every check:
no 5xx, and every response conforms to the document. Exits non-zero on any failure.

With `--stack DATA_DIR` in place of the binary it runs against the stack as deployed
(scripts/stack, already started and seeded): the account's OTP comes from the stack's
outbox, and the operators' routes, which take SigV4 there, are left to the local run.

Usage: contract.py PASPOR_LOCAL_BINARY|--stack=DATA_DIR SCHEMATHESIS_BINARY [extra args...]
"""

import email
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.request

OPS_TOKEN = "contract-ops-token"
WEBHOOK_SECRET = "contract-webhook-secret"


def call(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(req, data, timeout=30) as r:
            raw = r.read()
            return r.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None)


def otp(outbox, to):
    deadline = time.time() + 15
    while time.time() < deadline:
        for f in sorted(outbox.glob("*.eml")):
            msg = email.message_from_bytes(f.read_bytes())
            if to in (msg["To"] or ""):
                for word in (msg["Subject"] or "").split():
                    if len(word) == 6 and word.isdigit():
                        return word
        time.sleep(0.1)
    sys.exit(f"no OTP for {to} in {outbox}")


def main():
    local, schemathesis, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    root = pathlib.Path(__file__).resolve().parent.parent
    if local.startswith("--stack="):
        data = pathlib.Path(local.removeprefix("--stack="))
        base = json.loads((data / "stack.json").read_text())["url"]
        fuzz(root, base, data, schemathesis, extra + ["--exclude-path-regex", "^/v1/ops/"])
        return
    data = pathlib.Path(tempfile.mkdtemp(prefix="paspor-contract-"))
    env = dict(
        os.environ,
        PASPOR_OPS_TOKEN=OPS_TOKEN,
        RUST_LOG=os.environ.get("RUST_LOG", "warn"),
        # The fuzzer sends thousands of requests from one address on purpose.
        PASPOR_RATE_LIMITS="off",
        PASPOR_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    server = subprocess.Popen(
        [local, "--addr", "127.0.0.1:0", "--data-dir", str(data), "--seed", "demo"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        base = None
        for line in server.stdout:
            if line.startswith("paspor-local listening on "):
                base = line.split()[-1]
                break
        if base is None:
            sys.exit("paspor-local exited before listening")
        # Keep draining stdout so the server never blocks on a full pipe.
        import threading

        threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
        fuzz(root, base, data, schemathesis, extra)
    finally:
        server.terminate()
        server.wait(timeout=10)


def fuzz(root, base, data, schemathesis, extra):
    """Makes the account and the draft the operations need, then runs schemathesis; exits
    with its status."""
    who = f"fuzz.{int(time.time() * 1000)}@example.id"
    status, _ = call(
        base,
        "POST",
        "/v1/accounts",
        {
            "email": who,
            "password": "kata-sandi-yang-panjang",
            "full_name": "Budi Fuzz",
            "phone": "081234567890",
        },
    )
    assert status == 201, status
    status, body = call(
        base, "POST", "/v1/accounts/verify", {"email": who, "code": otp(data / "outbox", who)}
    )
    assert status == 200, (status, body)
    token = body["access_token"]
    # A draft application of that account, so operations on `{id}` reach their logic
    # instead of answering 404 to random ids.
    status, applicant = call(
        base,
        "POST",
        "/v1/applicants",
        {
            "nik": "3171014506900007",
            "full_name": "Sari Fuzz",
            "birth_date": "1990-06-05",
            "birth_place": "Jakarta",
            "sex": "F",
            "relationship": "self",
        },
        token,
    )
    assert status == 201, (status, applicant)
    status, draft = call(
        base,
        "POST",
        "/v1/applications",
        {
            "applicant_id": applicant["applicant_id"],
            "passport_type": "electronic",
            "application_type": "new",
            "purpose": "tourism",
            "express": False,
            "destination_country": "JP",
        },
        token,
    )
    assert status == 201, (status, draft)

    config = data / "schemathesis.toml"
    config.write_text(
        f"""
[parameters]
"path.id" = "{draft["application_id"]}"
"path.office_id" = "jakarta-pusat"

[auth.openapi.bearer]
bearer = "{token}"

[auth.openapi.ops]
bearer = "{OPS_TOKEN}"
"""
    )
    report = root / "target" / "contract"
    report.mkdir(parents=True, exist_ok=True)
    cmd = [
        schemathesis,
        "--config-file",
        str(config),
        "run",
        str(root / "openapi.yaml"),
        "--url",
        base,
        "--checks",
        "all",
        # One worker: hypothesis parses lambdas with `ast`, which CPython 3.11 cannot do
        # from two threads at once ("AST constructor recursion depth mismatch").
        "--workers",
        "1",
        "--report",
        "junit",
        "--report-dir",
        str(report),
    ] + extra
    print("$", " ".join(cmd[:1] + cmd[3:]), flush=True)
    hooks_env = dict(
        os.environ,
        SCHEMATHESIS_TELEMETRY="false",
        # scripts/contract_hooks.py signs the payment webhook's bodies.
        SCHEMATHESIS_HOOKS="contract_hooks",
        PYTHONPATH=str(root / "scripts"),
        PASPOR_CONTRACT_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    code = subprocess.call(cmd, env=hooks_env)
    sys.exit(code)


if __name__ == "__main__":
    main()
