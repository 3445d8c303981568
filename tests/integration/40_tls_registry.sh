#!/usr/bin/env bash
# certo tls add|list|show|update|remove and certo store add|list|remove (issue 3, seed 004
# "Add an endpoint"): every row of the seed's tables, the gateway-OS table, every kind of
# bad input refused with exit 2, one line and the registry byte-for-byte unchanged, sealed
# secrets that never show up anywhere and do not open in another row or with another key,
# concurrent adds, --help and credential stores.
source "$(dirname "$0")/lib.bash"
C=$CERTO
export CERTO_CONTAINER=0 # the Linux-gateway rows; the container rows set it to 1
unset CERTO_SECRET_KEY CERTO_HOME
D=$T/gw                 # the gateway data directory (certo creates it)
LOG=$T/all.log          # stdout and stderr of every certo command, searched by the canary
: > "$LOG"
UUID='[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}'
ALLCONN="local ssh ssh_windows winrm_http winrm_https winrm_https_insecure rest rest_insecure"
declare -A VALID=(
  [iis]="local ssh_windows winrm_http winrm_https winrm_https_insecure"
  [apache]="local ssh"
  [tomcat]="local ssh winrm_http winrm_https winrm_https_insecure"
  [f5]="rest rest_insecure"
  [nginx]="local ssh"
  [p12]="local ssh ssh_windows winrm_http winrm_https winrm_https_insecure"
  [jks]="local ssh ssh_windows winrm_http winrm_https winrm_https_insecure"
  [pem]="local ssh ssh_windows winrm_http winrm_https winrm_https_insecure"
)
TYPES="iis apache tomcat f5 nginx p12 jks pem"

# ---- helpers ----

# cg ARGS...: certo on the test gateway, no terminal (so it never prompts).
cg() { "$C" "$@" --data "$D" < /dev/null; }
logit() { cat "$T/out" "$T/err" >> "$LOG"; }
# snap FILE: hashes of every file of the data directory (a leftover -wal/-journal shows up)
# and the output of 'tls list --json'.
snap() {
  if [ -d "$D" ]; then (cd "$D" && ls -A && sha256sum -- *) > "$1"; else echo "no $D" > "$1"; fi
  [ -d "$D" ] && "$C" tls list --json --data "$D" < /dev/null >> "$1" 2>&1
  cat "$1" >> "$LOG"
}
# bad DESC REGEX CMD...: exit 2, one stderr line matching REGEX, the registry unchanged.
bad() {
  local desc=$1 re=$2; shift 2
  snap "$T/snap.before"
  expect_fail "$desc" 2 "$re" "$@"; logit
  local e; e=$(cat "$T/err")
  snap "$T/snap.after"
  same_bytes "$desc: registry unchanged" "$T/snap.before" "$T/snap.after"
  printf '%s\n' "$e" > "$T/err" # the caller may look at the message
}
# same_set DESC "A B C" "C B A": the same words in any order.
same_set() {
  local a b; a=$(printf '%s\n' $2 | sort | xargs); b=$(printf '%s\n' $3 | sort | xargs)
  if [ "$a" = "$b" ]; then ok; else fail "$1: got '$2', want '$3'"; fi
}
# listed_after DESC PREFIX: the comma-separated list after PREFIX in the message.
listed_after() { sed -n "s/.*$1//p" "$T/err" | tr -d ','; }
# add_ok DESC NAME TYPE CONN ARGS...: exit 0, stdout one line "Endpoint 'NAME' (TYPE, CONN)
# added. Instance ID: UUID", stderr at most warnings about secrets on the command line.
# Sets ID.
add_ok() {
  local desc=$1 name=$2 type=$3 conn=$4; shift 4
  ID=
  expect_ok "$desc" cg tls add "$type" --name "$name" --connection_type "$conn" "$@"; logit
  local line; line=$(cat "$T/out")
  if [ "$(wc -l < "$T/out")" = 1 ] &&
    [[ $line == "Endpoint '$name' ($type, $conn) added. Instance ID: "* ]] &&
    [[ ${line##*Instance ID: } =~ ^$UUID$ ]]; then ok; ID=${line##*Instance ID: }
  else fail "$desc: stdout '$line'"; fi
  if grep -vq 'warning: --[a-z_]* on the command line can be seen by other users' "$T/err"; then
    fail "$desc: stderr '$(cat "$T/err")'"; else ok; fi
}
# jq_ok DESC JSONFILE PYTHON-EXPR-USING-d: a check on parsed JSON.
jq_ok() {
  if python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($3) else 1)" \
    "$2" 2>> "$T/pyerr"; then ok; else fail "$1: $(head -c 600 "$2")"; fi
}
show_json() { cg tls show "$1" --json > "$T/show.json" 2>> "$LOG"; cat "$T/show.json" >> "$LOG"; }
count_endpoints() {
  cg tls list --json > "$T/cnt.json" 2>> "$LOG"; cat "$T/cnt.json" >> "$LOG"
  python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$T/cnt.json"
}

# ---- files the endpoints point at ----
cp "$F/keytool.p12" "$T/k.p12"; cp "$F/keytool.jks" "$T/k.jks"
cp "$F/fullchain-rsa2048.pem" "$T/k.pem"
printf '#!/bin/sh\nexit 0\n' > "$T/apachectl"; chmod 755 "$T/apachectl"
cp "$T/apachectl" "$T/install.sh"; cp "$T/apachectl" "$T/restart.sh"
printf 'events {}\n' > "$T/nginx.conf"
mkdir -p "$T/tomcat/conf"; printf '<Server/>\n' > "$T/tomcat/conf/server.xml"
printf 'remote-login-pw\n' > "$T/rpw"
cp "$F/leaf-ec256.key" "$T/id_test"; chmod 600 "$T/id_test"

# type_args TYPE CONN: the options a valid endpoint of TYPE over CONN needs, in A.
type_args() {
  local win=false
  case $2 in ssh_windows | winrm_*) win=true ;; esac
  A=()
  if [ "$2" = local ]; then
    case $1 in
      apache) A=(--apachectl_path "$T/apachectl") ;;
      nginx) A=(--nginx_config_path "$T/nginx.conf") ;;
      tomcat) A=(--tomcat_dir "$T/tomcat") ;;
      p12 | jks) A=(--path "$T/k.$1" --store_password_file "$T/pw") ;;
      pem) A=(--path "$T/k.pem") ;;
    esac
    return
  fi
  A=(--host gw-test.example.com --user deploy --password_file "$T/rpw")
  case $1 in
    tomcat) if $win; then A+=(--tomcat_dir 'C:\tomcat'); else A+=(--tomcat_dir /opt/tomcat); fi ;;
    p12 | jks | pem)
      if $win; then A+=(--path "C:\\keys\\site.$1"); else A+=(--path "/srv/keys/site.$1"); fi
      [ "$1" = pem ] || A+=(--store_password_file "$T/pw") ;;
  esac
}

# ==== 1. seed tables: every type x every connection type (Linux gateway) ====
# Valid ones are added and listed with their type and connection type; the others are
# refused with the list of valid ones. iis+local is the gateway-OS table's (section 2).
: > "$T/expect.tsv"
for type in $TYPES; do
  for conn in $ALLCONN; do
    name="$type-$conn"
    if [[ " ${VALID[$type]} " == *" $conn "* ]]; then
      [ "$type-$conn" = iis-local ] && continue
      type_args "$type" "$conn"
      add_ok "$type over $conn added" "$name" "$type" "$conn" "${A[@]}"
      printf '%s\t%s\t%s\t%s\n' "$name" "$type" "$conn" "$ID" >> "$T/expect.tsv"
    else
      type_args "$type" ssh
      bad "$type over $conn refused" \
        "^certo tls add $type: --connection_type '$conn' is not valid for $type; the valid types are: " \
        cg tls add "$type" --name "$name" --connection_type "$conn" "${A[@]}"
      same_set "$type over $conn: valid types named" "$(listed_after 'the valid types are: ')" \
        "${VALID[$type]}"
    fi
  done
done
cg tls list --json > "$T/list.json" 2>> "$LOG"; cat "$T/list.json" >> "$LOG"
python3 - "$T/list.json" "$T/expect.tsv" <<'PY' && ok || fail "seed rows: list --json"
import json, sys
eps = {e["name"]: e for e in json.load(open(sys.argv[1]))}
want = [l.rstrip("\n").split("\t") for l in open(sys.argv[2])]
default = {"ssh": 22, "ssh_windows": 22, "winrm_http": 5985, "winrm_https": 5986,
           "winrm_https_insecure": 5986, "rest": 443, "rest_insecure": 443}
assert len(want) == 33 and len(eps) == 33, (len(want), len(eps))
for name, typ, conn, id_ in want:
    e = eps[name]
    assert (e["type"], e["connection_type"], e["id"]) == (typ, conn, id_), e
    if conn == "local":
        assert "port" not in e and "host" not in e, e
    else:
        assert e["port"] == default[conn] and e["host"] == "gw-test.example.com", e
        assert e["user"] == "deploy" and "password" in e["secrets"], e
    if typ == "p12":
        assert e["is_legacy"] is False, e
    if typ in ("p12", "jks"):
        assert "store_password" in e["secrets"], e
    assert not [k for k in e if "password" in k and k != "secrets"], e
PY
# The text list names every endpoint with its instance ID.
expect_ok "tls list" cg tls list; logit
while IFS=$'\t' read -r name type conn id; do
  expect_grep "list shows $name" "^$name +$type +$conn +$id " "$T/out"
done < "$T/expect.tsv"

# ==== 2. gateway-OS table ====
bad "iis+local on a Linux gateway" \
  "^certo tls add iis: --connection_type local is not available for iis on a Linux gateway" \
  cg tls add iis --name iis-local --connection_type local
same_set "iis on Linux: remote types named" "$(listed_after 'valid here: ')" \
  "ssh_windows winrm_http winrm_https winrm_https_insecure"
export CERTO_CONTAINER=1
for type in $TYPES; do
  type_args "$type" local
  if [ "$type" = f5 ]; then re="--connection_type 'local' is not valid for f5"
  else re="--connection_type local is not available on a gateway in a container"; fi
  bad "container: $type+local refused" "^certo tls add $type: $re" \
    cg tls add "$type" --name "c-$type-local" --connection_type local "${A[@]}"
  if [ "$type" != f5 ]; then
    same_set "container: $type remote types named" "$(listed_after "valid here for $type: ")" \
      "${VALID[$type]#local }"
  fi
  conn=${VALID[$type]##* } # a remote type of this type
  type_args "$type" "$conn"
  add_ok "container: $type over $conn accepted" "c-$type" "$type" "$conn" "${A[@]}"
done
export CERTO_CONTAINER=0

# ==== 3. credential stores ====
cat > "$T/vault.sh" <<'EOF'
#!/bin/sh
# An exec credential store: the ID on stdin, the credential as JSON on stdout. Like a
# chatty vault tool it also tells its stderr what it fetched: certo must not show that.
read -r id
case "$id" in
  web) printf '{"user": "svc", "password": "%s"}\n' "CanaryExec-Qq4719-x"
    echo "vault: fetched password CanaryExec-Qq4719-x for $id" >&2 ;;
  *) exit 1 ;;
esac
EOF
chmod 755 "$T/vault.sh"
printf '{"lb": {"user": "fu", "password": "CanaryFileStore-Qq4720-y"}}\n' > "$T/creds.json"
chmod 600 "$T/creds.json"
expect_ok "store add exec" cg store add vault --type exec --command "$T/vault.sh"; logit
expect_grep "store add exec: message" "^Credential store 'vault' \(exec, $T/vault.sh\) added\.$" "$T/out"
expect_ok "store add file" cg store add files --type file --path "$T/creds.json"; logit
cp "$T/creds.json" "$T/open.json"; chmod 644 "$T/open.json"
bad "store: file store readable by others" "may be read by others \(mode 644; chmod 600\)" \
  cg store add open --type file --path "$T/open.json"
cp "$T/vault.sh" "$T/ww.sh"; chmod 777 "$T/ww.sh"
bad "store: world-writable exec store" "may be changed by any user" \
  cg store add ww --type exec --command "$T/ww.sh"
bad "store: duplicate name" "credential store named 'VAULT' already exists" \
  cg store add VAULT --type exec --command "$T/vault.sh"
bad "store: unknown type" "--type must be exec or file" cg store add x --type vault
expect_ok "store list" cg store list; logit
expect_grep "store list: exec" "^vault +exec +$T/vault.sh$" "$T/out"
expect_grep "store list: file" "^files +file +$T/creds.json$" "$T/out"
cg store list --json > "$T/stores.json" 2>> "$LOG"; cat "$T/stores.json" >> "$LOG"
jq_ok "store list --json" "$T/stores.json" \
  'sorted((s["name"], s["type"]) for s in d) == [("files", "file"), ("vault", "exec")]'
add_ok "f5 with an exec store" f5-vault f5 rest --host lb.example.com --store vault \
  --store_cred_id web
add_ok "f5 with a file store" f5-files f5 rest_insecure --host lb2.example.com --store files \
  --store_cred_id lb
snap "$T/snap.before"
expect_fail "store remove in use" 1 "credential store 'vault' is used by endpoint 'f5-vault'" \
  cg store remove vault; logit
snap "$T/snap.after"; same_bytes "store remove in use: registry unchanged" "$T/snap.before" "$T/snap.after"
expect_ok "store add unused" cg store add spare --type exec --command "$T/vault.sh"; logit
expect_ok "store remove unused" cg store remove spare; logit
expect_ok "store list after remove" cg store list; logit
if grep -q '^spare ' "$T/out"; then fail "removed store still listed"; else ok; fi
bad "store remove unknown" "no credential store named 'spare'" cg store remove spare

# ==== 4. bad input: exit 2, one line naming the option and the rule, nothing changed ====
R=(--connection_type ssh --host h.example --user u --password_file "$T/rpw")
N32=$(printf 'n%.0s' $(seq 32))
bad "name empty" "--name must be between 1 and 32 characters \(got 0\)" \
  cg tls add nginx --name '' "${R[@]}"
bad "name of 33 characters" "--name must be between 1 and 32 characters \(got 33\)" \
  cg tls add nginx --name "${N32}x" "${R[@]}"
bad "name of 33 two-byte characters" "--name must be between 1 and 32 characters \(got 33\)" \
  cg tls add nginx --name "$(printf 'é%.0s' $(seq 33))" "${R[@]}"
add_ok "WEB1 added" WEB1 nginx ssh "${R[@]:2}"
bad "duplicate name" "--name 'WEB1' is already used by endpoint $ID" cg tls add nginx --name WEB1 "${R[@]}"
bad "duplicate name, other case" "--name 'web1' is already used by endpoint $ID" \
  cg tls add p12 --name web1 --connection_type local --path "$T/k.p12" --store_password_file "$T/pw"
bad "name with a tab" "--name must not contain control characters" cg tls add nginx --name $'a\tb' "${R[@]}"
bad "name with a C1 control character" "--name must not contain control characters" \
  cg tls add nginx --name $'a\xc2\x85b' "${R[@]}"
bad "name not UTF-8" "--name must be valid UTF-8" cg tls add nginx --name $'a\xffb' "${R[@]}"
bad "name with a leading space" "--name must not begin or end with a space" \
  cg tls add nginx --name ' web' "${R[@]}"
bad "host empty" "--host must be between 1 and 255 characters \(got 0\)" \
  cg tls add nginx --name x --connection_type ssh --host '' --user u --password_file "$T/rpw"
bad "option given twice" "option --port given twice" cg tls add nginx --name x --port 1 --port 2 "${R[@]}"
bad "name with a newline" "--name must not contain control characters" cg tls add nginx --name $'a\nb' "${R[@]}"
for p in 0 65536 abc 22x 022; do
  bad "port $p" "--port must be an integer between 1 and 65535, not '$p'" \
    cg tls add nginx --name x --port "$p" "${R[@]}"
done
bad "host of 256 characters" "--host must be between 1 and 255 characters \(got 256\)" \
  cg tls add nginx --name x "${R[@]:0:2}" --host "$(printf 'h%.0s' $(seq 256))" --user u \
  --password_file "$T/rpw"
bad "missing --name" "--name is required" cg tls add nginx "${R[@]}"
bad "missing --connection_type" "--connection_type is required \(valid for nginx: local, ssh\)" \
  cg tls add nginx --name x --host h --user u --password_file "$T/rpw"
bad "missing --host for ssh" "--host is required with --connection_type ssh" \
  cg tls add nginx --name x --connection_type ssh --user u --password_file "$T/rpw"
bad "missing --path for p12" "--path is required \(the p12 file\)" \
  cg tls add p12 --name x --connection_type local --store_password_file "$T/pw"
: > "$T/emptypw"
bad "empty login password" "--password must not be empty" \
  cg tls add nginx --name x --connection_type ssh --host h --user u --password_file "$T/emptypw"
bad "missing credentials for ssh" "--connection_type ssh needs credentials" \
  cg tls add nginx --name x --connection_type ssh --host h --user u
bad "unknown option" "unknown option --bogus" cg tls add nginx --name x --bogus 1 "${R[@]}"
bad "unknown endpoint type" "unknown endpoint type 'ssh'" cg tls add ssh --name x "${R[@]}"
bad "--nginx_config_path on apache" "--nginx_config_path is not an option of apache endpoints" \
  cg tls add apache --name x --nginx_config_path /etc/nginx/nginx.conf "${R[@]}"
bad "--is_legacy on jks" "--is_legacy is not an option of jks endpoints" \
  cg tls add jks --name x --connection_type local --path "$T/k.jks" --store_password_file "$T/pw" \
  --is_legacy false
bad "--path on nginx" "--path is not an option of nginx endpoints" \
  cg tls add nginx --name x --path /etc/x.pem "${R[@]}"
bad "--store_password on pem" \
  "^certo tls add pem: --store_password_file is not an option of pem endpoints \(see 'certo tls add pem --help'\)$" \
  cg tls add pem --name x --connection_type local --path "$T/k.pem" --store_password_file "$T/pw"
bad "is_legacy yes" "--is_legacy must be true or false, not 'yes'" \
  cg tls add p12 --name x --connection_type local --path "$T/k.p12" --store_password_file "$T/pw" \
  --is_legacy yes
bad "path of 4097 characters" "--path must be between 1 and 4096 characters \(got 4097\)" \
  cg tls add p12 --name x --connection_type local --path "/$(printf 'p%.0s' $(seq 4096))" \
  --store_password_file "$T/pw"
bad "nginx_config_path of 4097 characters" \
  "--nginx_config_path must be between 1 and 4096 characters \(got 4097\)" \
  cg tls add nginx --name x --connection_type local --nginx_config_path "/$(printf 'p%.0s' $(seq 4096))"
bad "unknown credential store" "no credential store named 'nostore'" \
  cg tls add f5 --name x --connection_type rest --host h --store nostore --store_cred_id web
bad "unknown ID in an exec store" "credential store 'vault' has no credential ID 'nope'" \
  cg tls add f5 --name x --connection_type rest --host h --store vault --store_cred_id nope
bad "unknown ID in a file store" "credential store 'files' has no credential ID 'nope'" \
  cg tls add f5 --name x --connection_type rest --host h --store files --store_cred_id nope
bad "missing local keystore file" "--path $T/missing.p12: No such file" \
  cg tls add p12 --name x --connection_type local --path "$T/missing.p12" --store_password_file "$T/pw"
bad "wrong store password for a local p12" "--store_password does not open $T/k.p12 \(wrong password\)" \
  cg tls add p12 --name x --connection_type local --path "$T/k.p12" --store_password_file "$T/badpw"
bad "wrong store password for a local jks" "--store_password does not open $T/k.jks \(wrong password\)" \
  cg tls add jks --name x --connection_type local --path "$T/k.jks" --store_password_file "$T/badpw"
bad "tomcat_dir empty" "--tomcat_dir must be at least 1 character long" \
  cg tls add tomcat --name x --connection_type local --tomcat_dir ''
bad "missing ssh key file" "--ssh_key_path $T/no_key" \
  cg tls add nginx --name x --connection_type ssh --host h --user u --ssh_key_path "$T/no_key"
bad "remote option on a local endpoint" "--host is not used with --connection_type local" \
  cg tls add nginx --name x --connection_type local --nginx_config_path "$T/nginx.conf" --host h
bad "unset password variable" "environment variable CERTO_NO_SUCH_VAR is not set" \
  cg tls add nginx --name x --connection_type ssh --host h --user u --password_env CERTO_NO_SUCH_VAR

# ==== 5. valid boundaries and defaults ====
add_ok "name of 32 characters" "$N32" nginx ssh "${R[@]:2}"
E32=$(printf 'é%.0s' $(seq 32))
add_ok "name of 32 two-byte characters" "$E32" nginx ssh "${R[@]:2}"
show_json "$E32"; jq_ok "é x32 shown by name" "$T/show.json" "d['name'] == '$E32'"
add_ok "port 1" port-1 nginx ssh "${R[@]:2}" --port 1
show_json port-1; jq_ok "port 1 stored" "$T/show.json" 'd["port"] == 1'
add_ok "port 65535" port-65535 nginx ssh "${R[@]:2}" --port 65535
show_json port-65535; jq_ok "port 65535 stored" "$T/show.json" 'd["port"] == 65535'
L63=$(printf 'l%.0s' $(seq 63))
H255="$L63.$L63.$L63.$L63"
add_ok "host of 255 characters" host-255 nginx ssh --host "$H255" --user u --password_file "$T/rpw"
show_json host-255; jq_ok "host of 255 stored" "$T/show.json" "d['host'] == '$H255' and len(d['host']) == 255"
for pair in nginx-ssh:22 iis-ssh_windows:22 tomcat-winrm_http:5985 iis-winrm_https:5986 \
  p12-winrm_https_insecure:5986 f5-rest:443 f5-rest_insecure:443; do
  show_json "${pair%:*}"
  jq_ok "default port of ${pair%:*}" "$T/show.json" "d['port'] == ${pair#*:}"
done
expect_ok "show text marks the default port" cg tls show nginx-ssh; logit
expect_grep "show: port 22 (default)" '^port +22 \(default\)$' "$T/out"
show_json p12-local; jq_ok "is_legacy defaults to false" "$T/show.json" 'd["is_legacy"] is False'
add_ok "is_legacy true" p12-legacy p12 local --path "$T/k.p12" --store_password_file "$T/pw" --is_legacy true
show_json p12-legacy; jq_ok "is_legacy true stored" "$T/show.json" 'd["is_legacy"] is True'
add_ok "install and restart scripts" pem-scripts pem local --path "$T/k.pem" \
  --install_script "$T/install.sh" --restart_script "$T/restart.sh"

# ==== 6. list, show, update, remove ====
show_json nginx-ssh; cp "$T/show.json" "$T/by-name.json"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/by-name.json")
show_json "$id"; same_bytes "show by ID = show by name" "$T/by-name.json" "$T/show.json"
show_json NGINX-SSH; same_bytes "show by name in another case" "$T/by-name.json" "$T/show.json"
expect_ok "show text" cg tls show nginx-ssh; logit
expect_grep "show text: instance ID" "^instance ID +$id$" "$T/out"
expect_grep "show text: password stored" '^password +\(stored, encrypted\)$' "$T/out"
bad "show unknown" "no endpoint named or with ID 'nothing'" cg tls show nothing
expect_ok "update port" cg tls update nginx-ssh --port 2222; logit
expect_grep "update: message" "^Endpoint 'nginx-ssh' updated \(instance ID $id\)\.$" "$T/out"
show_json nginx-ssh; jq_ok "update: port 2222" "$T/show.json" \
  "d['port'] == 2222 and d['id'] == '$id' and d['host'] == 'gw-test.example.com'"
expect_ok "update --unset port" cg tls update nginx-ssh --unset port; logit
show_json nginx-ssh; jq_ok "update --unset port: default again" "$T/show.json" 'd["port"] == 22'
bad "update --port 0" "--port must be an integer between 1 and 65535, not '0'" \
  cg tls update nginx-ssh --port 0
bad "update to an invalid connection type" \
  "--connection_type 'winrm_http' is not valid for apache; the valid types are: local, ssh" \
  cg tls update apache-ssh --connection_type winrm_http
bad "update with another type's option" "--tomcat_dir is not an option of nginx endpoints" \
  cg tls update nginx-ssh --tomcat_dir /opt/tomcat
bad "update: rename to a used name" "--name 'WEB1' is already used" cg tls update nginx-ssh --name WEB1
bad "update: name of 33 characters" "--name must be between 1 and 32 characters" \
  cg tls update nginx-ssh --name "${N32}x"
bad "update unknown endpoint" "no endpoint named or with ID 'nothing'" cg tls update nothing --port 23
expect_ok "update --name" cg tls update nginx-ssh --name web-renamed; logit
bad "show the old name" "no endpoint named or with ID 'nginx-ssh'" cg tls show nginx-ssh
show_json web-renamed; jq_ok "renamed: same ID" "$T/show.json" "d['id'] == '$id' and d['name'] == 'web-renamed'"
expect_ok "update --name by ID, other case" cg tls update "$id" --name NGINX-SSH; logit
show_json nginx-ssh; jq_ok "renamed by ID to its own name in capitals" "$T/show.json" \
  "d['id'] == '$id' and d['name'] == 'NGINX-SSH'"
expect_ok "update --name by ID" cg tls update "$id" --name nginx-ssh; logit
show_json nginx-ssh; jq_ok "renamed back by ID" "$T/show.json" "d['id'] == '$id'"
before=$(count_endpoints)
expect_ok "remove by name" cg tls remove port-1; logit
expect_grep "remove: message" "^Endpoint 'port-1' removed \(instance ID $UUID\)\.$" "$T/out"
bad "show after remove" "no endpoint named or with ID 'port-1'" cg tls show port-1
show_json port-65535
pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/show.json")
expect_ok "remove by ID" cg tls remove "$pid"; logit
bad "show by ID after remove" "no endpoint named or with ID '$pid'" cg tls show "$pid"
bad "remove again" "no endpoint named or with ID 'port-1'" cg tls remove port-1
[ "$(count_endpoints)" = $((before - 2)) ] && ok || fail "remove: list did not shrink by 2"

# ==== 7. secret canary: no password anywhere but sealed ====
declare -A CANARY=(
  [pw_cmd]=CanaryPwCmd-Qq4711-a [pw_file]=CanaryPwFile-Qq4712-b [pw_env]=CanaryPwEnv-Qq4713-c
  [key_cmd]=CanaryKeyCmd-Qq4714-d [key_file]=CanaryKeyFile-Qq4715-e [key_env]=CanaryKeyEnv-Qq4716-f
  [st_cmd]=CanaryStCmd-Qq4717-g [st_file]=CanaryStFile-Qq4718-h [st_env]=CanaryStEnv-Qq4719-i
  [exec]=CanaryExec-Qq4719-x [filestore]=CanaryFileStore-Qq4720-y
)
mkdir -p "$T/sec"
for k in pw_file key_file st_file; do printf '%s\n' "${CANARY[$k]}" > "$T/sec/$k"; done
export CANARY_PW=${CANARY[pw_env]} CANARY_KEY=${CANARY[key_env]} CANARY_ST=${CANARY[st_env]}
# Local keystores whose password is a canary.
expect_ok "canary p12 file" "$C" keystore put "$T/canary.p12" --alias web --cert "$F/leaf-ec256.crt" \
  --key "$F/leaf-ec256.key" --password-file "$T/sec/st_file"; logit
expect_ok "canary jks file" "$C" keystore put "$T/canary.jks" --alias web --cert "$F/leaf-ec256.crt" \
  --key "$F/leaf-ec256.key" --password-env CANARY_ST; logit
add_ok "canary: --password" can-pw-cmd nginx ssh --host h --user u --password "${CANARY[pw_cmd]}"
expect_grep "canary: warning names --password" \
  '^certo tls add nginx: warning: --password on the command line can be seen by other users' "$T/err"
add_ok "canary: --password_file" can-pw-file iis winrm_https --host h --user u \
  --password_file "$T/sec/pw_file"
add_ok "canary: --password-env" can-pw-env tomcat winrm_http --host h --user u \
  --password-env CANARY_PW --tomcat_dir 'C:\tomcat'
add_ok "canary: --ssh_key_password" can-key-cmd apache ssh --host h --user u \
  --ssh_key_path "$T/id_test" --ssh_key_password "${CANARY[key_cmd]}"
expect_grep "canary: warning names --ssh_key_password" 'warning: --ssh_key_password on the command line' "$T/err"
add_ok "canary: --ssh_key_password_file" can-key-file pem ssh --host h --user u \
  --ssh_key_path "$T/id_test" --ssh_key_password_file "$T/sec/key_file" --path /srv/a.pem
add_ok "canary: --ssh-key-password-env" can-key-env p12 ssh_windows --host h --user u \
  --ssh_key_path "$T/id_test" --ssh-key-password-env CANARY_KEY --path 'C:\a.p12' \
  --store_password_file "$T/pw"
add_ok "canary: --store_password" can-st-cmd jks ssh --host h --user u --password_file "$T/rpw" \
  --path /srv/a.jks --store_password "${CANARY[st_cmd]}"
expect_grep "canary: warning names --store_password" 'warning: --store_password on the command line' "$T/err"
add_ok "canary: --store_password_file, local p12" can-st-file p12 local --path "$T/canary.p12" \
  --store_password_file "$T/sec/st_file"
add_ok "canary: --store-password-env, local jks" can-st-env jks local --path "$T/canary.jks" \
  --store-password-env CANARY_ST
add_ok "canary: exec store" can-exec f5 rest --host h --store vault --store_cred_id web
add_ok "canary: file store" can-filestore f5 rest --host h --store files --store_cred_id lb
cg tls list --json > "$T/canary.list.json" 2>> "$LOG"
jq_ok "canary: secrets recorded as stored" "$T/canary.list.json" '
  {e["name"]: sorted(e["secrets"]) for e in d if e["name"].startswith("can-")} == {
   "can-pw-cmd": ["password"], "can-pw-file": ["password"], "can-pw-env": ["password"],
   "can-key-cmd": ["ssh_key_password"], "can-key-file": ["ssh_key_password"],
   "can-key-env": ["ssh_key_password", "store_password"],
   "can-st-cmd": ["password", "store_password"], "can-st-file": ["store_password"],
   "can-st-env": ["store_password"], "can-exec": [], "can-filestore": []}'
# Decrypting works: update without --store_password reopens each local keystore with the
# stored, sealed password (a wrong one fails with "wrong password", see section 4).
expect_ok "canary: update local p12 reopens it" cg tls update can-st-file --restart_script "$T/restart.sh"; logit
expect_ok "canary: update local jks reopens it" cg tls update can-st-env --install_script "$T/install.sh"; logit
show_json can-st-file; jq_ok "canary: restart_script set" "$T/show.json" "d['restart_script'] == '$T/restart.sh'"
# Everything a user or an attacker with the database file can see.
{ cg tls list; cg tls list --json
  for e in $(python3 -c 'import json,sys; print(" ".join(e["name"] for e in json.load(open(sys.argv[1]))))' "$T/canary.list.json"); do
    cg tls show "$e"; cg tls show "$e" --json; done
  cg store list; cg store list --json; } > "$T/views.txt" 2>&1
cat "$T/views.txt" >> "$LOG"
sqlite3 "$D/gateway.db" .dump > "$T/dump.sql"
# count_in STRING FILES...: lines holding STRING (case-insensitive, binary files as text).
count_in() { local s=$1; shift; cat -- "$@" | { grep -a -i -c -F -- "$s" || true; }; }
for k in "${!CANARY[@]}"; do
  p=${CANARY[$k]}
  hex=$(printf '%s' "$p" | od -An -tx1 | tr -d ' \n')
  b64=$(printf '%s' "$p" | base64 -w0)
  hits=$(( $(count_in "$p" "$D"/gateway.db* "$LOG" "$T/views.txt" "$T/dump.sql") +
    $(count_in "$hex" "$T/dump.sql" "$D"/gateway.db*) + $(count_in "$b64" "$T/dump.sql" "$D"/gateway.db*) ))
  [ "$hits" = 0 ] && ok || fail "canary $k ($p): $hits hits in the database, dump, views or log"
done
# Controls: the search finds a planted copy, and the dump holds sealed blobs.
[ "$(count_in "${CANARY[pw_file]}" "$T/sec/pw_file" "$T/dump.sql")" = 1 ] && ok || fail "canary: search finds nothing"
grep -q "X'" "$T/dump.sql" && [ -s "$T/views.txt" ] && ok || fail "canary: no sealed blob in the dump"

# ==== 8. sealed values are bound to their row, column and key ====
cp "$F/keytool.p12" "$T/ta.p12"; cp "$F/keytool.p12" "$T/tb.p12" # same password: only the binding differs
add_ok "tamper: a" tamper-a p12 local --path "$T/ta.p12" --store_password_file "$T/pw"
add_ok "tamper: b" tamper-b p12 local --path "$T/tb.p12" --store_password_file "$T/pw"
expect_ok "tamper: b opens before" cg tls update tamper-b --install_script "$T/install.sh"; logit
sqlite3 "$D/gateway.db" "UPDATE endpoints SET store_password = (SELECT store_password FROM endpoints
  WHERE name_key = 'tamper-a') WHERE name_key = 'tamper-b'"
snap "$T/snap.before"
expect_fail "tamper: a's sealed password in b's row" 2 \
  "sealed value does not open for endpoint/$UUID/store_password \(altered, or from another record\)" \
  cg tls update tamper-b --restart_script "$T/restart.sh"; logit
snap "$T/snap.after"; same_bytes "tamper: registry unchanged" "$T/snap.before" "$T/snap.after"
add_ok "tamper: c" tamper-c p12 ssh --host h --user u --password_file "$T/rpw" --path /srv/c.p12 \
  --store_password_file "$T/pw"
expect_ok "tamper: c opens before" cg tls update tamper-c --port 2200; logit
sqlite3 "$D/gateway.db" "UPDATE endpoints SET store_password = password WHERE name_key = 'tamper-c'"
expect_fail "tamper: password moved to store_password in the same row" 2 \
  "sealed value does not open .*store_password" cg tls update tamper-c --port 2201; logit
expect_fail "another CERTO_SECRET_KEY" 2 "sealed with another secret key" \
  env CERTO_SECRET_KEY="$(printf '%064d' 7)" "$C" tls update tamper-a --data "$D" \
  --install_script "$T/install.sh"; logit
expect_fail "malformed CERTO_SECRET_KEY" 2 "CERTO_SECRET_KEY does not hold 64 hex digits" \
  env CERTO_SECRET_KEY=1234 "$C" tls update tamper-a --data "$D" --install_script "$T/install.sh"; logit
expect_ok "tamper: a still opens with the right key" cg tls update tamper-a --install_script "$T/install.sh"; logit
[ "$(stat -c %a "$D/secret.key")" = 600 ] && ok || fail "secret.key mode $(stat -c %a "$D/secret.key")"
[ "$(stat -c %a "$D")" = 700 ] && ok || fail "data directory mode $(stat -c %a "$D")"

# ==== 9. concurrent CLI runs (a fresh gateway: the database and key are created in the race) ====
D2=$T/gw2
mkdir -p "$T/par"
pids=()
for i in $(seq 20); do
  "$C" tls add p12 --data "$D2" --name "par-$i" --connection_type ssh --host "h$i" --user u \
    --password_file "$T/rpw" --path /srv/p.p12 --store_password_file "$T/pw" \
    < /dev/null > "$T/par/$i.out" 2> "$T/par/$i.err" & pids+=($!)
done
n0=0
for i in $(seq 20); do
  rc=0; wait "${pids[$((i - 1))]}" || rc=$?
  cat "$T/par/$i.out" "$T/par/$i.err" >> "$LOG"
  if [ "$rc" = 0 ] && grep -Eq "^Endpoint 'par-$i' \(p12, ssh\) added\. Instance ID: $UUID$" "$T/par/$i.out"
  then n0=$((n0 + 1)); else fail "parallel add par-$i: exit $rc: $(cat "$T/par/$i.err")"; fi
done
[ "$n0" = 20 ] && ok || fail "parallel adds: $n0 of 20 succeeded"
"$C" tls list --json --data "$D2" > "$T/par.json" 2>> "$LOG"
jq_ok "parallel: 20 listed" "$T/par.json" 'sorted(e["name"] for e in d) == sorted("par-%d" % i for i in range(1, 21))'
left=("$D2"/*tmp*); [ -e "${left[0]}" ] && fail "temporary file left in $D2: ${left[*]}" || ok
no_temp_files "$D2"
# Every secret sealed in the race opens with the one key file.
nopen=0
for i in $(seq 20); do
  if "$C" tls update "par-$i" --data "$D2" --port 2022 < /dev/null >> "$LOG" 2>&1; then nopen=$((nopen + 1)); fi
done
[ "$nopen" = 20 ] && ok || fail "parallel: only $nopen of 20 sealed secrets open"
pids=()
for i in $(seq 8); do
  "$C" tls add nginx --data "$D2" --name same --connection_type ssh --host "h$i" --user u \
    --password_file "$T/rpw" < /dev/null > "$T/par/s$i.out" 2> "$T/par/s$i.err" & pids+=($!)
done
nok=0; ndup=0
for i in $(seq 8); do
  rc=0; wait "${pids[$((i - 1))]}" || rc=$?
  cat "$T/par/s$i.out" "$T/par/s$i.err" >> "$LOG"
  if [ "$rc" = 0 ]; then nok=$((nok + 1))
  elif [ "$rc" = 2 ] && [ "$(wc -l < "$T/par/s$i.err")" = 1 ] &&
    grep -q "^certo tls add nginx: --name 'same' is already used by endpoint " "$T/par/s$i.err"
  then ndup=$((ndup + 1))
  else fail "same-name add $i: exit $rc: $(cat "$T/par/s$i.err")"; fi
done
[ "$nok" = 1 ] && [ "$ndup" = 7 ] && ok || fail "same name in parallel: $nok added, $ndup refused"
no_temp_files "$D2" # the 7 refused adds leave no temporary file either
"$C" tls list --json --data "$D2" > "$T/par.json" 2>> "$LOG"
jq_ok "parallel: 21 listed" "$T/par.json" 'len(d) == 21'

# ==== 10. --help and dashed spellings ====
# help_has DESC TEXT: the help in $T/out, its wrapped lines joined, holds TEXT.
help_has() {
  if tr -s ' \n' '  ' < "$T/out" | grep -qF -- "$2"; then ok; else fail "$1: '$2' not in help"; fi
}
for h in --help -h; do
  expect_ok "tls add nginx $h" "$C" tls add nginx "$h"; logit
  expect_grep "nginx $h: --nginx_config_path" '^ +--nginx_config_path FILE ' "$T/out"
  help_has "nginx $h: seed description" 'The path to the Nginx config file.'
  help_has "nginx $h: limit" 'Must be between 1 and 4096 characters.'
  help_has "nginx $h: connection types" 'The connection type. The valid types are: local, ssh --host'
  help_has "nginx $h: name limit" 'The name of the server. Must be between 1 and 32 characters.'
  help_has "nginx $h: port limit" 'Must be an integer between 1 and 65535.'
  help_has "nginx $h: -h" '-h, --help'
  if grep -Eq -- '--(tomcat_dir|path|apachectl_path|is_legacy|store_password)\b' "$T/out"; then
    fail "nginx $h lists another type's option"; else ok; fi
  [ ! -s "$T/err" ] && ok || fail "nginx $h: stderr $(cat "$T/err")"
done
expect_ok "tls add p12 --help" "$C" tls add p12 --help; logit
for o in path store_password install_script restart_script is_legacy ssh_key_path store_cred_id; do
  expect_grep "p12 --help: --$o" "^ +--$o " "$T/out"
done
help_has "p12 --help: is_legacy default" 'The value defaults to false.'
help_has "p12 --help: path" 'The path to the keystore or certificate file.'
expect_ok "tls add pem --help" "$C" tls add pem --help; logit
if grep -Eq -- '--(store_password|is_legacy) ' "$T/out"; then fail "pem --help lists p12 options"; else ok; fi
expect_ok "tls add tomcat --help" "$C" tls add tomcat --help; logit
help_has "tomcat --help: tomcat_dir" 'for example /opt/tomcat. Must be at least 1 character long.'
help_has "tomcat --help: connection types" \
  'The valid types are: local, ssh, winrm_http, winrm_https, winrm_https_insecure --host'
expect_ok "tls add f5 --help" "$C" tls add f5 --help; logit
help_has "f5 --help: connection types" 'The valid types are: rest, rest_insecure --host'
help_has "f5 --help: seed wording" 'The server hostname. Must be between 1 and 255 characters.'
add_ok "dashed spellings" dashed f5 rest_insecure --host lb3.example.com --store vault --store-cred-id web
add_ok "dashed spellings: nginx" dashed-nginx nginx local --nginx-config-path "$T/nginx.conf"
expect_ok "dashed spellings: --connection-type" cg tls add apache --name dashed-apache \
  --connection-type ssh --host h --user u --password-file "$T/rpw"; logit
show_json dashed; jq_ok "dashed: stored" "$T/show.json" \
  'd["connection_type"] == "rest_insecure" and d["store"] == "vault" and d["store_cred_id"] == "web"'
show_json dashed-apache; jq_ok "dashed: apache stored" "$T/show.json" \
  'd["connection_type"] == "ssh" and d["secrets"] == ["password"]'

no_temp_files "$D"
finish
