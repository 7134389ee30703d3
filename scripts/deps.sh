#!/usr/bin/env bash
# Installs the Debian packages cuntu needs, if any is missing, and nothing else.
# PostgreSQL 15 + PostGIS 3 (the private cluster), GDAL (reading map files), Chromium and a
# CJK font (browser tests), poppler-utils (pdftoppm: the browser test renders the printed PDF),
# Node.js (the web build).
set -euo pipefail

packages=(postgresql-15 postgresql-15-postgis-3 libgdal-dev gdal-bin pkg-config
          chromium fonts-wqy-microhei poppler-utils nodejs npm)
missing=()
for p in "${packages[@]}"; do
  # nodejs/npm may come from elsewhere than Debian (the machine image); a working binary is enough.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing missing packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
