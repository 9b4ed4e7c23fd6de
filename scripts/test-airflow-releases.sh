#!/usr/bin/env bash
# Test the provider on the older Airflow 3 releases, each in its own venv built from its pinned lock.
#
#   scripts/test-airflow-releases.sh [3.0 3.1 3.2]         build .venv-airflow-3.X and test (make test-releases)
#   scripts/test-airflow-releases.sh --lock [3.0 3.1 3.2]  re-resolve requirements/airflow-3.X.lock
#
# Per release: .venv-airflow-3.X from requirements/airflow-3.X.lock plus this package (editable, no
# deps), then an import of every module get_provider_info() lists, in a fresh interpreter as Airflow
# does it, then the operator, sensor, trigger, example-DAG end-to-end and compat tests (-n 2). The full
# suite runs on Airflow 3.3.2 in .venv (make test). Prints the time and the test counts per release.
set -euo pipefail
cd "$(dirname "$0")/.."

# The newest patch of each minor, and the date its tree is resolved at (--exclude-newer): about two
# weeks after that patch was uploaded, i.e. the packages its users got. Today's packages break 3.2.2
# (pydantic discriminator error, then cadwyn/FastAPI/Starlette mismatches), and Airflow's constraints
# files cannot be fetched here.
declare -A AIRFLOW=([3.0]=3.0.6 [3.1]=3.1.8 [3.2]=3.2.2)
declare -A RESOLVED_AT=([3.0]=2025-09-12 [3.1]=2026-03-25 [3.2]=2026-06-12)
# Newer than those dates on purpose: the provider needs common-compat 1.23 (the ResumableJobMixin
# stand-in), and the tests pin the official DSS client.
NEWER_OK=(--exclude-newer-package apache-airflow-providers-common-compat=2026-10-31
  --exclude-newer-package dataiku-api-client=2026-12-01)
# Airflow 3.0 draws the connection form's provider fields only with WTForms/Flask-AppBuilder, i.e. with
# the FAB provider installed (3.1 stands in for them): test the form there as its users see it.
declare -A EXTRA=([3.0]=apache-airflow-providers-fab [3.1]= [3.2]=)
TEST_DIRS=(tests/operators tests/sensors tests/triggers tests/e2e tests/compat)

export UV_SYSTEM_CERTS=1 UV_CACHE_DIR="${UV_CACHE_DIR:-$PWD/.cache/uv}" UV_COMPILE_BYTECODE=1

uv_bin() {
  if command -v uv >/dev/null 2>&1; then
    command -v uv
  elif [ -x .venv/bin/uv ]; then
    echo .venv/bin/uv
  else
    .venv/bin/python -m pip install -q --disable-pip-version-check uv >/dev/null && echo .venv/bin/uv
  fi
}
UV=$(uv_bin)

lock() {  # lock RELEASE: resolve requirements/airflow-RELEASE.lock
  local rel=$1 input
  input=$(mktemp)
  cat >"$input" <<EOF
apache-airflow==${AIRFLOW[$rel]}
apache-airflow-providers-common-compat==1.23.0
aiohttp>=3.10,<4
dataiku-api-client==15.2.0
pytest
pytest-asyncio
pytest-timeout
pytest-xdist
responses
psutil
pyyaml
${EXTRA[$rel]}
EOF
  "$UV" pip compile -q --python-version 3.11 --no-header "$input" --exclude-newer "${RESOLVED_AT[$rel]}" "${NEWER_OK[@]}" \
    -o "requirements/airflow-$rel.lock.tmp"
  {
    echo "# Airflow ${AIRFLOW[$rel]} and the test tools for Python 3.11, as resolved on ${RESOLVED_AT[$rel]} (uv --exclude-newer),"
    echo "# plus apache-airflow-providers-common-compat 1.23.0 ${EXTRA[$rel]:+and ${EXTRA[$rel]} }(scripts/test-airflow-releases.sh --lock $rel)."
    cat "requirements/airflow-$rel.lock.tmp"
  } >"requirements/airflow-$rel.lock"
  rm -f "$input" "requirements/airflow-$rel.lock.tmp"
  echo "requirements/airflow-$rel.lock: $(grep -c '==' "requirements/airflow-$rel.lock") packages"
}

test_release() {  # test_release RELEASE: build its venv if needed, import, run the tests
  local rel=$1 venv=".venv-airflow-$1" start built imported want
  start=$(date +%s)
  want="$(cat "requirements/airflow-$rel.lock" pyproject.toml | sha256sum | cut -c1-16)"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.lock-stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$venv"
    "$UV" venv -q -p "${PYTHON:-python3}" "$venv"
    "$UV" pip install -q -p "$venv/bin/python" -r "requirements/airflow-$rel.lock"
    "$UV" pip install -q -p "$venv/bin/python" --no-deps -e .
    echo "$want" >"$venv/.lock-stamp"
  fi
  built=$(date +%s)
  home=$(mktemp -d)
  AIRFLOW_HOME="$home" AIRFLOW__CORE__LOAD_EXAMPLES=False "$venv/bin/python" -c '
import importlib
import airflow
from dss_provider.get_provider_info import get_provider_info

info = get_provider_info()
modules = [m for kind in ("hooks", "operators", "sensors", "triggers") for e in info[kind] for m in e["python-modules"]]
modules += [path.rsplit(".", 1)[0] for path in info["extra-links"]]
modules += [c["hook-class-name"].rsplit(".", 1)[0] for c in info["connection-types"]]
for module in dict.fromkeys(modules):
    importlib.import_module(module)
print(f"Airflow {airflow.__version__}: imported all {len(set(modules))} modules of get_provider_info()")
' 2>&1 | grep -v '^\S*Z \[' || { echo "Airflow $rel: import of the provider modules FAILED"; rm -rf "$home"; return 1; }
  rm -rf "$home"
  imported=$(date +%s)
  local status=0
  "$venv/bin/python" -m pytest -q -n 2 -p no:cacheprovider "${TEST_DIRS[@]}" 2>&1 | tail -n 25 \
    | tee "$venv/last-test-run.txt" | grep -E '^(FAILED|ERROR)|passed|failed|error' || true
  grep -qE '([0-9]+ failed|[0-9]+ error)' "$venv/last-test-run.txt" && status=1
  grep -qE '[0-9]+ passed' "$venv/last-test-run.txt" || status=1
  echo "Airflow ${AIRFLOW[$rel]}: venv $((built - start))s, import $((imported - built))s," \
    "tests $(($(date +%s) - imported))s, total $(($(date +%s) - start))s"
  return $status
}

mode=test
if [ "${1:-}" = "--lock" ]; then
  mode=lock
  shift
fi
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(3.0 3.1 3.2)
failed=()
all_start=$(date +%s)
for rel in "${releases[@]}"; do
  [ -n "${AIRFLOW[$rel]:-}" ] || { echo "unknown release $rel (known: ${!AIRFLOW[*]})" >&2; exit 2; }
  if [ $mode = lock ]; then
    lock "$rel"
  else
    echo "== Airflow ${AIRFLOW[$rel]} (.venv-airflow-$rel, requirements/airflow-$rel.lock)"
    test_release "$rel" || failed+=("$rel")
  fi
done
[ $mode = lock ] && exit 0
echo "Airflow releases ${releases[*]}: $(($(date +%s) - all_start))s in all"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED on Airflow ${failed[*]}" >&2
  exit 1
fi
