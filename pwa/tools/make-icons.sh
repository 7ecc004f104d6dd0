#!/bin/sh
# Render pwa/icons/icon.svg to the PNG sizes the manifest lists, with Debian's Chromium.
# Run from the project root after editing the SVG: sh pwa/tools/make-icons.sh
set -eu
svg=$(tr -d '\n' < pwa/icons/icon.svg | sed 's/#/%23/g')
for s in 192 512; do
  page="data:text/html,<style>html,body{margin:0;background:transparent}svg{width:${s}px;height:${s}px;display:block}</style>${svg}"
  chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
    --default-background-color=00000000 --window-size=$s,$s \
    --screenshot="pwa/icons/icon-$s.png" "$page" 2>/dev/null
done
