#!/bin/sh
# PostgreSQL's first start in the compose stack (/docker-entrypoint-initdb.d): the login role of
# Grafana's datasource, with the generated password. Migration 0006 grants it SELECT on the tables the
# dashboards read, nothing more.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="$(cat /run/secrets/metamon/grafana_db_password)" <<'SQL'
CREATE ROLE metamon_grafana LOGIN PASSWORD :'password';
SQL
