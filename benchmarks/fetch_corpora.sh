#!/usr/bin/env bash
# Real text no one on the team wrote, for the data benchmarks: Debian's fortune databases — English
# (`fortunes`: quotations, jokes, definitions) and Chinese (`fortunes-zh`: Tang and Song poems, classical
# sayings, Debian's code of conduct in Chinese) — unpacked into benchmarks/.corpora (git-ignored).
# `apt-get download` needs no root; dpkg -x unpacks without installing.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/.corpora"
mkdir -p "$dir"
cd "$dir"
if [ ! -d x/usr/share/games/fortunes ]; then
  apt-get download fortunes fortunes-zh >/dev/null
  for d in *.deb; do dpkg -x "$d" x; done
fi
echo "$dir/x/usr/share/games/fortunes"
