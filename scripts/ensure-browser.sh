#!/usr/bin/env bash
# Installs Debian's chromium and a CJK font for the browser tests, when we can (root + apt).
set -u
if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "WenQuanYi"; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium and fonts-wqy-microhei (apt) for the browser tests…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null) \
    || echo "could not install chromium; browser tests will be skipped"
else
  echo "chromium not found: browser tests will be skipped (install: apt-get install chromium fonts-wqy-microhei)"
fi
exit 0
