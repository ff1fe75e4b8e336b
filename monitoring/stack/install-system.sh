#!/usr/bin/env bash
# Installs the Debian packages the local stack runs on, only those missing.
# Services the packages would start by themselves are held back with policy-rc.d:
# metamon runs them under supervisor with the repository's own configs and data dirs.
set -euo pipefail

need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for pkg in postgresql-15 prometheus prometheus-alertmanager haproxy openjdk-17-jre-headless maven unzip; do
  have "$pkg" || need+=("$pkg")
done
# Debian's own python3 needs python3-venv for `python3 -m venv`.
python3 -c "import ensurepip" 2>/dev/null || need+=(python3-venv)
[ ${#need[@]} -eq 0 ] && { echo "system packages: all present"; exit 0; }

if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]}; run 'sudo make install' or install them yourself" >&2
  exit 1
fi

echo "installing Debian packages: ${need[*]}"
# Do not create or start the system PostgreSQL cluster: the stack keeps its own under .stack/.
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/metamon.conf
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "system packages installed"
