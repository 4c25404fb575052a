#!/usr/bin/env bash
# Installs what earlyphase needs on Debian 12, and nothing that is already there.
#   - npm packages (npm ci, only when package-lock.json changed since the last install)
#   - the Vulkan loader + Mesa lavapipe from bookworm-backports (bookworm's own Mesa 22.3 is
#     rejected by Dawn: "shaderUniform*ArrayDynamicIndexing required")
#   - Debian chromium (browser tests; its SwiftShader Vulkan ICD is our second CPU adapter)
#   - dataset-fashion-mnist (the embedded default dataset)
#   - redis-server (the job queue of distributed sweeps; its tests start their own server)
#   - python3-torch (PyTorch 1.13.1: the test that our weights load into OpenLTH's models and back)
# Where it cannot install (not root, not Debian) it prints exactly what is missing and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

missing=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
mesa_version() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true; }
# Mesa >= 23 has the descriptor-indexing features Dawn requires; bookworm ships 22.3.
mesa_ok() { local v; v=$(mesa_version); [ -n "$v" ] && dpkg --compare-versions "$v" ge 23; }

command -v dpkg-query >/dev/null 2>&1 || { say "not a Debian system: install by hand a Vulkan loader (libvulkan.so.1), Mesa >= 23 lavapipe, chromium, redis-server, python3 with torch, and run npm ci"; exit 1; }
have_pkg libvulkan1 || missing+=(libvulkan1)
mesa_ok || missing+=("mesa-vulkan-drivers>=23 (bookworm-backports)")
have_pkg chromium || missing+=(chromium)
have_pkg dataset-fashion-mnist || missing+=(dataset-fashion-mnist)
have_pkg redis-server || missing+=(redis-server)
have_pkg python3-torch || missing+=(python3-torch)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing system packages: ${missing[*]}"
    say "run this script as root, or: apt-get install libvulkan1 chromium dataset-fashion-mnist redis-server python3-torch && apt-get install -t bookworm-backports mesa-vulkan-drivers"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # bookworm-backports on the mirror this machine already uses (never a hard-coded host).
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$uri" ] || uri=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$uri" ] || { say "cannot find the Debian mirror in /etc/apt/sources.list{,.d}; add bookworm-backports by hand"; exit 1; }
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    say "adding bookworm-backports from $uri"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: %s\n' "$uri" "$keyring" \
      > /etc/apt/sources.list.d/earlyphase-backports.sources
  fi
  say "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libvulkan1 chromium dataset-fashion-mnist redis-server python3-torch >/dev/null
  mesa_ok || apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers >/dev/null
  mesa_ok || { say "mesa-vulkan-drivers is $(mesa_version), Dawn needs >= 23 from bookworm-backports"; exit 1; }
fi

# npm ci only when the lock file differs from what was installed last time (quick when present).
stamp=node_modules/.earlyphase-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
