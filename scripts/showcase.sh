#!/usr/bin/env bash
# Heaven's main job on its embedded defaults (SQLite state, this machine as the only
# site): the NDVI of a real Landsat-8 scene, tile by tile, with GDAL's own tools
# (examples/eo/ndvi.yaml), delivered into results/ndvi as a Cloud-Optimized GeoTIFF
# (ndvi.tif), its statistics (stats.json), a quicklook (quicklook.png) and a STAC
# item (item.json).
#
# Installs GDAL's tools (gdal-bin, python3-gdal) and Pillow (python3-pil, which draws the
# quicklook's legend) with apt-get when they are missing and this runs as root (unless HEAVEN_NO_INSTALL is set); otherwise says the one line
# that installs them. Builds Heaven (the first build takes a few minutes; HEAVEN names
# a heaven binary to use instead), then runs the workflow.
#
# Usage: scripts/showcase.sh [--input tile=128] [--out DIR] [other `heaven run` options]
#   e.g. scripts/showcase.sh --input red=B04.tif --input nir=B08.tif --out results/mine
set -euo pipefail
cd "$(dirname "$0")/.."

gdal_ready() {
  command -v gdalinfo >/dev/null && command -v gdal_calc.py >/dev/null \
    && /usr/bin/python3 -c 'from osgeo import gdal; import PIL' 2>/dev/null
}
if ! gdal_ready; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null && [ -z "${HEAVEN_NO_INSTALL:-}" ]; then
    echo "installing GDAL's tools and Pillow: gdal-bin python3-gdal python3-pil (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gdal-bin python3-gdal python3-pil >/dev/null
  else
    echo "The NDVI showcase runs GDAL's tools and Pillow, which are not installed. Install them with:" >&2
    echo "  sudo apt-get install -y gdal-bin python3-gdal python3-pil" >&2
    exit 2
  fi
fi

# HEAVEN: a heaven binary already built (the tests use theirs).
heaven=${HEAVEN:-}
if [ -z "$heaven" ]; then
  # Every product, as scripts/test.sh builds them (it adds the tests): one build serves
  # both scripts, so neither undoes the other's (a `--product` build, a subset of the
  # package, would recompile Hummingbird each time the two alternate).
  swift build >&2
  heaven=$(swift build --show-bin-path)/heaven
fi

inputs=(--input red=examples/eo/data/landsat8/l8_B4.tif --input nir=examples/eo/data/landsat8/l8_B5.tif)
out=(--out results/ndvi)
for a in "$@"; do
  case $a in
    red=* | --input=red=*) inputs=() ;;
    --out | --out=*) out=() ;;
  esac
done
exec "$heaven" run --local examples/eo/ndvi.yaml "${inputs[@]}" "${out[@]}" "$@"
