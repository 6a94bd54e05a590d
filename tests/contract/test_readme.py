"""The README is assembled from docs/readme/ and the plugin registry; it must be current."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _builder():
    spec = importlib.util.spec_from_file_location("build_readme", ROOT / "scripts" / "build_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_generated_from_current_sections() -> None:
    assert _builder().main(["--check"]) == 0, "README.md is stale: run .venv/bin/python scripts/build_readme.py"


def test_readme_shows_the_two_commands_first() -> None:
    text = (ROOT / "README.md").read_text()
    first_screen = text[: text.index("## How it maps onto Kafka Connect")]
    assert "make demo" in first_screen and "make test" in first_screen
    assert "--bootstrap-servers" in first_screen


def test_catalogue_lists_every_registered_plugin() -> None:
    from lambda_connect.runtime.registry import Registry

    text = (ROOT / "README.md").read_text()
    for descriptor in Registry.default().descriptors():
        assert f"`{descriptor.class_name}`" in text, descriptor.class_name
