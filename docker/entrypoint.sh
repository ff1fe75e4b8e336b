#!/bin/sh
# The metamon image's entrypoint. Each file in the secrets directory (written on the stack's first start
# by generate-secrets.sh) sets the METAMON_* setting it is named after, e.g. postgres_password sets
# METAMON_POSTGRES_PASSWORD; then the command runs. Secrets never sit in the compose file or the image.
set -eu
dir="${METAMON_SECRETS_DIR:-/run/secrets/metamon}"
if [ -d "$dir" ]; then
  for file in "$dir"/*; do
    [ -f "$file" ] || continue
    name=$(basename "$file" | tr '[:lower:]' '[:upper:]')
    export "METAMON_$name=$(cat "$file")"
  done
fi
exec "$@"
