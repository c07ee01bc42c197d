"""``StatusError.encode``: Go's field order, ``omitempty`` and encoding/json's escapes."""

from __future__ import annotations

import json

from kboot.controlplane.api.status import StatusError, go_json


def test_details_and_causes_in_gos_order_with_empty_fields_omitted() -> None:
    err = StatusError(422, "Invalid", "m", details={
        "causes": [{"field": "spec.x", "message": "Required value",
                    "reason": "FieldValueRequired"}],
        "kind": "Thing", "group": "example.com", "name": ""})
    body = err.encode()
    assert body.endswith(b"}\n")
    assert body.index(b'"message"') < body.index(b'"reason"') < body.index(b'"details"') \
        < body.index(b'"code"')
    assert (b'"details":{"group":"example.com","kind":"Thing","causes":[{"reason":'
            b'"FieldValueRequired","message":"Required value","field":"spec.x"}]}') in body


def test_go_json_escapes_html_keeps_utf8_and_replaces_lone_surrogates() -> None:
    expected = '{"m":"a\\u003cb\\u003e\\u0026c é \\u2028"}'.encode()
    assert go_json({"m": "a<b>&c é \u2028"}) == expected
    assert json.loads(go_json({"m": "x\udc80"})) == {"m": "x\ufffd"}
