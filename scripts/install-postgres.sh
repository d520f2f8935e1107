#!/usr/bin/env bash
# Debian's PostgreSQL server binaries, for the tests that run the store on PostgreSQL (the
# `postgres_server` pytest fixture starts a throwaway cluster of its own from them; no system
# service is used or started).
# Installs `postgresql` with apt-get when no /usr/lib/postgresql/<version>/bin/initdb is there;
# does nothing when one is. Without root or apt-get it says what to install and exits 0: the
# PostgreSQL tests then FAIL with the same advice (they never skip: CI runs as root and has it).
set -euo pipefail

installed() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
        && compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null
}

if installed; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-postgres: PostgreSQL's server is not installed and this is not root on Debian:" \
        "run 'sudo apt-get install postgresql' (the PostgreSQL tests fail until then)." >&2
    exit 0
fi
echo "install-postgres: apt-get install postgresql" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
installed || { echo "install-postgres: postgresql installed but no initdb found" >&2; exit 1; }
ls -d /usr/lib/postgresql/*/bin/initdb >&2
