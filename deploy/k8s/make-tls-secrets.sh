#!/bin/sh
# The Secrets the StatefulSets of deploy/k8s mount, as YAML on stdout: per-pod certificates
# made with ../tls/make-certs.sh, and the admin token.
#
#   deploy/k8s/make-tls-secrets.sh NAMESPACE > rangekv-secrets.yaml
#   kubectl apply -f rangekv-secrets.yaml            # before (or after) kubectl apply -k deploy/k8s
#
#   Secret rangekv-pd-tls       ca.pem, rangekv-pd-N.pem, rangekv-pd-N.key for every PD pod
#   Secret rangekv-store-tls    ca.pem, rangekv-store-N.pem, rangekv-store-N.key for every store pod
#   Secret rangekv-admin-token  token: admin RPCs and PD operators (PD, the stores, rangekv ctl)
#
# Each pod mounts its StatefulSet's Secret and starts with the files named after its pod
# (rangekv-store-2.pem), so every pod of a StatefulSet can read the keys of the others.
# Pod rangekv-pd-N holds rangekv://pd/(N+1), its --id; pod rangekv-store-N holds
# rangekv://store/(N+1), which is that store's id. DNS names: the pod's headless-Service name
# (POD.SERVICE.NAMESPACE.svc, its --advertise-host, and the same under CLUSTER_DOMAIN); PD
# also the client Service's names; every pod localhost and 127.0.0.1 (`kubectl exec ...
# rangekv ctl` dials 127.0.0.1).
#
# Environment: PKI_DIR (default ./pki: the CA, ca.key included, and every certificate; keep
# it, and keep ca.key offline), PD_REPLICAS and STORE_REPLICAS (3; the StatefulSets'
# replicas), CLUSTER_DOMAIN (cluster.local). A CA already in PKI_DIR is used, so running it
# again re-issues the certificates (for more stores, or before they expire) under the same
# CA, and the admin token in PKI_DIR/admin-token is kept. Progress goes to stderr.
set -eu

[ $# -eq 1 ] || { echo "usage: make-tls-secrets.sh NAMESPACE > secrets.yaml" >&2; exit 2; }
ns=$1
case "$ns" in ''|*[!a-z0-9-]*) echo "make-tls-secrets.sh: namespace must be of [a-z0-9-], got '$ns'" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
make_certs="$here/../tls/make-certs.sh"
PKI_DIR=${PKI_DIR:-./pki}
export PKI_DIR
PD_REPLICAS=${PD_REPLICAS:-3}
STORE_REPLICAS=${STORE_REPLICAS:-3}
CLUSTER_DOMAIN=${CLUSTER_DOMAIN:-cluster.local}

# The names of pd-statefulset.yaml, store-statefulset.yaml and client-service.yaml.
PD=rangekv-pd
STORE=rangekv-store
CLIENT=rangekv-client

[ -e "$PKI_DIR/ca.key" ] || sh "$make_certs" ca >&2
if [ ! -e "$PKI_DIR/admin-token" ]; then
  (umask 077 && openssl rand -hex 24 > "$PKI_DIR/admin-token")
fi

b64() { openssl base64 -A < "$1"; }

# secret_head NAME COMPONENT
secret_head() {
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n' "$1" "$ns"
  printf '  labels:\n    app.kubernetes.io/name: rangekv\n    app.kubernetes.io/component: %s\n' "$2"
  printf 'type: Opaque\ndata:\n'
}

# certs KIND STATEFULSET REPLICAS [EXTRA_NAME...]: issue each pod's certificate, then the Secret.
certs() {
  kind=$1 sts=$2 replicas=$3
  shift 3
  i=0
  while [ "$i" -lt "$replicas" ]; do
    pod="$sts-$i"
    sh "$make_certs" "$kind" "$((i + 1))" "$pod.$sts.$ns.svc" "$pod.$sts.$ns.svc.$CLUSTER_DOMAIN" "$@" localhost 127.0.0.1 >&2
    i=$((i + 1))
  done
  secret_head "$sts-tls" "$kind"
  printf '  ca.pem: %s\n' "$(b64 "$PKI_DIR/ca.pem")"
  i=0
  while [ "$i" -lt "$replicas" ]; do
    printf '  %s.pem: %s\n' "$sts-$i" "$(b64 "$PKI_DIR/$kind-$((i + 1)).pem")"
    printf '  %s.key: %s\n' "$sts-$i" "$(b64 "$PKI_DIR/$kind-$((i + 1)).key")"
    i=$((i + 1))
  done
}

certs pd "$PD" "$PD_REPLICAS" "$CLIENT" "$CLIENT.$ns" "$CLIENT.$ns.svc" "$CLIENT.$ns.svc.$CLUSTER_DOMAIN"
certs store "$STORE" "$STORE_REPLICAS"
secret_head rangekv-admin-token admin
printf '  token: %s\n' "$(b64 "$PKI_DIR/admin-token")"
