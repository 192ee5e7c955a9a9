#!/usr/bin/env bash
# Times everyday commands of one samtale build against its own server, with
# hyperfine (Debian's package): show, keys and send, for a caseworker and a
# citizen, in a thread of 20 messages on SQLite.
#
#   scripts/bench-cli.sh BIN_DIR PORT OUT.json
#
# BIN_DIR holds `samtale` and `samtale-server` of one build (e.g. target/debug).
# To compare two builds, copy each one's binaries aside and run this on both
# back to back (docs/BENCHMARKS.md, "Everyday commands with the trust checks").
set -euo pipefail
bin=$1; port=$2; out=$3
work=$(mktemp -d)
export SAMTALE_HOME=$work/home SAMTALE_PASSPHRASE="a long keystore passphrase" SAMTALE_PASSWORD="correct horse battery staple" NO_COLOR=1
export SAMTALE_SERVER=http://127.0.0.1:$port
"$bin/samtale-server" --listen 127.0.0.1:$port --data-dir $work/data --log warn > $work/server.out 2>&1 &
server=$!
trap 'kill $server; rm -rf $work' EXIT
# Output redirected: the server writes the enrolment code to a 0600 file.
for _ in $(seq 50); do [ -s $work/data/enrolment-code ] && break; sleep 0.2; done
code=$(cat $work/data/enrolment-code)
s="$bin/samtale"
$s --profile admin admin init --enrolment-code $code --organisation "Randers Kommune" --username anne --name "Anne Admin" >/dev/null
$s --profile admin admin team create Familieafdelingen >/dev/null
$s --profile admin admin staff create mette --name "Mette Jensen" --role staff --team Familieafdelingen >/dev/null
$s --profile mette login --username mette >/dev/null
fp=$($s --profile mette --json whoami | python3 -c 'import json,sys; print(json.load(sys.stdin)["device_fingerprint"])')
$s --profile admin admin certify mette --fingerprint "$fp" >/dev/null
$s --profile mette keys >/dev/null
$s --profile admin admin archive-key >/dev/null
letter=$($s --profile mette --json invite --national-id 010203-1234 --name Maja)
invite=$(echo "$letter" | python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])')
$s --profile maja join --code $invite --accept-consent >/dev/null
thread=$($s --profile mette --json new-thread --citizen Maja | python3 -c 'import json,sys; print(json.load(sys.stdin)["thread_id"][:8])')
for i in $(seq 20); do $s --profile mette send $thread "Besked nummer $i" >/dev/null; done
hyperfine -N --warmup 2 --runs 15 --export-json $out \
  -n "show (staff)" "$s --profile mette show $thread" \
  -n "show (citizen)" "$s --profile maja show $thread" \
  -n "keys (staff)" "$s --profile mette keys" \
  -n "send (staff)" "$s --profile mette send $thread hej" \
  -n "send (citizen)" "$s --profile maja send $thread tak" 2>&1 | grep -E 'Time|±|Benchmark' 
