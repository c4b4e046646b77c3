"""Validate YAML config files against a JSON Schema (penvio-sync's own).

    python validate_schema.py SCHEMA.json FILE.yaml [FILE.yaml ...]

Prints one line per file ("ok" or the first error with its path); exits 1 if
any file does not validate.
"""

import json
import sys

import jsonschema
import yaml


def main():
    with open(sys.argv[1]) as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failed = False
    for path in sys.argv[2:]:
        with open(path) as handle:
            document = yaml.safe_load(handle)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if errors:
            failed = True
            first = errors[0]
            location = "/".join(str(p) for p in first.absolute_path)
            print(f"{path}: {location}: {first.message}")
        else:
            print(f"{path}: ok")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
