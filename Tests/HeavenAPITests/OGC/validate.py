"""Validates a JSON document against an OGC API - Processes 1.0 schema kept here.

    validate.py SCHEMA.yaml DOCUMENT.json

The schemas are YAML files referring to each other by file name; they are read from
schemas/ next to this script (copied unchanged from the standard, licence in LICENSE)
and applied as they are (Draft 4), with one reading of `oneOf` spelled out below.
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


# The standard's own ambiguity: inputValueNoObject.yaml (every bare value of an input
# or a result) lists under `oneOf` both `type: string` and binaryInputValue.yaml (a
# string of format byte, which no validator checks), and both `type: number` and
# `type: integer`. So every bare string and every integer matches two branches, and a
# results document such as {"echo": "hello"} fails `oneOf` as written. A value is
# therefore taken as valid when exactly one of the standard's branches matches it, or
# when exactly the two branches of one of these pairs do — the branch that applies is
# the plain string (a string) or the integer (an integer). Every other `oneOf`, in every
# schema, is applied as written: two matches anywhere else are an error.
AMBIGUOUS = [
    [{"type": "string"}, {"$ref": "binaryInputValue.yaml"}],
    [{"type": "number"}, {"type": "integer"}],
]
standard_one_of = jsonschema.Draft4Validator.VALIDATORS["oneOf"]


def one_of(validator, branches, instance, schema):
    matched = [b for b in branches if validator.evolve(schema=b).is_valid(instance)]
    if len(matched) == 2 and any(all(m in pair for m in matched) for pair in AMBIGUOUS):
        return
    yield from standard_one_of(validator, branches, instance, schema)


Validator = jsonschema.validators.extend(jsonschema.Draft4Validator, {"oneOf": one_of})
registry = referencing.Registry(retrieve=retrieve)
schema_name, document = sys.argv[1], sys.argv[2]
with open(os.path.join(here, schema_name)) as f:
    schema = yaml.safe_load(f)
schema["$id"] = schema_name
with open(document) as f:
    instance = json.load(f)
validator = Validator(schema, registry=registry)
errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
for e in errors:
    print("/".join(str(p) for p in e.absolute_path) or "(root)", ":", e.message[:300], file=sys.stderr)
sys.exit(1 if errors else 0)
