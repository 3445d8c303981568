# Shared helpers of the integration scripts (sourced, not run).
# Needs: CERTO (the certo binary), CERTO_FIXTURES. Gives: $T (temp dir removed on exit),
# $F (fixtures), pw files, and expect_* helpers that fail the script with a message.
set -euo pipefail
# A command that fails outside the expect_* helpers ends the script: say which one.
trap 'echo "FAIL: line $LINENO of ${0##*/}: \"$BASH_COMMAND\" exited $?" >&2' ERR
: "${CERTO:?CERTO must point to the certo binary}"
: "${CERTO_FIXTURES:?CERTO_FIXTURES must point to tests/fixtures}"
F=$CERTO_FIXTURES
T=$(mktemp -d "${TMPDIR:-/tmp}/certo-it-XXXXXX")
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
printf 'changeit\n' > "$T/pw"
printf 'wrong-password\n' > "$T/badpw"
export LC_ALL=C.UTF-8
fails=0
checks=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { checks=$((checks + 1)); }

# keytool with English messages and quiet JVM.
kt() { keytool -J-Duser.language=en -J-Duser.country=US "$@"; }

# expect_ok DESC CMD...: the command must exit 0.
expect_ok() {
  local desc=$1; shift
  if "$@" > "$T/out" 2> "$T/err"; then ok; else
    fail "$desc: exit $? (stderr: $(head -c 400 "$T/err"))"; fi
}

# expect_fail DESC CODE REGEX CMD...: exit CODE, exactly one stderr line matching REGEX.
expect_fail() {
  local desc=$1 code=$2 re=$3; shift 3
  local rc=0
  "$@" > "$T/out" 2> "$T/err" || rc=$?
  if [ "$rc" != "$code" ]; then fail "$desc: exit $rc, want $code (stderr: $(head -c 400 "$T/err"))"; return; fi
  local lines; lines=$(wc -l < "$T/err")
  if [ "$lines" != 1 ]; then fail "$desc: $lines stderr lines, want 1: $(cat "$T/err")"; return; fi
  if ! grep -Eq -- "$re" "$T/err"; then fail "$desc: stderr '$(cat "$T/err")' does not match /$re/"; return; fi
  ok
}

# expect_grep DESC REGEX FILE
expect_grep() {
  if grep -Eq -- "$2" "$3"; then ok; else fail "$1: /$2/ not in $3: $(head -c 600 "$3")"; fi
}

# no_temp_files DIR: no leftover .NAME.certo-XXXXXX files.
no_temp_files() {
  if ls -A "$1" | grep -q '\.certo-'; then fail "temporary file left in $1: $(ls -A "$1")"; else ok; fi
}

# same_bytes DESC A B
same_bytes() {
  if cmp -s "$2" "$3"; then ok; else fail "$1: $2 changed"; fi
}

finish() {
  if [ "$fails" -ne 0 ]; then echo "$fails of $((checks + fails)) checks failed" >&2; exit 1; fi
  echo "all $checks checks passed"
}
