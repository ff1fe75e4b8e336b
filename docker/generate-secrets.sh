#!/bin/sh
# First start of the compose stack: a random value for each secret, one file per setting, in DIR.
# Files that exist are kept, so restarts and upgrades keep their passwords. They are world-readable
# inside the volume, which only the stack's own containers mount (PostgreSQL, Grafana and metamon run
# as different users).
set -eu
dir="${1:?usage: generate-secrets.sh DIR}"
mkdir -p "$dir"
for name in postgres_password alert_webhook_token grafana_db_password grafana_admin_password; do
  if [ ! -s "$dir/$name" ]; then
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/$name.tmp"
    chmod 0444 "$dir/$name.tmp"
    mv "$dir/$name.tmp" "$dir/$name"
    echo "generated $name"
  fi
done
