#!/usr/bin/env bash
# The NDVI showcase (examples/eo/ndvi.yaml) as a plain shell script, for
# `heaven-bench --eo`: the same GDAL commands on the same files, the tiles one after
# the other (JOBS=1: every step in sequence) or JOBS at once (xargs -P; the steps that
# the workflow runs in parallel, in parallel here too). The statistics and STAC item
# are the workflow's own Python, extracted from it by the benchmark.
#
#   ndvi-baseline.sh RED NIR TILE JOBS OUT STATS_PY STAC_PY
#
# Writes ndvi.tif, stats.json, quicklook.png and item.json into OUT, and OUT/tiles.seconds:
# the wall time of the tile phase.
set -euo pipefail
red=$(realpath "$1") nir=$(realpath "$2") tile=$3 jobs=$4 out=$5 stats_py=$6 stac_py=$7
mkdir -p "$out/tiles"
cd "$out"
ln -f "$red" red.tif 2>/dev/null || cp "$red" red.tif
ln -f "$nir" nir.tif 2>/dev/null || cp "$nir" nir.tif

# 1. Both grids (in parallel when JOBS > 1, as the workflow's `parallel`).
if [ "$jobs" -gt 1 ]; then
  gdalinfo -json red.tif > red.json & gdalinfo -json nir.tif > nir.json
  wait
else
  gdalinfo -json red.tif > red.json
  gdalinfo -json nir.tif > nir.json
fi
read -r width height < <(gdalinfo red.tif | sed -n 's/^Size is \([0-9]*\), \([0-9]*\)$/\1 \2/p')

# 2. The windows, clamped at the edges.
awk -v tile="$tile" -v width="$width" -v height="$height" 'BEGIN {
  for (y = 0; y < height; y += tile)
    for (x = 0; x < width; x += tile)
      print x, y, (x + tile > width ? width - x : tile), (y + tile > height ? height - y : tile)
}' > windows.txt

# 3. The tiles, each in a directory of its own with the bands linked in.
tile() {
  local d="tiles/$1-$2"
  mkdir -p "$d" && cd "$d"
  ln -f ../../red.tif red.tif && ln -f ../../nir.tif nir.tif
  gdal_translate -q -of VRT -srcwin "$1" "$2" "$3" "$4" red.tif red.vrt &&
    gdal_translate -q -of VRT -srcwin "$1" "$2" "$3" "$4" nir.tif nir.vrt &&
    gdal_calc.py --quiet -A red.vrt -B nir.vrt --outfile="ndvi-$1-$2.tif" \
      --type=Float32 --NoDataValue=-9999 \
      --calc='where(A.astype(float64) + B == 0, -9999, (B.astype(float64) - A) / where(A.astype(float64) + B == 0, 1, A.astype(float64) + B))'
}
export -f tile
start=$(date +%s.%N)
if [ "$jobs" -gt 1 ]; then
  xargs -P "$jobs" -L 1 bash -c 'tile "$@"' tile < windows.txt
else
  while read -r x y w h; do (tile "$x" "$y" "$w" "$h"); done < windows.txt
fi
awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }' > tiles.seconds

# 4. The mosaic, as a COG.
gdalbuildvrt -q mosaic.vrt tiles/*/ndvi-*.tif
gdal_translate -q -of COG -co COMPRESS=DEFLATE -co PREDICTOR=YES mosaic.vrt ndvi.tif

# 5. Statistics and quicklook; 6. the STAC item.
quicklook() {
  printf '%s\n' '-1 120 60 20' '-0.2 190 150 90' '0 245 240 200' '0.2 190 220 120' \
    '0.4 100 180 70' '0.7 20 120 40' '1 0 70 30' 'nv 0 0 0 0' > ramp.txt &&
    gdaldem color-relief -q -alpha -of VRT ndvi.tif ramp.txt colour.vrt &&
    gdal_translate -q -of PNG -r average -outsize "$((width < 1024 ? width : 1024))" 0 colour.vrt quicklook.png
}
if [ "$jobs" -gt 1 ]; then
  /usr/bin/python3 -c "$(cat "$stats_py")" ndvi.tif > /dev/null & quicklook
  wait
else
  /usr/bin/python3 -c "$(cat "$stats_py")" ndvi.tif > /dev/null
  quicklook
fi
/usr/bin/python3 -c "$(cat "$stac_py")" ndvi.tif stats.json red.tif ''
