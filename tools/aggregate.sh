#!/usr/bin/env bash
# After the workers (tools/worker.sh): every per-seed stage is restored from the remote's
# run-cache (`--pull` fetches it first), so only the aggregating stages run: evaluate,
# sensitivity, plot, and the benchmark and compact export of the first seed.
set -euo pipefail
PYTHONPATH=stages python -m prunelab.schema.every_section params.yaml
dvc repro --pull
