#!/usr/bin/env bash
# Prepare a machine to build and test the project: Java 17+ and Maven for the
# local Kafka broker, then a virtualenv in .venv with the project and its test
# and dev extras. Safe to run again: it installs only what is missing.
set -euo pipefail

cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

java_major() {
    # `java -version` prints e.g. 'openjdk version "17.0.15"' (or "1.8.0_392" before Java 9).
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\.\{0,1\}\([0-9]*\).*/\1 \2/p' | head -n 1 |
        awk '{ if ($1 == 1) print $2; else print $1 }'
}

missing=()
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then
    missing+=(openjdk-17-jre-headless)
fi
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v make >/dev/null 2>&1 || missing+=(make)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "bootstrap: missing ${missing[*]}; install them (apt-get install ${missing[*]}) and run again" >&2
        exit 1
    fi
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "bootstrap: Python 3.11 or newer is required, $PYTHON is $("$PYTHON" --version 2>&1)" >&2
    exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
echo "bootstrap: ready ($("$VENV/bin/python" --version 2>&1), java $(java_major), $(mvn -v 2>/dev/null | head -n 1 | sed 's/\x1b\[[0-9;]*m//g'))"
