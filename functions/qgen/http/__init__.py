"""HTTP edge: routing, request/response schemas, error mapping, OpenAPI."""
