#!/usr/bin/env bash
# helm for `helm lint` / `helm template` in the tests: built from the Go module proxy (no binary download).
set -euo pipefail
VERSION=v3.22.0
bin="$(go env GOPATH)/bin/helm"
if [ -x "$bin" ] && "$bin" version --short 2>/dev/null | grep -q "^${VERSION%.*}"; then
  echo "helm ${VERSION}: present"; exit 0
fi
command -v go >/dev/null || { echo "helm needs Go to build it (Debian package golang)" >&2; exit 1; }
echo "building helm ${VERSION} with go (a few minutes the first time)"
go install "helm.sh/helm/v3/cmd/helm@${VERSION}"
"$bin" version --short
