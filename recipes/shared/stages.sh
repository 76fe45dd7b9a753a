# The stage runner both recipes source (recipes/<name>/run.sh, after its options are read): `log` and
# `run_stage N name command...`, which runs command when N is within --stage..--stop-stage, logged with its
# time and recorded in $exp/stage_seconds.json. Needs the variables stage, stop_stage and exp, and python.

log() { echo "$(date '+%F %T') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*"; }

run_stage() {  # run_stage N name command...: timed, recorded in $exp/stage_seconds.json
  local n=$1 name=$2; shift 2
  if [ "$stage" -le "$n" ] && [ "$stop_stage" -ge "$n" ]; then
    log "stage $n: $name"
    local start=$(date +%s.%N)
    "$@"
    local seconds=$(python -c "print(round($(date +%s.%N) - $start, 1))")
    # under a lock: stages that run side by side record their times into the one file
    flock "$exp/.stage_seconds.lock" python - "$exp/stage_seconds.json" "$n. $name" "$seconds" <<'PY'
import json, os, sys
path, name, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
times = json.load(open(path)) if os.path.exists(path) else {}
if seconds >= 1 or name not in times:  # a stage that found its output keeps its earlier time
    times[name] = seconds
json.dump(dict(sorted(times.items(), key=lambda kv: int(kv[0].split(".")[0]))), open(path, "w"), indent=2)
PY
    log "stage $n: $name done in ${seconds}s"
  fi
}
