#!/usr/bin/env python3
"""Cold start of each Lambda binary, measured as Lambda measures its Init Duration: from the
process's start to its first request for work on the Runtime API
(GET /2018-06-01/runtime/invocation/next).

An emulated Runtime API listens on a free loopback port; each binary is spawned with
AWS_LAMBDA_RUNTIME_API pointing at it and the environment infra/template.yaml gives that
function. The same process stands in for SSM Parameter Store (GetParameters, which every
function calls at init for its secrets), over HTTPS with a throw-away CA appended to the
system's CA bundle, so the init pays what it pays on AWS: loading the root certificates, a
TLS handshake and one request -- everything but the network's round trips (about 1 ms each
inside a region; the Runtime API itself is local on Lambda too).

Usage: coldstart.py BIN_DIR [RUNS]   (prints a Markdown table; raw times as JSON on stderr)
"""

import json
import os
import re
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUNCTIONS = ["accounts", "otp", "applications", "uploads", "booking", "billing", "payments",
             "operators", "worker", "sweeper", "web"]
PREFIX = "/paspor/bench"
SECRETS = {"token-key": "11" * 32, "otp-key": "22" * 32, "nik-key": "33" * 32, "nik-lock-key": "44" * 32,
           "webhook-secrets": "whsec-a,whsec-b"}
CA_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]


def template_env():
    """The Globals environment and each function's own variables, by binary name.

    A line-based reading of infra/template.yaml (its CloudFormation tags are not plain YAML):
    `!Ref`/`!Sub` values become placeholders, which is all a cold start reads."""
    lines = open(os.path.join(ROOT, "infra", "template.yaml")).read().splitlines()
    globals_env, per_binary = {}, {}
    current, block, block_indent = None, None, None
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if re.match(r"^  [A-Za-z]+Function:$", line) or line.startswith("Globals:"):
            current = {} if not line.startswith("Globals:") else globals_env
            pending = current
        m = re.match(r"^\s+Binary: (\S+)", line)
        if m and current is not None:
            per_binary[m.group(1)] = pending
        if re.match(r"^\s+Variables:\s*$", line):
            block, block_indent = current, indent
            continue
        if block is not None:
            m = re.match(r"^\s+([A-Z_][A-Z0-9_]*): (.*)$", line)
            if m and indent > block_indent:
                value = m.group(2).strip().strip('"')
                block[m.group(1)] = "bench-" + m.group(1).lower() if value.startswith("!") else value
                continue
            block = None
    return globals_env, per_binary


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body would wait for
    # the client's delayed ACK (40 ms) and the stand-in, not the function, would be timed.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            self.server.bench.arrived("next")
            # Hold the request: the process is killed once its init time is recorded.
            self.server.bench.done.wait(10)
            return
        self.send_error(404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        target = self.headers.get("x-amz-target", "")
        if target == "AmazonSSM.GetParameters":
            self.server.bench.arrived("ssm")
            names = json.loads(body)["Names"]
            params = [{"Name": n, "Type": "SecureString", "Value": SECRETS[n.rsplit("/", 1)[1]],
                       "Version": 1, "DataType": "text",
                       "ARN": f"arn:aws:ssm:ap-southeast-3:000000000000:parameter{n}"}
                      for n in names if n.rsplit("/", 1)[1] in SECRETS]
            out = json.dumps({"Parameters": params, "InvalidParameters": []}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/x-amz-json-1.1")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
            return
        self.send_error(404)


class Bench:
    def __init__(self):
        self.lock = threading.Lock()
        self.times = {}
        self.done = threading.Event()
        self.started = 0.0

    def arrived(self, what):
        with self.lock:
            self.times.setdefault(what, time.perf_counter() - self.started)
        if what == "next":
            self.done.set()


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()


def make_tls(tmp):
    """A CA and a localhost certificate it signed; the CA is appended to the system bundle."""
    def run(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=tmp)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=paspor bench CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost")
    with open(os.path.join(tmp, "ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    run("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "leaf.crt", "-days", "1", "-extfile", "ext")
    bundle = os.path.join(tmp, "bundle.crt")
    system = next((b for b in CA_BUNDLES if os.path.exists(b)), None)
    with open(bundle, "w") as out:
        if system:
            out.write(open(system).read())
        out.write(open(os.path.join(tmp, "ca.crt")).read())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(tmp, "leaf.crt"), os.path.join(tmp, "leaf.key"))
    return ctx, bundle, system


def measure(binary, env, bench, runs):
    out = []
    for _ in range(runs):
        bench.times, bench.done = {}, threading.Event()
        bench.started = time.perf_counter()
        # COLDSTART_WRAP (e.g. "strace -f -tt -o /tmp/init.trace") runs each start under a tool.
        proc = subprocess.Popen(os.environ.get("COLDSTART_WRAP", "").split() + [binary], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        if not bench.done.wait(10):
            proc.kill()
            err = proc.communicate()[1].decode(errors="replace")
            raise SystemExit(f"{binary}: no /invocation/next within 10 s; stderr:\n{err}")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out.append(dict(bench.times))
    return out


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    bin_dir = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    globals_env, per_binary = template_env()
    bench = Bench()
    runtime = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    runtime.bench = bench
    serve(runtime)
    tmp = tempfile.mkdtemp()
    ctx, bundle, system_bundle = make_tls(tmp)
    ssm = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ssm.socket = ctx.wrap_socket(ssm.socket, server_side=True)
    ssm.bench = bench
    serve(ssm)

    base = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    rows, raw = [], {}
    for name in FUNCTIONS:
        binary = os.path.join(bin_dir, name)
        if not os.path.exists(binary):
            continue
        env = dict(base)
        env.update(globals_env)
        env.update(per_binary.get(name, {}))
        env.update({
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime.server_address[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": f"paspor-{name}",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/paspor-{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/25/[$LATEST]bench",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": "ap-southeast-3",
            "AWS_DEFAULT_REGION": "ap-southeast-3",
            "AWS_ACCESS_KEY_ID": "AKIDBENCHBENCHBENCH0",
            "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
            "AWS_SESSION_TOKEN": "bench-session-token",
            "PASPOR_SSM_PREFIX": PREFIX,
            # The adapters read PASPOR_SSM_ENDPOINT; builds before 2026-11-26 went through
            # aws_config::load, which reads AWS_ENDPOINT_URL_SSM.
            "PASPOR_SSM_ENDPOINT": f"https://localhost:{ssm.server_address[1]}",
            "AWS_ENDPOINT_URL_SSM": f"https://localhost:{ssm.server_address[1]}",
            "SSL_CERT_FILE": bundle,
            "_HANDLER": "bootstrap",
            "LAMBDA_TASK_ROOT": bin_dir,
        })
        measure(binary, env, bench, 2)  # warm the page cache, as a Lambda host's is
        times = measure(binary, env, bench, runs)
        raw[name] = times
        inits = [t["next"] * 1000 for t in times]
        ssms = [t["ssm"] * 1000 for t in times if "ssm" in t]
        rows.append((name, statistics.median(inits), pct(inits, 90),
                     statistics.median(ssms) if ssms else None, os.path.getsize(binary)))

    print(f"| function | init p50 | init p90 | SSM request reached at (p50) | binary |")
    print("|---|---|---|---|---|")
    for name, p50, p90, ssm_at, size in rows:
        ssm_col = f"{ssm_at:.1f} ms" if ssm_at is not None else "—"
        print(f"| {name} | {p50:.1f} ms | {p90:.1f} ms | {ssm_col} | {size:,} bytes |")
    print(f"\n{runs} runs each; CA bundle: {system_bundle or 'none'} + the bench CA", file=sys.stderr)
    json.dump(raw, sys.stderr)
    print(file=sys.stderr)


if __name__ == "__main__":
    main()
