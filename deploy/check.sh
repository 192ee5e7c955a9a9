#!/usr/bin/env bash
# Checks the deployment files without a Docker engine:
#   docker-compose.yml against the Compose Specification's JSON schema
#   (check-jsonschema's vendored copy), and deploy/haproxy.cfg with
#   HAProxy's own `haproxy -c`. Each check is shown to refuse a broken copy
#   first, so a pass means something.
#
#   bash deploy/check.sh PYTHON_VENV
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:?usage: deploy/check.sh PYTHON_VENV}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$venv/bin/pip" install --quiet --disable-pip-version-check -r deploy/requirements.txt
schema() { "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$@"; }
# Control: a misspelt key in a service is refused.
sed 's/^    restart: unless-stopped$/    restrat: unless-stopped/' docker-compose.yml > "$tmp/broken-compose.yml"
if schema "$tmp/broken-compose.yml" >/dev/null 2>&1; then
    echo "the Compose schema check accepted a misspelt key: it checks nothing" >&2
    exit 1
fi
schema docker-compose.yml

# HAProxy, with the variables docker-compose.yml sets and a throwaway cert.
mkdir "$tmp/certs"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat "$tmp/cert.pem" "$tmp/key.pem" > "$tmp/certs/samtale.pem"
# Compose's service names (samtale-1:8080) resolve only on its network,
# and HAProxy resolves names when it starts: addresses stand in for them.
export SAMTALE_PROXY_HTTPS=:8443 SAMTALE_PROXY_HTTP=:8080 SAMTALE_TLS_CERTS="$tmp/certs" \
    SAMTALE_NODE1=127.0.0.1:8081 SAMTALE_NODE2=127.0.0.1:8082
sed 's/balance leastconn/balance leastconnections/' deploy/haproxy.cfg > "$tmp/broken-haproxy.cfg"
if haproxy -c -q -f "$tmp/broken-haproxy.cfg" >/dev/null 2>&1; then
    echo "haproxy -c accepted an unknown balance algorithm: it checks nothing" >&2
    exit 1
fi
haproxy -c -f deploy/haproxy.cfg
grep -q 'haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg' docker-compose.yml \
    || { echo "docker-compose.yml does not mount deploy/haproxy.cfg" >&2; exit 1; }
echo "deployment files: valid"
