#!/usr/bin/env bash
# Smoke-build the real Dockerfile where no Docker engine or registry exists, then run the image like a pod does.
#
#   make image-smoke        (or: scripts/image_smoke.sh)
#
# 1. installs Debian's buildah and mmdebstrap when missing;
# 2. makes a local Debian bookworm base with python3 (mmdebstrap → buildah image; cached, SMOKE_FRESH=1 redoes it);
# 3. builds ./Dockerfile with `buildah bud --isolation chroot --storage-driver vfs`, BASE_IMAGE=<that base>, and the
#    host CA bundle mounted read-only for pip/uv (nothing of it lands in the image);
# 4. checks the image config (numeric non-root USER, exec-form ENTRYPOINT/CMD) and runs the ENTRYPOINT as uid 65532
#    in a private mount namespace with a read-only root and a tmpfs /tmp, as the pod does: `render` (custom job and
#    pipeline job), bytecode present, `emulator --port 0`, and a real `run` against that emulator;
# 5. prints the image size.
# Needs root (apt-get, buildah chroot isolation, mount namespaces). State (~0.7 GB: the cached base and the last
# image) lives in $SMOKE_DIR, default .build/image-smoke; delete it to start over.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${SMOKE_DIR:-$REPO/.build/image-smoke}"
BASE_IMAGE="localhost/vertex-launcher-smoke-base:bookworm"
IMAGE="localhost/vertex-launcher:smoke"
CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt"
RUN_UID=65532
BUILDAH=(buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs)

log() { printf '\n== %s\n' "$*" >&2; }
die() { printf 'image-smoke: FAIL: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

# ---------------------------------------------------------------------------------------------------------------
# Inside a private mount + pid namespace (re-executed by `inside_namespace` below): mount the image read-only,
# run its ENTRYPOINT as the non-root user, check what it prints.
# ---------------------------------------------------------------------------------------------------------------
if [[ "${1:-}" == "--inside" ]]; then
    ROOTFS="$2" ENV_FILE="$3" ENTRYPOINT="$4"
    R="$WORK/rootro"
    mkdir -p "$R"
    mount --bind "$ROOTFS" "$R"
    mount -o remount,bind,ro "$R"                      # readOnlyRootFilesystem: true
    mount -t proc proc "$R/proc"
    mount --rbind /dev "$R/dev"
    mount -t tmpfs -o size=64m,mode=1777 tmpfs "$R/tmp"  # the pod's emptyDir at /tmp
    mapfile -t IMAGE_ENV < "$ENV_FILE"

    # The image's ENTRYPOINT with the image's environment (plus extra VAR=value), as uid:gid 65532, no capabilities.
    in_image() {
        local extra=()
        while [[ "${1:-}" == *=* ]]; do extra+=("$1"); shift; done
        chroot --userspec="$RUN_UID:$RUN_UID" --groups="$RUN_UID" "$R" \
            /usr/bin/env -i "${IMAGE_ENV[@]}" "${extra[@]}" "$ENTRYPOINT" "$@"
    }
    as_user() { chroot --userspec="$RUN_UID:$RUN_UID" --groups="$RUN_UID" "$R" /usr/bin/env -i "${IMAGE_ENV[@]}" "$@"; }

    [[ "$(as_user id -u)" == "$RUN_UID" ]] || die "not running as uid $RUN_UID"
    if as_user sh -c 'touch /app/x 2>/dev/null || touch /x 2>/dev/null'; then die "root filesystem is writable"; fi

    cp "$REPO/k8s/overlays/local/spec.yaml" "$R/tmp/spec.yaml"
    cp "$REPO/k8s/overlays/wif/pipeline.yaml" "$R/tmp/pipeline.yaml"
    chmod 0644 "$R/tmp/spec.yaml" "$R/tmp/pipeline.yaml"
    common=(VERTEX_LAUNCHER_REGION=us-central1 VERTEX_LAUNCHER_PROJECT=smoke-project
            VERTEX_LAUNCHER_SCHEDULE_NAME=image-smoke VERTEX_LAUNCHER_K8S_JOB_NAME=image-smoke-29000000
            VERTEX_LAUNCHER_K8S_JOB_UID=5e1f1c1e-0000-4000-8000-000000000001 VERTEX_LAUNCHER_K8S_NAMESPACE=smoke)

    log "render: custom job from a spec file"
    in_image "${common[@]}" VERTEX_LAUNCHER_SPEC_FILE=/tmp/spec.yaml render > "$R/tmp/render-custom.json" \
        || die "render (custom) exited $?"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); s=json.dumps(d); assert "smoke-project" in s and "workerPoolSpecs" in s.replace("worker_pool_specs","workerPoolSpecs"), s[:400]; print(s[:300] + " ...")' \
        "$R/tmp/render-custom.json"

    log "render: pipeline job from the compiled pipeline in k8s/overlays/wif"
    in_image "${common[@]}" VERTEX_LAUNCHER_JOB_TYPE=pipeline VERTEX_LAUNCHER_PIPELINE_TEMPLATE=/tmp/pipeline.yaml \
        VERTEX_LAUNCHER_PIPELINE_ROOT=gs://smoke-bucket/root render > "$R/tmp/render-pipeline.json" \
        || die "render (pipeline) exited $?"
    python3 -c 'import json,sys; s=json.dumps(json.load(open(sys.argv[1]))); assert "hello-pipeline" in s, s[:400]; print(s[:300] + " ...")' \
        "$R/tmp/render-pipeline.json"

    log "bytecode: compiled at build time, nothing compiled at run time"
    as_user python -v -c 'import vertex_launcher.__main__, vertex_launcher.vertex' > /dev/null 2> "$R/tmp/import.log" \
        || { cat "$R/tmp/import.log" >&2; die "import failed"; }
    pyc=$(grep -c "^# code object from '/app/.*\.pyc'" "$R/tmp/import.log" || true)
    src=$(grep -c '^# code object from /app/.*\.py$' "$R/tmp/import.log" || true)
    echo "modules loaded from .pyc: $pyc, compiled from source: $src"
    [[ "$pyc" -gt 20 && "$src" -eq 0 ]] || die "bytecode missing or stale in /app/.venv"

    log "emulator inside the image (--port 0), then a real run against it"
    in_image emulator --host 127.0.0.1 --port 0 --rest-port 0 --time-scale 10 \
        > "$R/tmp/emulator.out" 2> "$R/tmp/emulator.err" &
    emulator_pid=$!
    for _ in $(seq 1 120); do
        [[ -s "$R/tmp/emulator.out" ]] && break
        kill -0 "$emulator_pid" 2>/dev/null || { cat "$R/tmp/emulator.err" >&2; die "emulator exited early"; }
        sleep 0.25
    done
    ready=$(head -n 1 "$R/tmp/emulator.out")
    echo "emulator: $ready"
    grpc=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["grpc"])' "$ready") || die "emulator's first line"
    start=$(date +%s)
    set +e
    in_image "${common[@]}" VERTEX_LAUNCHER_SPEC_FILE=/tmp/spec.yaml VERTEX_LAUNCHER_API_ENDPOINT="$grpc" \
        VERTEX_LAUNCHER_API_INSECURE=true VERTEX_LAUNCHER_CREDENTIALS=anonymous \
        VERTEX_LAUNCHER_POLL_INITIAL_SECONDS=0.5 VERTEX_LAUNCHER_POLL_MAX_SECONDS=1 \
        VERTEX_LAUNCHER_TIMEOUT_SECONDS=120 VERTEX_LAUNCHER_TERMINATION_MESSAGE_PATH=/tmp/termination-log \
        run > "$R/tmp/run.out" 2> "$R/tmp/run.err"
    code=$?
    set -e
    kill -TERM "$emulator_pid" 2>/dev/null || true
    wait "$emulator_pid" 2>/dev/null || true
    tail -n 3 "$R/tmp/run.out"
    if [[ "$code" -ne 0 ]]; then cat "$R/tmp/run.err" >&2; die "run exited $code"; fi
    python3 - "$R/tmp/run.out" "$R/tmp/termination-log" <<'EOF' || die "result record"
import json, sys
last = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert last["outcome"] == "succeeded" and last["exit_code"] == 0, last
message = json.loads(open(sys.argv[2]).read())
assert message["outcome"] == "succeeded" and message["job"] == last["job"], message
print(f"run: {last['outcome']} {last['job']} {last['state']}")
EOF
    echo "run took $(elapsed "$start") (exit $code)"
    exit 0
fi

# ---------------------------------------------------------------------------------------------------------------
# On the host.
# ---------------------------------------------------------------------------------------------------------------
[[ "$(id -u)" -eq 0 ]] || die "needs root (apt-get, buildah chroot isolation, mount namespaces)"
t0=$(date +%s)
mkdir -p "$WORK"

if ! command -v buildah > /dev/null || ! command -v mmdebstrap > /dev/null; then
    log "installing buildah and mmdebstrap"
    t=$(date +%s)
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends buildah mmdebstrap > /dev/null
    echo "installed in $(elapsed "$t")"
fi

if [[ -n "${SMOKE_FRESH:-}" ]] || ! "${BUILDAH[@]}" inspect --type image "$BASE_IMAGE" > /dev/null 2>&1; then
    log "local base image: Debian bookworm minbase + python3 (mmdebstrap)"
    t=$(date +%s)
    rm -f "$WORK/base.tar"
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        bookworm "$WORK/base.tar"
    ctr=$("${BUILDAH[@]}" from scratch)
    "${BUILDAH[@]}" add --quiet "$ctr" "$WORK/base.tar" / > /dev/null
    "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd python3 "$ctr"
    "${BUILDAH[@]}" commit --quiet --rm "$ctr" "$BASE_IMAGE" > /dev/null
    rm -f "$WORK/base.tar"
    echo "base image in $(elapsed "$t")"
fi

log "buildah bud Dockerfile (BASE_IMAGE=$BASE_IMAGE)"
t=$(date +%s)
mounts=()
[[ -f "$CA_BUNDLE" ]] && mounts=(--volume "$CA_BUNDLE:$CA_BUNDLE:ro")
"${BUILDAH[@]}" bud --quiet --isolation chroot "${mounts[@]}" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE" -f "$REPO/Dockerfile" "$REPO" > /dev/null
echo "built in $(elapsed "$t")"
"${BUILDAH[@]}" rmi --prune > /dev/null 2>&1 || true   # the previous smoke image, now untagged (vfs: ~500 MB each)

log "image config"
"${BUILDAH[@]}" inspect --type image "$IMAGE" > "$WORK/inspect.json"
ENTRYPOINT=$(python3 - "$WORK/inspect.json" "$WORK/env" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))["OCIv1"]["config"]
print(json.dumps({k: config.get(k) for k in ("User", "Entrypoint", "Cmd", "WorkingDir")}), file=sys.stderr)
assert config.get("User") == "65532:65532", config.get("User")
assert config.get("Entrypoint") == ["vertex-launcher"] and config.get("Cmd") == ["run"], config
env = config.get("Env") or []
assert "PYTHONDONTWRITEBYTECODE=1" in env, env
open(sys.argv[2], "w").write("\n".join(env) + "\n")
print(config["Entrypoint"][0])
EOF
) || die "image config"

ctr=$("${BUILDAH[@]}" from --pull-never "$IMAGE")
cleanup() { "${BUILDAH[@]}" umount "$ctr" > /dev/null 2>&1 || true; "${BUILDAH[@]}" rm "$ctr" > /dev/null 2>&1 || true; }
trap cleanup EXIT
rootfs=$("${BUILDAH[@]}" mount "$ctr")

log "running the image as uid $RUN_UID, read-only root, tmpfs /tmp"
SMOKE_DIR="$WORK" unshare --mount --pid --fork --propagation private \
    "$REPO/scripts/image_smoke.sh" --inside "$rootfs" "$WORK/env" "$ENTRYPOINT"

log "size"
size=$("${BUILDAH[@]}" images --format '{{.Size}}' "$IMAGE" | head -n 1)
base_size=$("${BUILDAH[@]}" images --format '{{.Size}}' "$BASE_IMAGE" | head -n 1)
venv_size=$(du -sh "$rootfs/app/.venv" | cut -f1)
echo "image $IMAGE: $size (local Debian base: $base_size; /app/.venv: $venv_size)"
echo "image-smoke: OK in $(elapsed "$t0")"
