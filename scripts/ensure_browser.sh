#!/bin/sh
# `make test` runs this first. The browser tests need Debian's Chromium and a CJK font
# (fonts-wqy-microhei, so Chinese pages render and fit). When both are present this is a
# no-op (two file checks). When one is missing it installs them with apt-get if it can
# (root, or sudo without a password), and otherwise stops at once with the one command to
# run — instead of a page of failed browser tests. `make test-quick` skips the browser.
CHROMIUM="${SHEQU_CHROMIUM:-/usr/bin/chromium}"
FONT="${SHEQU_CJK_FONT:-/usr/share/fonts/truetype/wqy/wqy-microhei.ttc}"

need=""
[ -x "$CHROMIUM" ] || need="chromium"
[ -e "$FONT" ] || need="$need fonts-wqy-microhei"
need="${need# }"
[ -z "$need" ] && exit 0

command="sudo apt-get install -y $need"
stop() {
    echo "make test: the browser tests need $need, which $1." >&2
    echo "Run this once, then make test again:" >&2
    echo "" >&2
    echo "    $command" >&2
    echo "" >&2
    echo "(or make test-quick: every test but the browser ones)" >&2
    exit 2
}

if [ "$(id -u)" = "0" ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    as_root="sudo -n"
else
    stop "is not installed (and this needs root)"
fi
command -v apt-get >/dev/null 2>&1 || stop "is not installed (and there is no apt-get here)"

echo "make test: installing $need for the browser tests (apt-get)..."
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # $need is a list of package names
if ! { $as_root apt-get update -q >/dev/null && $as_root apt-get install -y -q $need; }; then
    stop "could not be installed automatically"
fi
