#!/bin/sh
# A small private CA for a rangekv cluster, with the openssl command line.
#
#   make-certs.sh ca                                  # $PKI_DIR/ca.pem, ca.key (keep ca.key offline)
#   make-certs.sh pd 1 pd-1.internal 10.0.0.11        # $PKI_DIR/pd-1.pem, pd-1.key: rangekv://pd/1
#   make-certs.sh store 3 store-3.internal 10.0.0.23  # store-3.pem/.key: rangekv://store/3
#   make-certs.sh admin ops                           # admin-ops.pem/.key: rangekv://admin/ops
#   make-certs.sh client billing                      # client-billing.pem/.key: rangekv://client/billing
#
# Every name after the id is a DNS name or an IP address the process is reached at (its
# --advertise-host, and whatever else clients dial); add localhost/127.0.0.1 for local
# tools. PKI_DIR (default ./pki), CA_DAYS (3650), CERT_DAYS (365). Keys are EC P-256,
# written with mode 600. Re-issuing a certificate overwrites it: the process picks it up on
# SIGHUP or within --tls-reload-check-ms.
set -eu

PKI_DIR=${PKI_DIR:-./pki}
CA_DAYS=${CA_DAYS:-3650}
CERT_DAYS=${CERT_DAYS:-365}

die() { echo "make-certs.sh: $*" >&2; exit 2; }

ca() {
  mkdir -p "$PKI_DIR"
  [ -e "$PKI_DIR/ca.key" ] && die "$PKI_DIR/ca.key exists; remove it to make a new CA (every certificate must then be re-issued)"
  (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$PKI_DIR/ca.key" -out "$PKI_DIR/ca.pem" -days "$CA_DAYS" -subj "/CN=rangekv cluster CA" 2>/dev/null)
  chmod 644 "$PKI_DIR/ca.pem"
  echo "$PKI_DIR/ca.pem"
}

# issue FILE_NAME URI [NAME...]
issue() {
  file=$1 uri=$2
  shift 2
  [ -e "$PKI_DIR/ca.key" ] || die "no CA in $PKI_DIR: run make-certs.sh ca first"
  sans="URI:$uri"
  for n in "$@"; do
    case "$n" in
      *[!0-9.]*) case "$n" in *:*) sans="$sans,IP:$n" ;; *) sans="$sans,DNS:$n" ;; esac ;;
      *) sans="$sans,IP:$n" ;;
    esac
  done
  ext=$(mktemp)
  trap 'rm -f "$ext" "$PKI_DIR/$file.csr"' EXIT
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n' "$sans" > "$ext"
  (umask 077 && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI_DIR/$file.key" \
    -out "$PKI_DIR/$file.csr" -subj "/CN=$file" 2>/dev/null)
  openssl x509 -req -in "$PKI_DIR/$file.csr" -CA "$PKI_DIR/ca.pem" -CAkey "$PKI_DIR/ca.key" -CAcreateserial \
    -out "$PKI_DIR/$file.pem" -days "$CERT_DAYS" -extfile "$ext" 2>/dev/null
  chmod 644 "$PKI_DIR/$file.pem"
  echo "$PKI_DIR/$file.pem ($sans)"
}

id_ok() { case "$1" in ''|0*|*[!0-9]*) die "$2 id must be a positive integer, got '$1'" ;; esac; }
name_ok() { case "$1" in ''|*[!A-Za-z0-9._-]*) die "name must be 1-64 of [A-Za-z0-9._-], got '$1'" ;; esac; }

[ $# -ge 1 ] || die "usage: make-certs.sh ca | pd ID NAME.. | store ID NAME.. | admin NAME | client NAME"
cmd=$1
shift
case "$cmd" in
  ca) ca ;;
  pd) id_ok "${1:-}" pd; id=$1; shift; issue "pd-$id" "rangekv://pd/$id" "$@" ;;
  store) id_ok "${1:-}" store; id=$1; shift; issue "store-$id" "rangekv://store/$id" "$@" ;;
  admin) name_ok "${1:-}"; issue "admin-$1" "rangekv://admin/$1" ;;
  client) name_ok "${1:-}"; issue "client-$1" "rangekv://client/$1" ;;
  *) die "unknown command '$cmd' (ca, pd, store, admin, client)" ;;
esac
