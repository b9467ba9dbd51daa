"""Plugins share one gettext domain, yet each plugin's own pages speak its own catalogue
first (core.web.i18n.use_plugin_domain): surveillance and matters both translate
"Escalated", and neither's word leaks onto the other's pages. Core's words still win."""

from __future__ import annotations

import pytest
from flask_babel import gettext

from core.web.i18n import plugin_translation_directories


@pytest.fixture
def app(make_app):
    return make_app(plugins=["surveillance", "matters"],
                    config={"app": {"default_locale": "zh"}})


def _word(app, path: str, msgid: str) -> str:
    with app.test_request_context(path):
        app.preprocess_request()
        return gettext(msgid)


def test_each_plugin_speaks_its_own_word_on_its_own_pages(app):
    assert _word(app, "/matters/", "Escalated") == "已督办"
    assert _word(app, "/surveillance/", "Escalated") == "已升级"
    assert _word(app, "/api/v1/matters/matters", "Escalated") == "已督办"  # its API too


def test_core_words_win_everywhere(app):
    from core.current import kernel_of

    dirs = plugin_translation_directories(kernel_of(app), "matters")
    assert dirs[-1].endswith("core/translations") and "matters" in dirs[-2]
    assert _word(app, "/matters/", "Search") == _word(app, "/", "Search")
