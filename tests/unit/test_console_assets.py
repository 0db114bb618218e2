"""The console's assets, read as text: no way for data to become code, nothing from another
origin, every file packaged."""

from __future__ import annotations

import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from broker.http.console.routes import load_assets

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "broker" / "http" / "console" / "static"
SCRIPTS = sorted(STATIC.rglob("*.js"))

# What would turn text into markup or code. The CSP's Trusted Types rule makes the browser
# refuse the HTML sinks too; this keeps them out of the source in the first place.
FORBIDDEN = [
    r"\.innerHTML",
    r"\.outerHTML",
    r"insertAdjacentHTML",
    r"document\.write",
    r"\beval\(",
    r"new Function",
    r"setTimeout\(\s*['\"`]",
    r"\.style\.",
    r"setAttribute\(\s*['\"]style",
    r"createContextualFragment",
]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(STATIC)))
def test_scripts_never_parse_data_as_html_or_code(script: Path) -> None:
    source = script.read_text()
    found = [pattern for pattern in FORBIDDEN if re.search(pattern, source)]
    assert found == []


def test_nothing_is_loaded_from_another_origin() -> None:
    """No absolute URL anywhere but the SVG namespace, which names and loads nothing."""
    for path in STATIC.rglob("*.*"):
        urls = re.findall(r"(?:https?:)?//[\w.-]+\.\w+", path.read_text())
        assert set(urls) <= {"http://www.w3.org"}, path


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style" or "style" in names or any(n.startswith("on") for n in names):
            self.problems.append(f"inline style or handler on <{tag}>")
        if tag == "script" and "src" not in names:
            self.problems.append("inline <script>")


def test_the_page_has_no_inline_scripts_styles_or_handlers() -> None:
    markup = _Markup()
    markup.feed((STATIC / "index.html").read_text())
    assert markup.problems == []


def test_every_asset_is_in_the_package_data() -> None:
    """pyproject's package-data globs take every file the console serves into the wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["broker"]
    packaged = {p for pattern in globs for p in (ROOT / "broker").glob(pattern)}
    served = {STATIC / name for name in load_assets()}
    assert served <= packaged
    assert served == {p for p in STATIC.rglob("*") if p.is_file()}
