#!/usr/bin/env bash
# A lab PKI for CWMP over HTTPS with client certificates (TR-069 3.4.4/3.4.5).
#
#   scripts/lab-ca.sh DIR [CN ...]
#
# Creates in DIR (reusing whatever is already there, so it can be re-run to
# add devices):
#   ca.crt, ca.key            the lab CA (the tenant's CA; ca.crt is what
#                             nginx's ssl_client_certificate points at)
#   server.crt, server.key    the ACS's certificate for 127.0.0.1 and
#                             localhost (plus $LAB_CA_SERVER_SAN, e.g.
#                             "IP:192.0.2.10,DNS:acs.lab"), signed by the CA
#   clients/NAME.crt, .key    one client certificate per CN given; a CPE's CN
#                             is its device id (OUI-ProductClass-Serial, as
#                             the ACS escapes it) or its serial number. NAME
#                             is the CN with anything outside [A-Za-z0-9._-]
#                             replaced by "_".
# and prints on stdout (only) the CA's subject DN in RFC 2253 form: paste it
# into the tenant's "CPE certificate issuer" (cpe_cert_issuer). Progress goes
# to stderr.
#
# Environment: LAB_CA_NAME (the CA's CN; default "acsportal lab CA <random>",
# random so two labs never share an issuer name), LAB_CA_KEY (rsa, the
# default because CPEs often support nothing else, or ec for P-256),
# LAB_CA_DAYS (CA validity, default 3650), LAB_CERT_DAYS (leaf validity,
# default 825).
#
# A lab tool: the CA key sits unencrypted next to the certificates. A
# production CA lives elsewhere; only its certificate goes to nginx.
set -euo pipefail

if [ $# -lt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
command -v openssl >/dev/null 2>&1 || { echo "lab-ca: the openssl CLI is needed" >&2; exit 1; }

DIR=$1
shift
KEY_TYPE=${LAB_CA_KEY:-rsa}
CA_DAYS=${LAB_CA_DAYS:-3650}
CERT_DAYS=${LAB_CERT_DAYS:-825}

# Private keys must never be world-readable.
umask 077
mkdir -p "$DIR/clients"

case "$KEY_TYPE" in
    rsa) NEWKEY=(-newkey rsa:2048) ;;
    ec) NEWKEY=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
    *) echo "lab-ca: LAB_CA_KEY must be rsa or ec, not '$KEY_TYPE'" >&2; exit 2 ;;
esac

# openssl's -subj syntax is "/CN=value": backslash-escape the characters it
# treats specially so any CN (device ids contain %, serials may contain /)
# reaches the certificate verbatim.
subj_escape() {
    printf '%s' "$1" | sed -e 's/[\\/=+]/\\&/g'
}

# One extensions file per run: the CA, server and client profiles.
EXT=$(mktemp)
trap 'rm -f "$EXT" "$DIR"/*.csr "$DIR"/clients/*.csr' EXIT
cat >"$EXT" <<'EXTS'
[ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = ${ENV::SERVER_SAN}

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXTS

# Sign a CSR with the CA: sign NAME_PREFIX PROFILE
sign() {
    openssl x509 -req -in "$1.csr" -CA "$DIR/ca.crt" -CAkey "$DIR/ca.key" \
        -CAcreateserial -CAserial "$DIR/ca.srl" -days "$CERT_DAYS" -sha256 \
        -extfile "$EXT" -extensions "$2" -out "$1.crt" 2>/dev/null
}

if [ ! -s "$DIR/ca.crt" ] || [ ! -s "$DIR/ca.key" ]; then
    CA_NAME=${LAB_CA_NAME:-"acsportal lab CA $(openssl rand -hex 4)"}
    echo "lab-ca: creating CA '$CA_NAME' in $DIR" >&2
    SERVER_SAN=unused openssl req -x509 -new "${NEWKEY[@]}" -nodes -sha256 \
        -days "$CA_DAYS" -subj "/O=acsportal lab/CN=$(subj_escape "$CA_NAME")" \
        -config "$EXT" -extensions ca -keyout "$DIR/ca.key" -out "$DIR/ca.crt" 2>/dev/null
fi

if [ ! -s "$DIR/server.crt" ] || [ ! -s "$DIR/server.key" ]; then
    echo "lab-ca: creating the server certificate (127.0.0.1, localhost)" >&2
    export SERVER_SAN="IP:127.0.0.1,DNS:localhost${LAB_CA_SERVER_SAN:+,$LAB_CA_SERVER_SAN}"
    openssl req -new "${NEWKEY[@]}" -nodes -subj "/O=acsportal lab/CN=localhost" \
        -keyout "$DIR/server.key" -out "$DIR/server.csr" 2>/dev/null
    sign "$DIR/server" server
    # nginx wants the chain in the certificate file; a lab CA is one level.
fi

export SERVER_SAN=unused  # referenced by the [server] section, unused below
for cn in "$@"; do
    [ -n "$cn" ] || { echo "lab-ca: empty CN" >&2; exit 2; }
    name=$(printf '%s' "$cn" | tr -c 'A-Za-z0-9._-' '_')
    if [ -s "$DIR/clients/$name.crt" ] && [ -s "$DIR/clients/$name.key" ]; then
        echo "lab-ca: clients/$name.crt exists, kept" >&2
        continue
    fi
    echo "lab-ca: creating client certificate clients/$name.crt for CN=$cn" >&2
    openssl req -new "${NEWKEY[@]}" -nodes -subj "/CN=$(subj_escape "$cn")" \
        -keyout "$DIR/clients/$name.key" -out "$DIR/clients/$name.csr" 2>/dev/null
    sign "$DIR/clients/$name" client
done

# Certificates are public; only the keys stay private.
chmod 644 "$DIR"/*.crt
find "$DIR/clients" -name '*.crt' -exec chmod 644 {} +

openssl x509 -in "$DIR/ca.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'
