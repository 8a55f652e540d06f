#!/bin/bash
# EC2 user data for one mangodb-tracked training run (examples/launch_ec2.py fills it in).
#
# What it does:
#   1. installs a pinned mangodb (pip) and exports MANGODB_URL (read from SSM Parameter Store
#      with the instance role, so no password sits in user data, which anyone allowed to
#      DescribeInstanceAttribute can read);
#   2. runs training IN THE BACKGROUND and `wait`s for it: bash defers traps while a
#      foreground child runs, so this is what lets the trap below fire at once;
#   3. traps TERM/INT/HUP (OS shutdown, StopInstances, TerminateInstances, spot reclaim) and
#      calls `mangodb runs mark-terminated --instance-id <IMDSv2 instance id> --reason shutdown`
#      before passing SIGTERM on to training;
#   4. polls the IMDSv2 spot notice every 5 s: on a notice the run is marked terminated with
#      reason `preempted` and training gets SIGTERM (about 2 minutes to checkpoint).
# Nothing runs on a kernel panic or a forced stop: the EventBridge Lambda and `mangodb reap`
# are the backstops. For real OS shutdowns also consider a systemd unit whose ExecStop= runs
# the same mark-terminated call (ordered After=network-online.target so it runs before the
# network goes down).
#
# Settings (environment; launch_ec2.py writes `export` lines right below the shebang):
#   MANGODB_RUN_ID          the run this instance trains (required)
#   MANGODB_VERSION         mangodb version to install (pinned by the launcher)
#   MANGODB_URL             database URL; if unset, read from SSM parameter. With RDS IAM
#                           authentication no secret is needed at all: set it directly, e.g.
#                           postgresql://trainer@mydb.xxxx.us-east-1.rds.amazonaws.com:5432/runs?iam=true&sslrootcert=/etc/ssl/rds-global-bundle.pem
#                           (docs/postgres.md, "IAM authentication"; the CA bundle is fetched below)
#   MANGODB_URL_PARAMETER   SSM parameter holding the URL (SecureString), default /mangodb/url
#   TRAIN_COMMAND           the training command, run with bash -c
#   MANGODB_SKIP_INSTALL=1  mangodb is already installed (custom AMI, tests)
#   MANGODB_SHUTDOWN_WHEN_DONE=1   power the instance off when training ends
#   MANGODB_IMDS_ENDPOINT   instance metadata endpoint (default http://169.254.169.254)
set -uo pipefail

: "${MANGODB_RUN_ID:?MANGODB_RUN_ID must be set (launch_ec2.py sets it)}"
MANGODB_VERSION="${MANGODB_VERSION:-0.1.0}"
MANGODB_URL_PARAMETER="${MANGODB_URL_PARAMETER:-/mangodb/url}"
TRAIN_COMMAND="${TRAIN_COMMAND:-python3 train.py}"
IMDS="${MANGODB_IMDS_ENDPOINT:-http://169.254.169.254}"
SPOT_POLL_SECONDS="${MANGODB_SPOT_POLL_SECONDS:-5}"
export MANGODB_RUN_ID

log() { echo "[mangodb-hook] $(date -u +%FT%TZ) $*" >&2; }

# IMDSv2: a session token first (PUT), then the metadata path with it.
imds() {
    local token
    token="$(curl -sf --max-time 2 -X PUT "$IMDS/latest/api/token" \
        -H "X-aws-ec2-metadata-token-ttl-seconds: 300")" || return 1
    curl -sf --max-time 2 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/meta-data/$1"
}

if [[ "${MANGODB_SKIP_INSTALL:-0}" != "1" ]]; then
    log "installing mangodb==$MANGODB_VERSION"
    python3 -m pip install --quiet "mangodb[aws,postgres]==${MANGODB_VERSION}" || {
        log "pip install failed"; exit 1; }
fi

if [[ -z "${MANGODB_URL:-}" ]]; then
    MANGODB_URL="$(python3 - "$MANGODB_URL_PARAMETER" <<'PY'
import sys, boto3
answer = boto3.client("ssm").get_parameter(Name=sys.argv[1], WithDecryption=True)
print(answer["Parameter"]["Value"])
PY
)" || { log "cannot read $MANGODB_URL_PARAMETER from SSM"; exit 1; }
fi
export MANGODB_URL

# IAM authentication verifies the server against the RDS CA bundle (sslmode=verify-full).
if [[ "$MANGODB_URL" == *"iam=true"* && ! -f /etc/ssl/rds-global-bundle.pem ]]; then
    curl -sf --max-time 20 -o /etc/ssl/rds-global-bundle.pem \
        https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem \
        || log "cannot fetch the RDS CA bundle"
fi

INSTANCE_ID="$(imds instance-id)" || { log "no instance id from IMDS"; INSTANCE_ID=""; }
log "run $MANGODB_RUN_ID on instance ${INSTANCE_ID:-unknown}"

# Record the end; never let the hook itself fail or hang the shutdown.
mark_terminated() {
    local reason="$1"
    if [[ -n "$INSTANCE_ID" ]]; then
        timeout 20 mangodb runs mark-terminated --instance-id "$INSTANCE_ID" --reason "$reason" \
            || log "could not record '$reason'"
    else
        timeout 20 mangodb runs mark-terminated "$MANGODB_RUN_ID" --reason "$reason" \
            || log "could not record '$reason'"
    fi
}

TRAIN_PID=""
POLLER_PID=""

# Training runs in its own process group, so SIGTERM reaches every process it started
# (torchrun workers, data loaders), not just the top one.
stop_training() {
    if [[ -n "$TRAIN_PID" ]] && kill -0 "$TRAIN_PID" 2>/dev/null; then
        kill -TERM -- "-$TRAIN_PID" 2>/dev/null || kill -TERM "$TRAIN_PID" 2>/dev/null
        wait "$TRAIN_PID" 2>/dev/null
    fi
}

on_signal() {
    trap - TERM INT HUP
    log "caught SIG$1: recording the shutdown"
    # Stop the spot poller: every background job but the training, found through `jobs` (a
    # signal landing between `spot_poller &` and `POLLER_PID=$!` leaves POLLER_PID empty, and
    # an orphaned poller polls forever with the hook's stderr open).
    local job
    for job in $(jobs -p); do
        [[ "$job" == "$TRAIN_PID" ]] || kill "$job" 2>/dev/null
    done
    mark_terminated shutdown
    stop_training
    exit 143
}
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT
trap 'on_signal HUP' HUP

# The spot notice is 404 until EC2 schedules an interruption.
spot_poller() {
    while sleep "$SPOT_POLL_SECONDS"; do
        if notice="$(imds spot/instance-action)"; then
            log "spot interruption notice: $notice"
            mark_terminated preempted
            kill -TERM "$$" 2>/dev/null  # the main shell stops training (checkpoint window)
            return
        fi
    done
}

setsid bash -c "$TRAIN_COMMAND" &
TRAIN_PID=$!
log "training started (pid $TRAIN_PID)"
if [[ -n "$INSTANCE_ID" ]]; then
    spot_poller &
    POLLER_PID=$!
fi

wait "$TRAIN_PID"
rc=$?
[[ -n "$POLLER_PID" ]] && kill "$POLLER_PID" 2>/dev/null
log "training exited with code $rc"
if [[ "$rc" -ne 0 ]]; then
    # The trainer records its own end when it can; this covers a process killed outright.
    timeout 20 mangodb runs set-status "$MANGODB_RUN_ID" crashed --reason "exit code $rc" \
        >/dev/null 2>&1 || true
fi
if [[ "${MANGODB_SHUTDOWN_WHEN_DONE:-0}" == "1" ]]; then
    log "powering off"
    shutdown -h now
fi
exit "$rc"
