"""Validates a JSON document against an OGC API - Processes 1.0 schema kept here.

    validate.py [--values] SCHEMA.yaml DOCUMENT.json

The schemas are YAML files referring to each other by file name; they are read from
schemas/ next to this script (copied unchanged from the standard, licence in LICENSE).
Exits 1, saying where and why, when the document does not validate.
"""
import json
import os
import sys

import jsonschema
import referencing
import yaml

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")


def retrieve(uri):
    name = uri.split("/")[-1].split("#")[0]
    with open(os.path.join(here, name)) as f:
        return referencing.Resource.from_contents(yaml.safe_load(f), default_specification=referencing.jsonschema.DRAFT4)


# --values: the standard's inputValueNoObject lists `string` beside binaryInputValue (a
# string of format byte, which a validator does not check) and `number` beside `integer`
# under oneOf, so no bare string or integer can ever match it (a results document with
# `"echo": "hello"` fails). With --values it is read as anyOf; nothing else changes.
values = "--values" in sys.argv
if values:
    sys.argv.remove("--values")


def retrieve_values(uri):
    resource = retrieve(uri)
    if uri.split("/")[-1].split("#")[0] == "inputValueNoObject.yaml" and values:
        contents = dict(resource.contents)
        contents["anyOf"] = contents.pop("oneOf")
        return referencing.Resource.from_contents(contents, default_specification=referencing.jsonschema.DRAFT4)
    return resource


registry = referencing.Registry(retrieve=retrieve_values)
schema_name, document = sys.argv[1], sys.argv[2]
with open(os.path.join(here, schema_name)) as f:
    schema = yaml.safe_load(f)
schema["$id"] = schema_name
with open(document) as f:
    instance = json.load(f)
validator = jsonschema.Draft4Validator(schema, registry=registry)
errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
for e in errors:
    print("/".join(str(p) for p in e.absolute_path) or "(root)", ":", e.message[:300], file=sys.stderr)
sys.exit(1 if errors else 0)
