"""Validates medvault's FHIR output with the independent fhir.resources R4 (4.0.1) models.

Usage: validate.py FILE...  (a .json file holds one Bundle; a .ndjson file one resource a line)
Exits non-zero on the first invalid resource, naming the file, the line and the error.
"""
import json
import sys

import fhir.resources
from fhir.resources import construct_fhir_element
from fhir.resources.bundle import Bundle

assert fhir.resources.__fhir_version__ == "4.0.1", fhir.resources.__fhir_version__

count = 0
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        if path.endswith(".ndjson"):
            for n, line in enumerate(f, 1):
                obj = json.loads(line)
                try:
                    construct_fhir_element(obj["resourceType"], obj)
                except Exception as e:  # noqa: BLE001 - report every validation failure
                    sys.exit(f"{path}:{n}: invalid {obj.get('resourceType')}: {e}")
                count += 1
        else:
            obj = json.load(f)
            try:
                b = Bundle.parse_obj(obj)
            except Exception as e:  # noqa: BLE001
                sys.exit(f"{path}: invalid Bundle: {e}")
            count += 1 + len(b.entry or [])
print(f"fhir-valid {count}")
