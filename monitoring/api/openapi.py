"""The OpenAPI document with no dangling reference: a request body declared by hand (the traces route
reads its body itself, to cap its size) carries its models under JSON Schema `$defs`; they move to
`components/schemas`, where its `#/components/schemas/...` references point."""

from fastapi import FastAPI


def _hoist(node: object, schemas: dict) -> None:
    if isinstance(node, dict):
        for name, schema in node.pop("$defs", {}).items():
            schemas.setdefault(name, schema)
            _hoist(schema, schemas)
        for value in node.values():
            _hoist(value, schemas)
    elif isinstance(node, list):
        for value in node:
            _hoist(value, schemas)


def complete_openapi(app: FastAPI) -> None:
    generate = app.openapi  # builds once and caches the document on the app

    def openapi() -> dict:
        document = generate()
        _hoist(document["paths"], document.setdefault("components", {}).setdefault("schemas", {}))
        return document

    app.openapi = openapi  # type: ignore[method-assign]
