#!/usr/bin/env bash
# Validates JUnit files against the JUnit schema CI servers use (Jenkins' junit-10.xsd, which
# pytest's source distribution carries for its own tests), with the xmlschema package.
# usage: scripts/validate-junit.sh FILE.xml...
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: pytest==8.3.3 -d "$tmp"
tar xzf "$tmp/pytest-8.3.3.tar.gz" -C "$tmp" pytest-8.3.3/testing/example_scripts/junit-10.xsd
xsd="$tmp/pytest-8.3.3/testing/example_scripts/junit-10.xsd"
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check xmlschema
for f in "$@"; do
  "$tmp/venv/bin/python" -c 'import sys, xmlschema; xmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2]); print("valid against junit-10.xsd:", sys.argv[2])' "$xsd" "$f"
done
