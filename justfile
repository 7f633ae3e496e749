# trashmonitor tasks. `./dev RECIPE` runs scripts/setup first, so a fresh machine works.
# Variables come from the environment or a .env next to this file (gitignored), as in
# the seed: GHCR_REPO GHCR_EMAIL TS_TAILNET DNS_ZONE DNS_HOSTNAME TS_HOSTNAME
# CF_API_TOKEN TS_API_KEY (see README.md, "Configuration").
set dotenv-load := true
set positional-arguments := true

venv := justfile_directory() / ".venv/bin"
trashmon := venv / "trashmon"

export TS_TAILNET := env_var_or_default("TS_TAILNET", "<your-tailnet>.ts.net")
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

# ruff + mypy --strict on the package, shellcheck on scripts
lint: setup
    {{venv}}/ruff check .
    {{venv}}/ruff format --check .
    {{venv}}/mypy -p trashmonitor
    shellcheck dev scripts/setup .ci/run

# format the code
fmt: setup
    {{venv}}/ruff format .
    {{venv}}/ruff check --fix .

# run the monitor against a MediaMTX (default http://127.0.0.1:9997)
monitor *args: setup
    {{trashmon}} monitor "$@"

# one-shot health probe of the deployed server (exit 0 ok, 1 unhealthy, 2 undecided)
health *args:
    {{trashmon}} probe --api "http://${TS_HOSTNAME}.${TS_TAILNET}/api" "$@"

# run the benchmarks (figures printed, nothing asserted)
bench: setup
    for b in bench/*.py; do {{venv}}/python "$b"; done

# run the capture agent for one camera, e.g. `just capture --id cam1` (docs/capture.md)
capture *args: setup
    {{trashmon}} capture "$@"
