"""Checks the showcase's quicklook against its statistics.

    check_quicklook.py QUICKLOOK_PNG STATS_JSON NDVI_TIF

Exits 1, saying why, unless the picture is the NDVI stretched to the scene's own range
(its 2nd to 98th percentile): both ends of the brown-to-green ramp well represented
(at least 1 % of the pixels each near the brown and near the green end, as a 2-98 %
stretch gives; NDVI's whole range mapped onto the ramp gives one flat colour), the
pixels of no data grey, and a legend strip beneath the picture.
"""
import json
import sys

import numpy
from osgeo import gdal
from PIL import Image

png, stats_file, ndvi = sys.argv[1:4]
with open(stats_file) as f:
    stats = json.load(f)
problems = []
if not (stats.get("p2") is not None and stats.get("p98") is not None and stats["p2"] < stats["p98"]):
    problems.append("stats.json has no 2nd and 98th percentiles: %s" % stats)
image = numpy.asarray(Image.open(png).convert("RGB")).astype(int)
scene = gdal.Open(ndvi)
width = min(1024, scene.RasterXSize)
height = round(scene.RasterYSize * width / scene.RasterXSize)
if image.shape[0] < height + 40:
    problems.append("no legend beneath the picture: %s for a %dx%d picture" % (image.shape, width, height))
left = (image.shape[1] - width) // 2
picture = image[:height, left:left + width]
brown = [140, 81, 10]
green = [26, 120, 50]
def near(colour):
    return (numpy.abs(picture - colour).sum(axis=-1) < 90).mean()
if near(brown) < 0.01 or near(green) < 0.01:
    problems.append("not stretched: %.1f %% of the pixels near the ramp's brown end, %.1f %% near its green end"
                    % (100 * near(brown), 100 * near(green)))
# The legend strip: the ramp's two ends, side by side in one row.
strip = image[height:]
if not ((numpy.abs(strip - brown).sum(axis=-1) < 30).any() and (numpy.abs(strip - green).sum(axis=-1) < 30).any()):
    problems.append("the legend does not show the ramp")
# No data, where the scene has some, is grey.
band = scene.GetRasterBand(1)
values = gdal.Translate("/vsimem/check.tif", scene, width=width, height=height, resampleAlg="average").ReadAsArray()
missing = values == band.GetNoDataValue()
if missing.any() and not (numpy.abs(picture[missing] - [170, 170, 170]).sum(axis=-1) < 10).all():
    problems.append("no data is not grey")
for p in problems:
    print(png + ": " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
