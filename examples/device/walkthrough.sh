#!/usr/bin/env bash
# docs/device.md on one machine: run a recipe on the "host", copy the run folder to a "device"
# folder, profile it there, copy devices/ back, and report both machines side by side.
#
#   examples/device/walkthrough.sh [WORK_DIR]          (default WORK_DIR: runs/device-walkthrough)
#
# Environment (all optional):
#   RECIPE         the recipe to run                      (default recipes/quickstart.yaml)
#   HOST_EDGEOPT   the full install's command             (default edgeopt)
#   DEVICE_EDGEOPT the device install's command           (default: the host's) — e.g. a TF-free venv:
#                    python3 -m venv /tmp/device-venv && /tmp/device-venv/bin/pip install .
#                    DEVICE_EDGEOPT=/tmp/device-venv/bin/edgeopt examples/device/walkthrough.sh
#   DEVICE_NAME    names the device file devices/NAME.json (default device)
#   DEVICE_THREADS interpreter threads on the device      (default: the recipe's)
set -euo pipefail

WORK=${1:-runs/device-walkthrough}
RECIPE=${RECIPE:-recipes/quickstart.yaml}
HOST=${HOST_EDGEOPT:-edgeopt}
DEVICE=${DEVICE_EDGEOPT:-$HOST}
NAME=${DEVICE_NAME:-device}
THREADS=${DEVICE_THREADS:+--threads $DEVICE_THREADS}

echo "== 1. host: edgeopt run $RECIPE --out $WORK/host/run"
$HOST run "$RECIPE" --out "$WORK/host/run"

echo "== 2. copy the whole run folder to the device (on a board: rsync -a RUN_DIR pi@board:runs/)"
rm -rf "$WORK/device"
mkdir -p "$WORK/device"
cp -R "$WORK/host/run" "$WORK/device/run"

echo "== 3. device: edgeopt profile $WORK/device/run --device-name $NAME $THREADS"
# shellcheck disable=SC2086  # $THREADS is empty or two words on purpose
$DEVICE profile "$WORK/device/run" --device-name "$NAME" $THREADS

echo "== 4. copy devices/ back to the host and report every machine"
mkdir -p "$WORK/host/run/devices"
cp "$WORK/device/run/devices/$NAME.json" "$WORK/host/run/devices/"
$HOST report "$WORK/host/run"
echo "== the report: $WORK/host/run/report.md and $WORK/host/run/pareto.png"
