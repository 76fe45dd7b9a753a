# Options both recipes read (recipes/<name>/run.sh sources this after its variables, as icefall's
# parse_options.sh): `--some-name VALUE` sets the variable some_name, so that every (non-array) variable at
# the top of run.sh is an option; anything else stops the script with one line.
while [ $# -gt 0 ]; do
  name=${1#--}; name=${name//-/_}
  if [ "$name" = "$1" ] || [ $# -lt 2 ] || ! declare -p "$name" >/dev/null 2>&1 \
      || [[ "$(declare -p "$name")" == "declare -"[aA]* ]]; then
    echo "unknown option $1 (every variable at the top of $0 is an option)" >&2; exit 1
  fi
  printf -v "$name" '%s' "$2"; shift 2
done
unset name
