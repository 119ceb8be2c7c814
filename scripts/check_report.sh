#!/usr/bin/env bash
# Renders a demo report in headless Chromium and checks the screenshot is not blank.
# Usage: scripts/check_report.sh REPORT_DIR [SCREENSHOT.png]
set -euo pipefail
dir=${1:?usage: check_report.sh REPORT_DIR [SCREENSHOT.png]}
shot=${2:-$dir/screenshot.png}
[ -f "$dir/index.html" ] || { echo "no $dir/index.html" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
  browser=$(command -v chromium)
fi
url="file://$(cd "$dir" && pwd)/index.html"
rm -f "$shot"
timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1200,3000 --screenshot="$shot" "$url" 2>/dev/null || true
[ -s "$shot" ] || { echo "chromium wrote no screenshot" >&2; exit 1; }
python3 "$(dirname "$0")/png_not_blank.py" "$shot"
