#!/usr/bin/env bash
# Installs and starts what the tests and the demo need on a Debian 12 machine; idempotent
# and quiet. Used by .ci/run and by `npm test` / `npm run demo` when something is missing,
# and by `npm run bench` with --bench.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# nginx and apache2: the download probe's tests start their own instances (nginx ignores
# .htaccess, Apache obeys it); php-curl is the probe's HTTP client, as on most CiviCRM hosts.
# php-xml ... php-soap, git, curl: what CiviCRM's installer needs for the real-site tests, whose
# site builds run with apt turned off (CIVI_SKIP_APT: several build at once).
packages=(mariadb-server mariadb-client chromium php-cli php-mysql php-curl phpunit age openssh-server mydumper zstd zip unzip time nginx apache2
  php-xml php-mbstring php-intl php-zip php-gd php-bcmath php-soap git curl)
# `npm run bench` (--bench) also measures against restic, the deduplication yardstick (issue #14).
if [ "${1:-}" = "--bench" ]; then packages+=(restic); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup-system: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup-system: installing ${missing[*]}" >&2
  apt-get update -qq
  # Installing nginx and apache2 must not start them as services (both want port 80, and
  # the tests run their own): a policy-rc.d denies service starts during this install only.
  policy_added=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && policy_added=1
  fi
  status=0
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null || status=$?
  [ -z "$policy_added" ] || rm -f /usr/sbin/policy-rc.d
  [ "$status" = 0 ] || exit "$status"
fi

# MariaDB must answer on 127.0.0.1:3306 as root with an empty password.
if ! mariadb-admin -h127.0.0.1 -uroot ping >/dev/null 2>&1; then
  if ! mariadb-admin ping >/dev/null 2>&1; then
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    for _ in $(seq 1 60); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  mariadb-admin ping >/dev/null
  if ! mariadb -h127.0.0.1 -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    mariadb -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket; FLUSH PRIVILEGES;"
  fi
fi
mariadb -h127.0.0.1 -uroot -e 'SELECT 1' >/dev/null
# sshd (for the SFTP tests) needs its privilege-separation directory; the tests start their own daemon.
mkdir -p /run/sshd
# CiviCRM's detailed logging uses ARCHIVE tables, and the tests' fixtures have one; Debian
# ships the engine as a plugin that is not loaded by default (INSTALL SONAME persists it).
if ! mariadb -h127.0.0.1 -uroot -N -e "SELECT SUPPORT FROM information_schema.ENGINES WHERE ENGINE='ARCHIVE'" | grep -qE 'YES|DEFAULT'; then
  mariadb -h127.0.0.1 -uroot -e "INSTALL SONAME 'ha_archive'"
fi
