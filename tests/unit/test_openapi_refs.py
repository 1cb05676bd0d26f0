"""Every reference in the OpenAPI document names a schema the document defines."""

from __future__ import annotations

import json
import re

from qgen.http.openapi import openapi_document


def test_every_schema_reference_resolves() -> None:
    document = openapi_document()
    defined = set(document["components"]["schemas"])
    referenced = set(re.findall(r"#/components/schemas/(\w+)", json.dumps(document)))
    assert referenced, "the scan found references"
    assert referenced <= defined, sorted(referenced - defined)
    assert {"JobView", "ErrorBody", "Allowance"} <= referenced
