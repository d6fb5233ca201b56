#!/bin/sh
# Prepares the reference CA's folder once, for docker/compose.yaml (service
# refca-init); later runs change nothing.
#
#   refca-init.sh CA_DIR CLIENT_DIR [HOST]
#
# CA_DIR/pki        a development PKI (certbridge-refca pki-init), whose TLS
#                   server certificate is re-issued to name HOST (default
#                   "refca", the compose service) besides localhost: pki-init's
#                   own names only 127.0.0.1 and localhost
# CA_DIR/inventory.jsonl   the holders of the demo's sample, one certificate
#                   each (certbridge demo --write-inventory)
# CLIENT_DIR        certbridge's client certificate, key (mode 0600) and the
#                   TLS CA it trusts (ca.tls.cert, ca.tls.key, ca.tls.ca_bundle)
set -eu
ca=${1:?usage: refca-init.sh CA_DIR CLIENT_DIR [HOST]}
client=${2:?usage: refca-init.sh CA_DIR CLIENT_DIR [HOST]}
host=${3:-refca}
pki="$ca/pki"
umask 077

if [ ! -f "$pki/client.pem" ]; then
    mkdir -p "$ca/state"
    certbridge-refca pki-init "$pki"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # a TLS CA of its own (its key is not kept) and a server certificate
    # naming HOST; the client CA and client certificate stay pki-init's
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$tmp/tls-ca.key" -out "$tmp/tls-ca.pem" -days 3650 \
        -subj "/CN=certbridge compose TLS CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$tmp/server.key" -out "$tmp/server.csr" -subj "/CN=$host" 2>/dev/null
    printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n' \
        "$host" >"$tmp/ext"
    openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/tls-ca.pem" -CAkey "$tmp/tls-ca.key" \
        -CAcreateserial -CAserial "$tmp/serial" -days 825 -extfile "$tmp/ext" \
        -out "$tmp/server.pem" 2>/dev/null
    cp "$tmp/tls-ca.pem" "$tmp/server.pem" "$tmp/server.key" "$pki/"
    echo "refca-init: development PKI in $pki, server certificate for $host and localhost"
fi
if [ ! -f "$ca/inventory.jsonl" ]; then
    certbridge demo --write-inventory "$ca/inventory.jsonl"
    echo "refca-init: inventory of $(wc -l <"$ca/inventory.jsonl") holders (the demo's sample)"
fi
mkdir -p "$client"
cp "$pki/client.pem" "$pki/client.key" "$pki/tls-ca.pem" "$client/"
chmod 600 "$client/client.key"
echo "refca-init: certbridge's client credentials in $client"
