#!/bin/sh
# Build a Debian trixie root with GIMP 3.0 and its Python 3 plug-in support,
# for the GIMP plug-in's end-to-end test (see /plugin/gimp and tests/gimp_test.ts).
#
#   .ci/gimp-root.sh [ROOT]        ROOT defaults to .gimp-root (git-ignored)
#
# Debian 12 ships only GIMP 2.10 (no Python plug-ins); GIMP 3.0 comes from
# Debian 13 (trixie). Needs root and the `debootstrap` package on the host.
# No mounts are made: an `rm -rf ROOT` must never reach the host's /dev or /proc.
# The build happens in ROOT.partial and is renamed to ROOT only when GIMP 3.0 is
# verified, so a half-built root is never mistaken for a finished one; a failed
# build removes ROOT.partial.
set -eu

ROOT="${1:-.gimp-root}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="gimp python3-gi gir1.2-gimp-3.0 gir1.2-gegl-0.4"

if [ "$(id -u)" != 0 ]; then
  echo "gimp-root.sh: must run as root (debootstrap and chroot)" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "gimp-root.sh: debootstrap missing; installing it with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap >/dev/null
fi

PARTIAL="$ROOT.partial"
LOG="$(mktemp)"
# A failed build leaves nothing behind (the log's tail is printed first).
trap 'rm -rf "$PARTIAL" "$LOG"' EXIT
rm -rf "$PARTIAL"
debootstrap --variant=minbase trixie "$PARTIAL" "$MIRROR" >"$LOG" 2>&1 || {
  tail -n 20 "$LOG" >&2
  exit 1
}
cp /etc/resolv.conf "$PARTIAL/etc/resolv.conf"
chroot "$PARTIAL" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
chroot "$PARTIAL" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends $PACKAGES >>"$LOG" 2>&1 || {
  tail -n 20 "$LOG" >&2
  exit 1
}
chroot "$PARTIAL" apt-get clean

VERSION="$(chroot "$PARTIAL" dpkg-query -W -f '${Version}' gimp)"
case "$VERSION" in
  3.0.*) ;;
  *)
    echo "gimp-root.sh: expected GIMP 3.0.x in trixie, got '$VERSION'" >&2
    exit 1
    ;;
esac
chroot "$PARTIAL" sh -c 'command -v gimp-console-3.0 >/dev/null' || {
  echo "gimp-root.sh: gimp-console-3.0 missing from the root" >&2
  exit 1
}

rm -rf "$ROOT"
mv "$PARTIAL" "$ROOT"
echo "gimp-root.sh: GIMP $VERSION ready in $ROOT"
