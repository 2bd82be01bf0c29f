#!/bin/sh
# The certificates and admin token docker-compose.yml mounts, made with ../tls/make-certs.sh.
# Run it once before `docker compose up` (again to re-issue the certificates; the CA and
# the token are kept):
#
#   deploy/compose/make-certs.sh            # writes deploy/compose/tls/ (git-ignored)
#
# What it writes, in OUT_DIR (default: tls/ beside this script):
#   pki/                   the CA (ca.pem, ca.key) and every certificate, as make-certs.sh names them
#   pd-N/, store-N/        what service pd-N / store-N mounts at /etc/rangekv/tls: ca.pem,
#                          node.pem and node.key (its own certificate) and admin-token
#   ca.pem                 for Prometheus, which scrapes /metrics over HTTPS
#   admin-token            the admin token (kept across runs)
#
# Each certificate names the process (rangekv://pd/N, rangekv://store/N: a store's id comes
# from it) and the names it is dialed at: its service name (its --advertise-host, which
# the others resolve) and localhost/127.0.0.1 (`docker compose exec pd-1 rangekv ...` dials
# 127.0.0.1:2379 inside the container).
#
# A laptop setup: the copies under pd-N/ and store-N/ are world-readable (0644), because the
# containers run as uid 10001 and read them through a bind mount that keeps your uid. The
# CA key stays 0600 in pki/. On a shared host, give the files to uid 10001 instead.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
OUT_DIR=${OUT_DIR:-$here/tls}
PKI_DIR=$OUT_DIR/pki
export PKI_DIR
make_certs="$here/../tls/make-certs.sh"

# The services of docker-compose.yml (deploy/test/deploy.test.mjs checks they match).
PD_IDS="1 2 3"
STORE_IDS="1 2 3"

mkdir -p "$OUT_DIR"
[ -e "$PKI_DIR/ca.key" ] || sh "$make_certs" ca
if [ ! -e "$OUT_DIR/admin-token" ]; then
  (umask 077 && openssl rand -hex 24 > "$OUT_DIR/admin-token")
fi

# service KIND ID: issue the certificate, then lay out the service's directory.
service() {
  name="$1-$2"
  sh "$make_certs" "$1" "$2" "$name" localhost 127.0.0.1
  mkdir -p "$OUT_DIR/$name"
  cp "$PKI_DIR/ca.pem" "$OUT_DIR/$name/ca.pem"
  cp "$PKI_DIR/$name.pem" "$OUT_DIR/$name/node.pem"
  cp "$PKI_DIR/$name.key" "$OUT_DIR/$name/node.key"
  cp "$OUT_DIR/admin-token" "$OUT_DIR/$name/admin-token"
  chmod 0755 "$OUT_DIR/$name"
  chmod 0644 "$OUT_DIR/$name/ca.pem" "$OUT_DIR/$name/node.pem" "$OUT_DIR/$name/node.key" "$OUT_DIR/$name/admin-token"
}

for id in $PD_IDS; do service pd "$id"; done
for id in $STORE_IDS; do service store "$id"; done
cp "$PKI_DIR/ca.pem" "$OUT_DIR/ca.pem"
chmod 0644 "$OUT_DIR/ca.pem"
echo "$OUT_DIR: ca.pem, admin-token, $(cd "$OUT_DIR" && ls -d pd-* store-* | tr '\n' ' ')"
