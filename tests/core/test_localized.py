"""One rule for labels kept in both languages (``title``/``title_zh``): ``localized``."""

from __future__ import annotations

import re

import pytest

from core.toolkit import localized


def _panel_titles(page: str) -> list[str]:
    return re.findall(r'<section class="panel[^"]*">\s*<h2>([^<]*)</h2>', page)


@pytest.mark.parametrize(("en", "zh", "locale", "want"), [
    ("Safety", "平安社区", "zh", "平安社区"),
    ("Safety", "平安社区", "en", "Safety"),
    ("Safety", "", "zh", "Safety"),       # no Chinese text: the English one
    ("", "平安社区", "en", "平安社区"),     # and the other way round
    ("Safety", None, "zh_Hans_CN", "Safety"),
    ("Safety", "平安社区", "zh_Hans_CN", "平安社区"),
    (None, None, "en", ""),
])
def test_localized_picks_the_page_language(en, zh, locale, want):
    assert localized(en, zh, locale) == want


def test_localized_outside_a_request_is_english():
    assert localized("Safety", "平安社区") == "Safety"


def test_english_home_page_shows_english_panel_titles(client_as):
    c = client_as("security_officer")
    c.set_cookie("shequ_lang", "en")
    titles = _panel_titles(c.get("/").get_data(as_text=True))
    assert "Safety" in titles and "Community affairs" in titles
    assert not any(re.search(r"[\u4e00-\u9fff]", t) for t in titles), titles


def test_chinese_home_page_shows_chinese_panel_titles(client_as):
    c = client_as("security_officer")
    titles = _panel_titles(c.get("/").get_data(as_text=True))
    assert "平安社区" in titles and "居民自治" in titles


def test_plugin_titles_on_the_admin_page_follow_the_language(client_as):
    c = client_as("admin")
    c.set_cookie("shequ_lang", "en")
    page = c.get("/admin/plugins").get_data(as_text=True)
    assert "Safety" in page and "平安社区" not in page
    c.set_cookie("shequ_lang", "zh")
    assert "平安社区" in c.get("/admin/plugins").get_data(as_text=True)
