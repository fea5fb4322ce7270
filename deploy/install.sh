#!/usr/bin/env bash
# Install shadowtap as a service, by the book: the service user, the binary, the systemd units,
# the configuration, the API token and site secret, key ownership, man pages and completions.
#
#   sudo deploy/install.sh [--binary PATH] [--user NAME] [--root DIR] [--no-systemd]
#
# --binary  the shadowtap binary to install (default: target/release/shadowtap of this checkout,
#           else the one on PATH)
# --user    service user and group (default: shadowtap), created as a system user if missing
# --root    install under DIR instead of / (a staging tree or an image; the user is still
#           created on this machine, since file ownership needs it)
# --no-systemd  do not run `systemctl daemon-reload`
#
# Safe to run again: the configuration, token and site secret are never overwritten, only their
# ownership and modes are set again. Keys under /etc/shadowtap/pki become readable by the service
# user only (0600); a CA key found there is left root-only and reported, since it belongs offline.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
binary=""
user="shadowtap"
root="/"
systemd=1
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --user) user="$2"; shift 2 ;;
    --root) root="$2"; shift 2 ;;
    --no-systemd) systemd=0; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (it creates the service user and sets file owners): sudo $0 $*" >&2
  exit 1
fi
if [ -z "$binary" ]; then
  if [ -x "$here/../target/release/shadowtap" ]; then
    binary="$here/../target/release/shadowtap"
  elif command -v shadowtap >/dev/null; then
    binary="$(command -v shadowtap)"
  else
    echo "install.sh: no shadowtap binary: build it (cargo build --release) or pass --binary PATH" >&2
    exit 1
  fi
fi
if ! "$binary" --version >/dev/null 2>&1; then
  echo "install.sh: $binary does not run as a shadowtap binary" >&2
  exit 1
fi

p() { printf '%s%s' "${root%/}" "$1"; }

# The service user: no login, no home outside its state directory.
if ! getent group "$user" >/dev/null; then
  groupadd --system "$user"
fi
if ! id -u "$user" >/dev/null 2>&1; then
  useradd --system --gid "$user" --home-dir /var/lib/shadowtap --no-create-home \
    --shell /usr/sbin/nologin --comment "shadowtap service" "$user"
  echo "created system user $user"
fi

install -d -m 0755 "$(p /usr/local/bin)" "$(p /etc/systemd/system)"
install -m 0755 -o root -g root "$binary" "$(p /usr/local/bin/shadowtap)"

# Configuration: readable by the service, writable by root only.
install -d -m 0750 -o root -g "$user" "$(p /etc/shadowtap)" "$(p /etc/shadowtap/pki)" \
  "$(p /etc/shadowtap/catalog)"
install -d -m 0750 -o "$user" -g "$user" "$(p /var/lib/shadowtap)"
if [ ! -e "$(p /etc/shadowtap/shadowtap.toml)" ]; then
  install -m 0640 -o root -g "$user" "$here/shadowtap.toml" "$(p /etc/shadowtap/shadowtap.toml)"
else
  chown root:"$user" "$(p /etc/shadowtap/shadowtap.toml)"
  chmod 0640 "$(p /etc/shadowtap/shadowtap.toml)"
fi

# Units, with the service user named.
for unit in shadowtap-agent.service shadowtap-collector.service; do
  sed -e "s/^User=.*/User=$user/" -e "s/^Group=.*/Group=$user/" "$here/systemd/$unit" \
    > "$(p /etc/systemd/system/$unit).tmp"
  chmod 0644 "$(p /etc/systemd/system/$unit).tmp"
  mv "$(p /etc/systemd/system/$unit).tmp" "$(p /etc/systemd/system/$unit)"
done

# Secrets are created under umask 077, so they are never readable by others, not even briefly.
umask 077
token="$(p /etc/shadowtap/api-token)"
if [ ! -e "$token" ]; then
  head -c 32 /dev/urandom | base64 > "$token"
  echo "created the API token $token (the dashboard's sign-in and report --collector's --token-file)"
fi
# The collector reads it as the service user; nobody else may.
chown "$user:$user" "$token"
chmod 0600 "$token"
secret="$(p /etc/shadowtap/site-secret.env)"
if [ ! -e "$secret" ]; then
  printf 'SHADOWTAP_SITE_SECRET=%s\n' "$(head -c 32 /dev/urandom | base64 | tr -d '/+=')" > "$secret"
  echo "created the site secret $secret: copy the same file to every agent of this site"
fi
# systemd reads EnvironmentFile= as root before dropping privileges.
chown root:root "$secret"
chmod 0600 "$secret"

# Keys: the service reads its own key; the CA key does not belong on a sensor or collector.
while IFS= read -r -d '' key; do
  if [ "$(basename "$key")" = "ca.key" ]; then
    chown root:root "$key"
    chmod 0600 "$key"
    echo "warning: $key is the CA's signing key: move it offline (left root-only here)" >&2
  else
    chown "$user:$user" "$key"
    chmod 0600 "$key"
  fi
done < <(find "$(p /etc/shadowtap/pki)" -type f -name '*.key' -print0)
umask 022

"$(p /usr/local/bin/shadowtap)" man "$(p /usr/local/share/man/man1)" >/dev/null
install -d -m 0755 "$(p /usr/share/bash-completion/completions)"
"$(p /usr/local/bin/shadowtap)" completions bash > "$(p /usr/share/bash-completion/completions/shadowtap)"

if [ "$systemd" = 1 ] && [ "$root" = "/" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
echo "installed $("$(p /usr/local/bin/shadowtap)" --version) for user $user under $root"
echo "next: certificates in /etc/shadowtap/pki (shadowtap pki init / pki add-agent), then"
echo "      systemctl enable --now shadowtap-collector   # or shadowtap-agent on a sensor"
