#!/usr/bin/env bash
# One seed's share of the pipeline, for a worker in its own clone (`make worker SEED=<s>`):
# train@<s>, calibrate@<s> and the seed's prune, reconstruct, finetune, gradual, scratch,
# lottery and reinit instances
# (with fetch_data, which they need), restored from the remote's run-cache where some worker
# already ran them, then pushed with the run-cache to the default DVC remote. An aggregator
# (`make aggregate`) then runs `dvc repro --pull`: every per-seed stage comes from the
# run-cache, and only evaluate, sensitivity, benchmark, frontier, export_compact and plot run.
#
# Rerunning a worker that died is safe: stages it finished are recorded in its clone (and, once
# pushed, in the remote's run-cache), so only the rest runs. Two workers on one stage (both
# need fetch_data) each run or restore it; identical outputs land once in the remote.
set -euo pipefail
seed=${1:-}
if ! [[ $seed =~ ^[0-9]+$ ]]; then
  echo "worker: error: give the seed to run, e.g. tools/worker.sh 0 (make worker SEED=0)" >&2
  exit 2
fi
# The params first (validated as they load): a bad value or a seed outside train.seeds stops
# before any work.
PYTHONPATH=stages python -c "
import sys
from prunelab.schema.every_section import validate_file
from prunelab.wiring.params import ParamsError
try:
    seeds = validate_file('params.yaml').train.seeds
except ParamsError as error:
    sys.exit(f'worker: error: {error}')
if $seed not in seeds:
    sys.exit(f'worker: error: seed $seed is not one of train.seeds {list(seeds)}')
"
# A family with no instances (lottery.ks: []) matches nothing and is skipped: DVC would run the
# whole pipeline for a lone pattern that matches nothing, but train@<s> always matches.
dvc repro --pull --glob \
  "train@$seed" \
  "pipelines/reconstruct/dvc.yaml:calibrate@$seed" \
  "pipelines/prune/dvc.yaml:prune@*-$seed" \
  "pipelines/reconstruct/dvc.yaml:reconstruct@*-$seed" \
  "pipelines/finetune/dvc.yaml:finetune@*-$seed" \
  "pipelines/finetune/dvc.yaml:gradual@*-$seed" \
  "pipelines/controls/dvc.yaml:scratch@*-$seed" \
  "pipelines/controls/dvc.yaml:lottery@*-$seed" \
  "pipelines/controls/dvc.yaml:reinit@*-$seed"
dvc push --run-cache
