#!/usr/bin/env bash
# The offline dependency bundle (.deps/) for a host with no package access (a GPU box): the shared
# pack script, plus what this project needs beyond it: stb_truetype.h and stb_image.h (text in
# pictures, reading sample grids back for progress.gif) and DejaVu Sans (fonts/, found there
# through GAN_FONT when the host has no fonts-dejavu-core).
#   bash scripts/pack_deps.sh      # from the project root; then carry .deps along
set -euo pipefail
cd "$(dirname "$0")/.."
bash ../shared/offline-build/pack.sh
bash scripts/install_deps.sh
cp /usr/include/stb/stb_truetype.h /usr/include/stb/stb_image.h .deps/include/stb/
mkdir -p .deps/fonts
cp /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf .deps/fonts/
echo "added stb_truetype.h, stb_image.h and fonts/DejaVuSans.ttf to .deps"
