#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine with Go installed.
# It installs and starts whatever the tests need, then runs vet and every
# test (unit, conformance, API, end-to-end against the real binary) with
# the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="/usr/local/go/bin:$PATH"
if ! command -v go >/dev/null; then
  echo "test.sh: Go 1.26 is required (expected at /usr/local/go)" >&2
  exit 1
fi

# Debian packages the tests need. The presence core, the embedded default
# and the native backend need none beyond Go and a C toolchain for -race;
# later backends add their servers here (kamailio, prosody, slapd, ...).
need=()
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v git >/dev/null || need+=(git)
# ss (iproute2) drops a live SIP connection in internal/sip/watcher's tests.
command -v ss >/dev/null || need+=(iproute2)
# pgrep (procps) checks that browser tests leave no chromium behind.
command -v pgrep >/dev/null || need+=(procps)
# Kamailio 5.6 for internal/sip/kamailiotest (the tests run their own
# instances on loopback; the system service is not used).
# openssl and keytool (openjdk-17-jre-headless) make the PKCS#12 files
# of internal/certs and the SIP TLS tests.
# Prosody (with prosody-modules for mod_privilege) and ejabberd for the XMPP
# connector's tests.
for pkg in kamailio kamailio-presence-modules kamailio-tls-modules openssl openjdk-17-jre-headless \
  prosody prosody-modules ejabberd slapd ldap-utils chromium; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

echo "== go vet"
go vet ./...

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go test -race"
go test -race -count=1 -timeout 20m ./...
