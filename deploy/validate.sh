#!/usr/bin/env bash
# Validates the deployment files on a machine without Docker or a cluster:
#
#   - renders the Kustomize base and the dev and prod overlays (kustomize);
#   - validates every rendered object against the Kubernetes OpenAPI schemas of
#     the oldest supported (1.30) and the newest shipped Kubernetes, strictly
#     (unknown fields fail), offline (kubernetes-validate carries the schemas);
#   - checks the manifests, the compose file, the Dockerfile and
#     docs/operations.md against each other and the code
#     (deploy/tools/check_deploy.py: drain vs grace period, replicas vs
#     partitions, CHAT_* keys the binary reads, probes, resources, pod security,
#     every setting and metric documented, alert rules parse, Grafana dashboards
#     well-formed with queries that parse and read real metrics, Prometheus and
#     Grafana of the compose stack wired…);
#   - loads deploy/compose/compose.yaml with compose-go, the loader of
#     `docker compose` (schema, interpolation, references);
#   - lints the Dockerfile (hadolint) and the shell scripts (ShellCheck).
#
# Tools are installed once into ${CHAT_TOOLS_DIR:-~/.cache/chat-tools}: kustomize
# from the Go module proxy (go install), the Python tools from PyPI (pinned in
# deploy/tools/requirements.txt), compose-check built from deploy/tools.
# Needs bash, python3 (3.11+) and go. Prints `N passed, N failed`; exits non-zero
# when anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
START=$(date +%s)

TOOLS=${CHAT_TOOLS_DIR:-$HOME/.cache/chat-tools}
# v5.8.3 needs Go 1.27; v5.8.1 builds with this machine's Go 1.26.
KUSTOMIZE_VERSION=v5.8.1
# 1.30: the oldest Kubernetes these manifests support (StatefulSet pod-index
# label for node ids: 1.28; preStop sleep action: 1.30). 1.37: the newest
# schemas that kubernetes-validate ships.
K8S_VERSIONS=(1.30.0 1.37.0)
OVERLAYS=(base overlays/dev overlays/prod)

export GOTOOLCHAIN=local GOFLAGS=-mod=readonly

log() { printf '%s\n' "$*" >&2; }

# ---- tools (idempotent, cached, one installer at a time) -----------------------
install_tools() {
    mkdir -p "$TOOLS/bin"
    exec 9>"$TOOLS/.lock"
    flock 9

    local req_sum
    req_sum=$(sha256sum deploy/tools/requirements.txt | cut -d' ' -f1)
    if [[ ! -x $TOOLS/venv/bin/python || $(cat "$TOOLS/venv/.chat-requirements" 2>/dev/null) != "$req_sum" ]]; then
        log "installing the Python tools (PyPI) into $TOOLS/venv"
        rm -rf "$TOOLS/venv"
        python3 -m venv "$TOOLS/venv"
        "$TOOLS/venv/bin/pip" install -q --disable-pip-version-check -r deploy/tools/requirements.txt >&2
        echo "$req_sum" >"$TOOLS/venv/.chat-requirements"
    fi

    if ! "$TOOLS/bin/kustomize" version 2>/dev/null | grep -qx "$KUSTOMIZE_VERSION"; then
        log "installing kustomize $KUSTOMIZE_VERSION (go install, Go module proxy)"
        GOBIN=$TOOLS/bin GOFLAGS='' go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
    fi

    local cc_sum
    cc_sum=$(cat deploy/tools/compose-check/{go.mod,go.sum,main.go} | sha256sum | cut -d' ' -f1)
    if [[ ! -x $TOOLS/bin/compose-check || $(cat "$TOOLS/bin/.compose-check" 2>/dev/null) != "$cc_sum" ]]; then
        log "building compose-check (compose-go, Go module proxy)"
        (cd deploy/tools/compose-check && go build -o "$TOOLS/bin/compose-check" .) >&2
        echo "$cc_sum" >"$TOOLS/bin/.compose-check"
    fi
    exec 9>&-
}

if ! install_tools; then
    log "could not install the validation tools"
    echo "validate: 0 passed, 1 failed"
    exit 1
fi
PY=$TOOLS/venv/bin/python
export PATH=$TOOLS/venv/bin:$TOOLS/bin:$PATH

# ---- checks ----------------------------------------------------------------------
PASSED=0
FAILED=0
FAILURES=()
pass() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$1"; }
fail() {
    FAILED=$((FAILED + 1))
    FAILURES+=("$1")
    printf 'FAIL %s\n' "$1"
    if [[ -n ${2:-} ]]; then printf '%s\n' "$2" | sed 's/^/     /'; fi
}
# check NAME COMMAND...: one check, its output shown only when it fails.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

render() { kustomize build "$1" >"$2"; }
for o in "${OVERLAYS[@]}"; do
    name=$(basename "$o")
    check "kustomize build deploy/k8s/$o" render "deploy/k8s/$o" "$OUT/$name.yaml"
done

for o in "${OVERLAYS[@]}"; do
    name=$(basename "$o")
    for v in "${K8S_VERSIONS[@]}"; do
        if [[ -s $OUT/$name.yaml ]]; then
            check "kubernetes schemas $v (strict): $name" \
                kubernetes-validate --strict --quiet --kubernetes-version "$v" "$OUT/$name.yaml"
        else
            fail "kubernetes schemas $v (strict): $name" "not rendered"
        fi
    done
done

# Consistency checks: one line each, `ok NAME` or `FAIL NAME: why`.
rc=0
report=$("$PY" deploy/tools/check_deploy.py "$ROOT" "$OUT" 2>&1) || rc=$?
other=()
while IFS= read -r line; do
    case $line in
        "ok "*) pass "${line#ok }" ;;
        "FAIL "*) fail "${line#FAIL }" ;;
        *) other+=("$line") ;;
    esac
done <<<"$report"
if ((rc != 0)); then
    fail "deploy/tools/check_deploy.py ran to the end" "$(printf '%s\n' "${other[@]}")"
fi

check "compose file loads (compose-go: schema, interpolation, references)" \
    env CHAT_JWT_SECRET=validate-only-secret-validate-only-secret compose-check deploy/compose/compose.yaml

check "compose refuses to start without CHAT_JWT_SECRET (no default key)" \
    bash -c '! env -u CHAT_JWT_SECRET compose-check deploy/compose/compose.yaml >/dev/null 2>&1'

check "hadolint deploy/docker/Dockerfile" \
    hadolint --config deploy/docker/hadolint.yaml deploy/docker/Dockerfile

check "shellcheck deploy scripts" \
    shellcheck deploy/validate.sh deploy/k8s/base/kafka/create-topics.sh deploy/k8s/base/kafka/wait-for-topics.sh

check "shellcheck local services, test, CI and benchmark scripts (warnings and up)" \
    shellcheck -x -S warning deploy/local/*.sh scripts/test.sh .ci/run loadtest/bench.sh loadtest/reshard.sh loadtest/lib.sh

# ---- summary ----------------------------------------------------------------------
echo
if ((FAILED)); then
    echo "failed:"
    printf '  %s\n' "${FAILURES[@]}"
fi
echo "validated in $(($(date +%s) - START)) s (docker build cannot run here: no Docker engine)"
echo "validate: $PASSED passed, $FAILED failed"
((FAILED == 0))
