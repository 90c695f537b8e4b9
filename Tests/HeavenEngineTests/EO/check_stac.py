"""Validates a STAC item with pystac, offline, against the schemas kept in schemas/.

    check_stac.py ITEM_JSON

Exits 1, saying why, when the item is not a valid STAC 1.0.0 Item (core, projection
and raster extensions) or when an asset's href names no file next to it.
"""
import json
import os
import sys

import pystac
from pystac.validation import JsonSchemaSTACValidator, set_validator, validate_dict

schemas = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
validator = JsonSchemaSTACValidator()
for name in ["item", "basics", "datetime", "instrument", "licensing", "provider"]:
    with open(os.path.join(schemas, "stac-1.0.0", name + ".json")) as f:
        validator.schema_cache[f"https://schemas.stacspec.org/v1.0.0/item-spec/json-schema/{name}.json"] = json.load(f)
for extension in ["projection", "raster"]:
    with open(os.path.join(schemas, extension + "-1.1.0", "schema.json")) as f:
        validator.schema_cache[f"https://stac-extensions.github.io/{extension}/v1.1.0/schema.json"] = json.load(f)
set_validator(validator)

path = sys.argv[1]
with open(path) as f:
    document = json.load(f)
try:
    validated = validate_dict(document)
except pystac.errors.STACValidationError as error:
    print(f"{path}: not a valid STAC item: {error}", file=sys.stderr)
    sys.exit(1)
item = pystac.Item.from_dict(document)
missing = [key for key, asset in item.assets.items()
           if not os.path.isfile(os.path.join(os.path.dirname(path), asset.href))]
if missing:
    print(f"{path}: assets with no file next to the item: {', '.join(missing)}", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"id": item.id, "bbox": item.bbox, "validated": validated,
                  "assets": sorted(item.assets), "epsg": document["properties"].get("proj:epsg")}))
