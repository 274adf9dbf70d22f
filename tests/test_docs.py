"""The docs cannot drift: docs/settings.md is what the settings code generates, and every
setting says what it is for."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import pytest

from cafe_monitor import config, docs
from cafe_monitor.limits import help_of


def settings_fields() -> list[tuple[str, dataclasses.Field[Any]]]:
    found = []
    hints = get_type_hints(config.Settings)
    for section in dataclasses.fields(config.Settings):
        cls = hints[section.name]
        cls = get_args(cls)[1] if get_origin(cls) is dict else cls
        found += [(f"{section.name}.{f.name}", f) for f in dataclasses.fields(cls)]
    return found


@pytest.mark.parametrize(("key", "field"), settings_fields(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_setting_says_what_it_is_for(key: str, field: dataclasses.Field[Any]) -> None:
    assert help_of(field), f"{key} has no help: add help= to its field (cafe_monitor.limits.setting/bounded)"


def test_settings_page_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert docs.main(["--check"]) == 0, (f"docs/settings.md is stale; run `{docs.COMMAND}`\n"
                                         + capsys.readouterr().out)


def test_check_fails_on_a_stale_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "settings.md"
    page.write_text(docs.render().replace("`0.25`", "`0.3`"), encoding="utf-8")
    assert docs.main(["--check", "--out", str(page)]) == 1
    assert "-| `iou_threshold` | number | `0.3`" in capsys.readouterr().out
    assert docs.main(["--out", str(page)]) == 0 and docs.main(["--check", "--out", str(page)]) == 0


def test_every_key_and_default_is_on_the_page() -> None:
    page = docs.render()
    for key, field in settings_fields():
        assert f"| `{field.name}` |" in page or f"### `[{key}]`" in page, key
    assert config.to_toml(config.Settings()) in page  # the defaults as a file, exactly as saved
