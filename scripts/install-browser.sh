#!/usr/bin/env bash
# Debian's headless browser for the sync-health page's browser test
# (target-paypal/tests/test_report_browser.py).
# Installs `chromium` and `chromium-driver` with apt-get when they are missing; does nothing when
# they are present. Without root or apt-get it says what to install and exits 0: the browser test
# then skips with the same advice (CI runs as root, so it runs there).
set -euo pipefail

packages=(chromium chromium-driver fonts-dejavu-core)
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# A font, so that the screenshot shows text (chromium only recommends one).
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: ${missing[*]} not installed and this is not root on Debian:" \
        "run 'sudo apt-get install ${packages[*]}' for the browser test (it skips until then)." >&2
    exit 0
fi
echo "install-browser: apt-get install ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
chromium --version >&2
