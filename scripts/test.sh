#!/usr/bin/env bash
# `make test`: every tier (tests/unit, tests/integration, tests/e2e) in two lanes at once, one core each.
#
# Why lanes: most of the suite is one torch process at a time, and on two cores a second torch thread adds little
# (lm-eval generation: 6.3 s on one thread, 5.5 s on two), so two lanes of one thread each finish the same tests in
# about 1 / 1.35 of the time (measured: two integration files 157 s one after the other, 116 s side by side).
# One thread each (OMP_NUM_THREADS=1): two processes of two threads on two cores spin against each other and run
# several times slower. A test that times a server under load (marked `quiet`) has the machine to itself: the other
# lane waits between two tests while it runs (tests/support/lanes.py). Each lane has its own pytest temporary
# folder, so neither cleans up the other's. Every test runs once: lane B is the list below, lane A the rest.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTEST=.venv/bin/pytest
LANE_B=(tests/e2e/test_default_job.py tests/e2e/test_data_quality.py tests/e2e/test_sweeps.py tests/e2e/test_slurm.py
        tests/e2e/test_install.py
        tests/integration/test_api_served.py tests/integration/test_dryrun.py tests/integration/test_budget.py
        tests/integration/test_load_served.py tests/integration/test_models.py tests/integration/test_seed_families.py
        tests/integration/test_prompt_format.py)
IGNORE=()
for f in "${LANE_B[@]}"; do IGNORE+=("--ignore=$f"); done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/harness-test.XXXXXX")
COMMON=(-v -rs --durations=20 -p no:cacheprovider)
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 HARNESS_TEST_MACHINE_LOCK="$TMP/machine.lock"
# tests/e2e/test_slurm.py starts a one-node Slurm cluster here and stops it when it ends; this stops it too when
# pytest itself is killed
export HARNESS_SLURM_DIR="$TMP/slurm"
trap 'scripts/slurm-local.sh stop "$HARNESS_SLURM_DIR" >/dev/null 2>&1 || true' EXIT

started=$SECONDS
echo "lane A: tests/unit, tests/integration and tests/e2e but lane B; lane B: ${LANE_B[*]}"
echo "(both running now; their output follows when both are done; logs in $TMP)"
$PYTEST tests/unit tests/integration tests/e2e "${IGNORE[@]}" "${COMMON[@]}" --basetemp="$TMP/a" > "$TMP/lane-a.log" 2>&1 &
a=$!
$PYTEST "${LANE_B[@]}" "${COMMON[@]}" --basetemp="$TMP/b" > "$TMP/lane-b.log" 2>&1 &
b=$!
wait $a; ra=$?
wait $b; rb=$?
for lane in a b; do echo; echo "======== lane ${lane^^} ========"; cat "$TMP/lane-$lane.log"; done
echo
echo "lane A exit $ra, lane B exit $rb; $(( SECONDS - started )) s for both"
[ $ra -eq 0 ] && [ $rb -eq 0 ]
