# trashmonitor tasks. `./dev RECIPE` runs scripts/setup first, so a fresh machine works.
# Variables come from the environment or a .env next to this file (gitignored), as in
# the seed: GHCR_REPO GHCR_EMAIL TS_TAILNET DNS_ZONE DNS_HOSTNAME TS_HOSTNAME
# CF_API_TOKEN TS_API_KEY (see README.md, "Configuration").
set dotenv-load := true
set positional-arguments := true

venv := justfile_directory() / ".venv/bin"
# The cameras server/mediamtx.yml configures by name: what `just health` expects unless
# TRASHMON_EXPECT (environment or .env) names others.
default_expect := "cam1,cam2"
trashmon := venv / "trashmon"

# TS_TAILNET: the Tailscale API's tailnet ('-' = the API key's own). TS_MAGICDNS_SUFFIX:
# the tailnet's DNS suffix (tail1234.ts.net), which `just health` builds its URL from; a
# TS_TAILNET ending in .ts.net is both (the seed's meaning), so the suffix may stay empty.
export TS_TAILNET := env_var_or_default("TS_TAILNET", "<your-tailnet>.ts.net")
export TS_MAGICDNS_SUFFIX := env_var_or_default("TS_MAGICDNS_SUFFIX", "")
export TS_HOSTNAME := env_var_or_default("TS_HOSTNAME", "trashmonitor")
export DNS_ZONE := env_var_or_default("DNS_ZONE", "<your-zone>")
export DNS_HOSTNAME := env_var_or_default("DNS_HOSTNAME", "trashmonitor." + DNS_ZONE)

# list recipes
default:
    @just --list

# install Debian packages and the .venv (idempotent)
setup:
    scripts/setup

# run the whole test suite (what CI runs)
test *args: setup
    {{venv}}/pytest {{args}}

# ruff + mypy --strict on the package, its tests and bench/; shellcheck on scripts
lint: setup
    {{venv}}/ruff check .
    {{venv}}/ruff format --check .
    # From outside the repo: here ./trashmonitor would hide the installed link tree that
    # maps monitor/, capture/, dns/ ... into the package, and mypy would skip them.
    cd "$(mktemp -d)" && {{venv}}/mypy --config-file "{{justfile_directory()}}/pyproject.toml" -p trashmonitor
    cd "$(mktemp -d)" && {{venv}}/mypy --config-file "{{justfile_directory()}}/pyproject.toml" "{{justfile_directory()}}/tests" "{{justfile_directory()}}/bench"
    shellcheck dev scripts/setup scripts/bootstrap scripts/provision server/entrypoint .ci/run capture/rpm/build

# format the code
fmt: setup
    {{venv}}/ruff format .
    {{venv}}/ruff check --fix .

# the whole stack on this machine with three synthetic cameras (Ctrl-C stops it)
demo *args: setup
    {{trashmon}} demo "$@"

# download the pinned MediaMTX release into ~/.cache/trashmonitor/mediamtx ($XDG_CACHE_HOME if
# set; checksum-verified; `just demo` does this itself when no MediaMTX is found)
fetch-mediamtx: setup
    {{venv}}/python -P -m trashmonitor.mediamtx_release

# regenerate docs/viewer.png: Debian's headless Chromium on the demo's viewer (runs the demo)
screenshot: setup
    {{venv}}/python scripts/screenshot-viewer

# run the monitor against a MediaMTX (default http://127.0.0.1:9997)
monitor *args: setup
    {{trashmon}} monitor "$@"

# a fake MediaMTX (API + /metrics on one port, default :9997) to try the monitor locally
fake-mediamtx *args: setup
    {{venv}}/python -P tests/support/fake_mediamtx.py "$@"

# one-shot health probe of the deployed server (exit 0 ok, 1 unhealthy, 2 undecided);
# the cameras in TRASHMON_EXPECT (default: those server/mediamtx.yml configures) must be
# listed and live, so a server that lost its configuration fails
# at http://$TS_HOSTNAME.<MagicDNS suffix>/api (says so and exits 2 when no suffix is known)
health *args:
    api="$({{trashmon}} dns --print-health-url)" && {{trashmon}} probe --api "$api" --expect "${TRASHMON_EXPECT:-{{default_expect}}}" "$@"

# reconcile the Cloudflare A record and Tailscale split DNS (--dry-run, --watch, --adopt ...)
dns *args: setup
    {{trashmon}} dns "$@"

# (bench/before_after.py is not one of them: `just bench-compare` runs it)
# run the benchmarks (figures printed, nothing asserted); `just bench --quick`: a tiny run
bench *args: setup
    for b in bench/*.py; do grep -q '__name__ == "__main__"' "$b" || continue; [ "$b" = bench/before_after.py ] && continue; echo "== $b"; {{venv}}/python "$b" {{args}} || exit 1; done

# takes minutes; --base REV (default: before issue 13's step), --repetitions N, --quick
# bench figures of a base revision and of this tree side by side, in one table
bench-compare *args: setup
    {{venv}}/python -P bench/before_after.py "$@"

# regenerate alert rules (alerts/*.yaml) and dashboards (dashboards/generated/) from the mixin config
generate: setup
    {{venv}}/python -P -m trashmonitor.alerts.generate --root .
    {{venv}}/python server/k8s/sync.py

# --- server bundle (docs/server.md) --------------------------------------------------

export GHCR_REPO := env_var_or_default("GHCR_REPO", "ghcr.io/<your-org>/tailnet-trashmonitor")
export ACME_EMAIL := env_var_or_default("ACME_EMAIL", env_var_or_default("GHCR_EMAIL", "<your-email>"))

# build the viewer into server/viewer/dist (hls.js from npm, vendored; no CDN)
viewer-build: setup
    node server/viewer/build.mjs

# build the server image with podman, buildah or docker, whichever can build here
image tag="dev":
    #!/usr/bin/env bash
    set -euo pipefail
    ref="${GHCR_REPO}:{{tag}}"
    [[ $ref == *"<"* ]] && ref="localhost/trashmonitor-server:{{tag}}"
    args=(-f server/Containerfile -t "$ref" .)
    if command -v podman >/dev/null; then
      podman build --ignorefile server/Containerfile.dockerignore "${args[@]}"
    elif command -v buildah >/dev/null; then
      buildah bud --ignorefile server/Containerfile.dockerignore "${args[@]}"
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
      DOCKER_BUILDKIT=1 docker build "${args[@]}"   # reads server/Containerfile.dockerignore
    else
      echo "just image: no container engine can build here (podman, buildah, or docker with a running daemon)." >&2
      echo "  server/Containerfile is checked statically by tests/server/test_containerfile.py." >&2
      exit 2
    fi
    echo "built $ref"

# build and push the server image as $GHCR_REPO:TAG (the seed's image-push)
image-push tag: (image tag)
    #!/usr/bin/env bash
    set -euo pipefail
    [[ $GHCR_REPO == *"<"* ]] && { echo "just image-push: set GHCR_REPO" >&2; exit 2; }
    if command -v podman >/dev/null; then podman push "$GHCR_REPO:{{tag}}"; else docker push "$GHCR_REPO:{{tag}}"; fi

# copy mediamtx.yml, the PrometheusRule and dashboards into server/k8s/generated
k8s-sync:
    {{venv}}/python server/k8s/sync.py

# render and check the kustomize tree (drift, schemas, CRD fields, wiring)
k8s-lint: setup
    {{venv}}/python server/k8s/sync.py --check
    {{venv}}/kubectl kustomize server/k8s >/dev/null
    {{venv}}/pytest -q tests/server/test_k8s.py

# the deploy overlay: your image, tailnet hostname, certificate name and ACME e-mail, and
# the optional components in TRASHMON_K8S_COMPONENTS (e.g. "optional/ha-monitor")
_k8s-overlay tag:
    #!/usr/bin/env bash
    set -euo pipefail
    for var in GHCR_REPO DNS_HOSTNAME ACME_EMAIL; do
      [[ ${!var} == *"<"* ]] && { echo "just deploy: set $var (environment or .env)" >&2; exit 2; }
    done
    {{venv}}/python server/k8s/sync.py --check
    # TRASHMON_K8S_COMPONENTS: optional components, e.g. "optional/ha-monitor"
    components=()
    for component in ${TRASHMON_K8S_COMPONENTS:-}; do components+=(--component "$component"); done
    {{venv}}/python server/k8s/sync.py overlay --image "$GHCR_REPO:{{tag}}" \
      --ts-hostname "$TS_HOSTNAME" --dns-hostname "$DNS_HOSTNAME" --acme-email "$ACME_EMAIL" \
      "${components[@]}" >/dev/null

# apply server/k8s to the current kubectl context (the seed's `kubectl apply -k server/k8s`)
deploy tag="0.1.0": setup (_k8s-overlay tag)
    kubectl apply --server-side -k build/k8s-deploy

# what `just deploy` would change in the cluster (exit 1 when something would change)
deploy-diff tag="0.1.0": setup (_k8s-overlay tag)
    kubectl diff --server-side -k build/k8s-deploy

# create/extend the MQTT mTLS PKI and mosquitto config (e.g. just pki create ./pki --camera cam1 --ip 127.0.0.1)
pki *args: setup
    {{trashmon}} pki "$@"

# provision one capture host from ansible/inventory.yml (`just provision-host HOST=garage-pi`)
provision-host HOST *ARGS: setup
    scripts/provision "$@"

# dry run of provision-host: what would change on HOST, with diffs (--check --diff)
provision-check HOST *ARGS: setup
    scripts/provision --check "$@"

# reconcile the registry pull secret in the cluster (kubectl, GHCR_REPO, GHCR_TOKEN)
ghcr-secret:
    scripts/bootstrap --only ghcr-secret

# create the Secrets the Kubernetes deployment mounts, keeping existing ones (kubectl;
# TRASHMON_PKI_DIR, CF_API_TOKEN, TS_API_KEY; docs/server.md, "Kubernetes")
k8s-secrets:
    scripts/bootstrap --only secrets

# cluster one-shot: ghcr-secret, secrets, image-push VERSION, deploy, dns, health (skips what it lacks)
bootstrap VERSION: setup
    JUST={{quote(just_executable())}} scripts/bootstrap "$@"

# run the capture agent for one camera, e.g. `just capture --id cam1` (docs/capture.md)
capture *args: setup
    {{trashmon}} capture "$@"

# build the capture-host RPM (agent, units, example env) into dist/ from this checkout, offline
rpm: setup
    capture/rpm/build dist
