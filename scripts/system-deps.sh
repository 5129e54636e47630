#!/usr/bin/env bash
# Installs the Debian packages the test suite drives: headless Chromium (console browser test),
# Pango for WeasyPrint (report PDFs) and poppler-utils' pdftoppm (report PDF pages as PNG).
# Idempotent; needs root (CI runs as root). Prints what it does, in one line each.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/pdftoppm ] || missing+=(poppler-utils)
ldconfig -p | grep libpangoft2-1.0.so.0 >/dev/null || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "system-deps: need ${missing[*]}; run 'sudo apt-get install -y ${missing[*]}'" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]} (apt-get)" >&2
apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends "${missing[@]}" >/dev/null
