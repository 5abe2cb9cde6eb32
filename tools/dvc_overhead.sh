#!/usr/bin/env bash
# DVC's own time per stage instance, measured as the README's cost section reports it: the wall
# time of a forced `dvc repro` of one seed's 40 prune instances, minus the same 40 commands run
# directly; then the same with the prune lock holding six seeds' entries instead of three.
#
# Run from the project root after a full `dvc repro` (it needs the dense models in the cache).
# It works in a scratch clone beside /tmp that shares this workspace's DVC cache, so the
# workspace, its dvc.lock files and its outputs are left alone.
set -euo pipefail
root=$(pwd)
export PATH="$root/.venv/bin:$PATH"
scratch=$(mktemp -d /tmp/dvc-overhead.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
git clone -q "$root" "$scratch/lab"
cd "$scratch/lab"
dvc cache dir --local "$root/.dvc/cache"
dvc checkout -q dvc.yaml pipelines/prune/dvc.yaml >/dev/null
glob='pipelines/prune/dvc.yaml:prune@*-*-0'

# The 40 commands, as DVC would run them (from the lock, so exactly the same text).
python - > "$scratch/commands.sh" <<'PY'
import yaml
lock = yaml.safe_load(open("pipelines/prune/dvc.lock"))["stages"]
print("\n".join(entry["cmd"] for name, entry in lock.items() if name.endswith("-0")))
PY
count=$(wc -l < "$scratch/commands.sh")

seconds() {
  local start; start=$(date +%s.%N); "$@" >/dev/null 2>&1
  python -c "print($(date +%s.%N) - $start)"
}
report() {
  local forced direct
  forced=$(seconds dvc repro -s -f --glob "$glob")
  direct=$(seconds bash "$scratch/commands.sh")
  printf '%s: %d instances, lock %s kB: dvc repro %.1f s, commands alone %.1f s, DVC %.2f s per instance\n' \
    "$1" "$count" "$(( $(stat -c %s pipelines/prune/dvc.lock) / 1000 ))" "$forced" "$direct" \
    "$(python -c "print(($forced - $direct) / $count)")"
}

report "$(python -c 'import yaml; print(len(yaml.safe_load(open("params.yaml"))["train"]["seeds"]))') seeds"

# Three more seeds: copies of seed 0's dense model stand in for trained ones (pruning does not
# care), and their prune instances fill the lock as six seeds would.
python - <<'PY'
import yaml
params = yaml.safe_load(open("params.yaml"))
seeds = params["train"]["seeds"]
params["train"]["seeds"] = seeds + [max(seeds) + 1 + i for i in range(3)]
open("params.yaml", "w").write(yaml.safe_dump(params, sort_keys=False))
for seed in params["train"]["seeds"][len(seeds):]:
    import pathlib, shutil
    target = pathlib.Path(f"data/models/seed-{seed}/dense.npz")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy("data/models/seed-0/dense.npz", target)
PY
dvc repro -s pipelines/prune/dvc.yaml >/dev/null
report "$(python -c 'import yaml; print(len(yaml.safe_load(open("params.yaml"))["train"]["seeds"]))') seeds"
