#!/usr/bin/python3
"""Checks an NDVI mosaic against NDVI computed here, independently, from the bands.

    reference.py RED NIR MOSAIC STATS_JSON

Prints one JSON object: what was compared and the largest difference; exits 1 (saying
why on stderr) when the mosaic's grid, nodata mask or values, or the statistics, are
not those of the reference.
"""
import json
import sys

import numpy
from osgeo import gdal

gdal.UseExceptions()
red_path, nir_path, mosaic_path, stats_path = sys.argv[1:5]
red_ds, nir_ds, out_ds = gdal.Open(red_path), gdal.Open(nir_path), gdal.Open(mosaic_path)
red = red_ds.GetRasterBand(1).ReadAsArray().astype(numpy.float64)
nir = nir_ds.GetRasterBand(1).ReadAsArray().astype(numpy.float64)
band = out_ds.GetRasterBand(1)
out = band.ReadAsArray()
total = red + nir
valid = total != 0
reference = numpy.zeros_like(total)
reference[valid] = (nir[valid] - red[valid]) / total[valid]

problems = []
if (out_ds.RasterXSize, out_ds.RasterYSize) != (red_ds.RasterXSize, red_ds.RasterYSize):
    problems.append(f"size {out_ds.RasterXSize}x{out_ds.RasterYSize}, not {red_ds.RasterXSize}x{red_ds.RasterYSize}")
if out_ds.GetGeoTransform() != red_ds.GetGeoTransform():
    problems.append(f"geotransform {out_ds.GetGeoTransform()}, not {red_ds.GetGeoTransform()}")
if not out_ds.GetSpatialRef().IsSame(red_ds.GetSpatialRef()):
    problems.append("another CRS than the bands'")
if band.DataType != gdal.GDT_Float32:
    problems.append(f"type {gdal.GetDataTypeName(band.DataType)}, not Float32")
nodata = band.GetNoDataValue()
if nodata is None:
    problems.append("no nodata value")
difference = None
if not problems:
    mask = out != nodata
    if not numpy.array_equal(mask, valid):
        problems.append(f"nodata mask differs at {int((mask != valid).sum())} pixels")
    else:
        difference = float(numpy.abs(out[valid].astype(numpy.float64) - reference[valid]).max()) if valid.any() else 0.0
        if difference > 1e-5:
            problems.append(f"largest difference {difference} > 1e-5")

with open(stats_path) as f:
    stats = json.load(f)
values = reference[valid]
expected = {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max()),
            "stddev": float(values.std()), "valid": int(valid.sum())}
if stats.get("valid") != expected["valid"]:
    problems.append(f"stats.valid {stats.get('valid')}, not {expected['valid']}")
for key, tolerance in [("mean", 1e-6), ("min", 1e-5), ("max", 1e-5), ("stddev", 1e-5)]:
    if not isinstance(stats.get(key), (int, float)) or abs(stats[key] - expected[key]) > tolerance:
        problems.append(f"stats.{key} {stats.get(key)}, not {expected[key]} (within {tolerance})")

print(json.dumps({"size": [red_ds.RasterXSize, red_ds.RasterYSize], "difference": difference,
                  "reference": expected, "problems": problems}))
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
