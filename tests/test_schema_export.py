"""The JSON Schema the PWA uses is generated from schemas/ and never goes stale."""

import json
from pathlib import Path

from conftest import ROOT, run_cli

from server.ops.jsonschema import render


def test_committed_json_schema_is_up_to_date() -> None:
    committed = (ROOT / "pwa/schema.json").read_text(encoding="utf-8")
    assert committed == render(), "pwa/schema.json is stale: run `doorstep schema`"


def test_schema_check_command_fails_on_a_stale_file(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    run_cli("schema", "--out", str(out))
    run_cli("schema", "--out", str(out), "--check")
    out.write_text(out.read_text().replace("reached", "arrived"))
    import subprocess

    import pytest

    with pytest.raises(subprocess.CalledProcessError):
        run_cli("schema", "--out", str(out), "--check")


def test_schema_lists_every_collection_and_its_enumerations() -> None:
    doc = json.loads(render())
    assert set(doc["collections"]) >= {"visits", "deliveries", "household_status", "assignments"}
    outcome = doc["$defs"]["Visit"]["properties"]["outcome"]["anyOf"][0]
    assert outcome["enum"] == ["moved", "not_home", "reached", "refused"] or set(
        outcome["enum"]
    ) == {"reached", "not_home", "refused", "moved"}


def test_rendered_schema_does_not_depend_on_how_msgspec_formats_docstrings(monkeypatch) -> None:
    import textwrap

    import msgspec

    from server.ops import jsonschema

    real = msgspec.json.schema_components

    def indenting(*args, **kwargs):  # what msgspec < 0.23 produced: the raw, indented __doc__
        schema, components = real(*args, **kwargs)
        for comp in components.values():
            if "description" in comp:
                comp["description"] = "\n" + textwrap.indent(comp["description"], "    ")
        return schema, components

    expected = render()
    monkeypatch.setattr(jsonschema.msgspec.json, "schema_components", indenting)
    assert jsonschema.render() == expected
