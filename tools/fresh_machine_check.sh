#!/usr/bin/env bash
# Meets moegrad the way a newcomer does: a fresh Debian 12 root (debootstrap --variant=minbase
# bookworm) in a folder, with only git and make added, then `git clone`, `make demo`, `make test`,
# exactly as the README says. Too slow for every CI run (about 40 s for the root, then the whole
# dependency install and build from nothing); run it before a release or after touching the
# Makefile or tools/install_deps.sh. Needs root and Debian's network mirror.
# Usage: sudo tools/fresh_machine_check.sh [FOLDER]   (default /tmp/moegrad-fresh; emptied first)
# It clones the committed HEAD of this checkout: commit first.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${1:-/tmp/moegrad-fresh}"
if [ "$(id -u)" -ne 0 ]; then
  echo "fresh_machine_check: needs root (debootstrap, mount, chroot): sudo $0 $*" >&2
  exit 1
fi

mounted=()
unmount_all() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
}
trap unmount_all EXIT
bind() {  # bind SOURCE TARGET (read-only when a third argument says ro)
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounted+=("$2")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}
step() { echo; echo "==== fresh_machine_check: $*"; }

step "debootstrap --variant=minbase bookworm into $root"
if ! command -v debootstrap >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
if mountpoint -q "$root/proc" 2>/dev/null; then umount -l "$root/proc"; fi
rm -rf --one-file-system "$root"
mirror=http://deb.debian.org/debian
start=$SECONDS
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
  { tail -n 20 "$root.debootstrap.log"; echo "fresh_machine_check: FAILED: debootstrap" >&2; exit 1; }
echo "root made in $((SECONDS - start)) s"

# This machine's network setup, so the root reaches the same mirrors: DNS, the CA bundle (a proxy
# may re-sign TLS), pip's configuration and apt's sources. Nothing of moegrad's is copied in.
cp /etc/resolv.conf "$root/etc/resolv.conf"
# The bundle goes in twice: as the bundle itself, and as a local certificate, so that when make's
# apt-get installs ca-certificates and it rebuilds the bundle, this machine's CAs stay in it.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$root/etc/ssl/certs" "$root/usr/local/share/ca-certificates"
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  cp /etc/ssl/certs/ca-certificates.crt "$root/usr/local/share/ca-certificates/this-machine.crt"
fi
for pip_config in /etc/pip.conf /etc/xdg/pip/pip.conf "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf"; do
  if [ -f "$pip_config" ]; then mkdir -p "$root$(dirname "$pip_config")" && cp "$pip_config" "$root$pip_config"; fi
done
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/" && rm -f "$root/etc/apt/sources.list"
fi

bind /proc "$root/proc"
bind /dev "$root/dev"
bind /dev/pts "$root/dev/pts"
# The "remote" a newcomer clones: a bare copy of this checkout's committed branch (a worktree's .git
# points outside the root, so the folder itself cannot be cloned from inside).
branch=$(git -C "$repo" rev-parse --abbrev-ref HEAD)
git clone -q --bare --branch "$branch" "$repo" "$root/srv/moegrad.git"
in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  ${PIP_CERT:+PIP_CERT=$PIP_CERT} bash -c "$1"; }

step "the README's bootstrap line: apt-get update && apt-get install -y git make"
in_root "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git make >/dev/null && git --version && make --version | head -n 1"

step "git clone (branch $branch of $repo)"
in_root "git clone -q /srv/moegrad.git /root/moegrad && git -C /root/moegrad log --oneline -1"

results=()
for command in "make demo" "make test"; do
  step "$command (the first command on this machine: it installs what it needs)"
  start=$SECONDS
  log="$root/root/$(echo "$command" | tr ' ' _).log"
  if in_root "cd /root/moegrad && $command" >"$log" 2>&1; then outcome=passed; else outcome=FAILED; fi
  tail -n 25 "$log"
  results+=("$command: $outcome in $((SECONDS - start)) s (log: $log)")
done

step "results"
printf '%s\n' "${results[@]}"
printf '%s\n' "${results[@]}" | grep -q FAILED && exit 1
echo "fresh_machine_check: both README commands work on a fresh Debian 12 root"
