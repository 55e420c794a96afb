#!/bin/bash
# Entry point of the ferrofs image: `meta`, `data`, `client` (FUSE mount) or `health`.
#
# Every container shares the `certs` volume. The first one to start creates the cluster CA
# there; each then issues its own certificate (named after FERROFS_NAME) once, and writes
# its config from the environment:
#   FERROFS_NAME      service name, also the address others reach it by (meta-1, data-2, ...)
#   FERROFS_NODE_ID   unique, never reused (meta: 1, 2, 3; data: 101, 102, ...)
#   FERROFS_VOTERS    initial voters, "1=meta-1,2=meta-2,3=meta-3"
#   FERROFS_META      metadata servers for data servers and clients, "meta-1,meta-2,meta-3"
# Every container also gets /etc/ferrofs/client.toml (FERROFS_CONFIG) so `ferrofs status`
# and the other CLI commands work in any of them.
set -euo pipefail

META_PORT=7000
DATA_PORT=7100
METRICS_PORT=9100
CERTS=/certs
CONF=/etc/ferrofs
MNT="${FERROFS_MOUNT:-/mnt/ferrofs}"

die() {
  echo "ferrofs-entrypoint: $*" >&2
  exit 1
}

# HTTP GET /healthz on this container's metrics port (no curl in the image).
health() {
  exec 3<>"/dev/tcp/127.0.0.1/$METRICS_PORT" || exit 1
  printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
  timeout 5 grep -q '^ok' <&3
}

certificates() {
  local name="$1"
  mkdir -p "$CERTS"
  exec 9>"$CERTS/.lock"
  flock 9
  [[ -f "$CERTS/ca/ca.pem" ]] || ferrofs cert init --dir "$CERTS/ca" >/dev/null
  [[ -f "$CERTS/$name/$name.pem" ]] || ferrofs cert issue --ca "$CERTS/ca" --name "$name" --out "$CERTS/$name" >/dev/null
  [[ -f "$CERTS/client/client.pem" ]] || ferrofs cert issue --ca "$CERTS/ca" --name client --out "$CERTS/client" >/dev/null
  flock -u 9
  exec 9>&-
}

tls_line() {
  local name="$1"
  echo "tls = { ca_cert = \"$CERTS/$name/ca.pem\", cert = \"$CERTS/$name/$name.pem\", key = \"$CERTS/$name/$name.key\" }"
}

# "meta-1,meta-2" -> "meta-1:7000", "meta-2:7000" (TOML array items)
meta_list() {
  local out="" m
  IFS=, read -ra ms <<<"${FERROFS_META:?set FERROFS_META, e.g. meta-1,meta-2,meta-3}"
  for m in "${ms[@]}"; do out+="${out:+, }\"$m:$META_PORT\""; done
  echo "$out"
}

write_client_config() {
  mkdir -p "$CONF"
  cat >"$CONF/client.toml.tmp" <<TOML
# Written by the ferrofs image's entrypoint.
meta_addrs = [$(meta_list)]
$(tls_line client)
request_timeout = "${FERROFS_REQUEST_TIMEOUT:-10s}"
failover_timeout = "${FERROFS_FAILOVER_TIMEOUT:-30s}"
TOML
  mv "$CONF/client.toml.tmp" "$CONF/client.toml"
}

run_meta() {
  local name="${FERROFS_NAME:?}" id="${FERROFS_NODE_ID:?}" voters="" v
  IFS=, read -ra vs <<<"${FERROFS_VOTERS:?set FERROFS_VOTERS, e.g. 1=meta-1,2=meta-2,3=meta-3}"
  for v in "${vs[@]}"; do voters+="${voters:+, }{ id = ${v%%=*}, addr = \"${v#*=}:$META_PORT\" }"; done
  certificates "$name"
  write_client_config
  cat >"$CONF/meta.toml" <<TOML
# Written by the ferrofs image's entrypoint.
node_id = $id
listen = "0.0.0.0:$META_PORT"
advertise_addr = "$name:$META_PORT"
data_dir = "/var/lib/ferrofs"
initial_voters = [$voters]
$(tls_line "$name")
metrics_addr = "0.0.0.0:$METRICS_PORT"

[cluster]
replication = ${FERROFS_REPLICATION:-3}
suspect_after = "${FERROFS_SUSPECT_AFTER:-4s}"
down_after = "${FERROFS_DOWN_AFTER:-10m}"
TOML
  exec ferrofs-meta --config "$CONF/meta.toml" "$@"
}

run_data() {
  local name="${FERROFS_NAME:?}" id="${FERROFS_NODE_ID:?}"
  certificates "$name"
  write_client_config
  cat >"$CONF/data.toml" <<TOML
# Written by the ferrofs image's entrypoint.
node_id = $id
listen = "0.0.0.0:$DATA_PORT"
advertise_addr = "$name:$DATA_PORT"
data_dir = "/var/lib/ferrofs"
meta_addrs = [$(meta_list)]
$(tls_line "$name")
zone = "${FERROFS_ZONE:-}"
metrics_addr = "0.0.0.0:$METRICS_PORT"
TOML
  exec ferrofs-data --config "$CONF/data.toml" "$@"
}

run_client() {
  certificates client
  write_client_config
  mkdir -p "$MNT"
  # A mount left over from a killed container makes the folder unusable: clear it first.
  ferrofs umount "$MNT" >/dev/null 2>&1 || true
  exec ferrofs mount --allow-other "$MNT" "$@"
}

role="${1:-}"
[[ $# -gt 0 ]] && shift
case "$role" in
  meta) run_meta "$@" ;;
  data) run_data "$@" ;;
  client) run_client "$@" ;;
  health) health ;;
  *) die "usage: ferrofs-entrypoint meta|data|client|health (got '${role}')" ;;
esac
