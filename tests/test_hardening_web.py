"""The web page's newcomer defects (issue 16) in headless Chromium against the real app and tiny models: an API
key field for servers that require one, model and decoding-option controls, an offer to translate into another
language when auto-detection finds the target language itself, and a Japanese font for screenshots."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_web_page import (  # noqa: F401 - browser is a fixture
    browser,
    by_id,
    choose,
    option_values,
    text_content,
    type_text,
    wait,
    wait_for_translation,
)

from serve._access import new_key

pytestmark = pytest.mark.integration


def test_a_server_that_requires_keys_asks_for_one_and_the_page_sends_it(start_server, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    keys = tmp_path / "keys.toml"
    key = new_key("web", keys)
    server = start_server(api_keys_file=str(keys), require_api_key=True)
    browser.get(server.url + "/")
    wait(browser, lambda d: by_id(d, "status").get_attribute("data-kind") == "error", "no error without a key")
    assert "API key" in by_id(browser, "status").text
    assert by_id(browser, "settings").get_attribute("open") is not None  # the panel opened to show the field
    field = by_id(browser, "api-key")
    assert field.get_attribute("type") == "password"
    field.send_keys(key)
    by_id(browser, "beam-size").click()  # leaving the field commits it (change event)
    wait(browser, lambda d: "ja" in option_values(d, "source-lang"), "the languages did not load with the key")
    wait(browser, lambda d: "tiny-madlad" in option_values(d, "model"), "the models did not load with the key")
    # The key is remembered by this browser, not by the page's URL or the server.
    assert browser.execute_script("return localStorage.getItem('kakehashi-api-key')") == key
    choose(browser, "source-lang", "ja")
    type_text(browser, "猫です。")
    by_id(browser, "translate").click()
    wait_for_translation(browser)


def test_model_and_options_controls_reach_the_request(start_server, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    server = start_server()
    browser.get(server.url + "/")
    wait(browser, lambda d: "tiny-madlad" in option_values(d, "model"), "the model picker was not filled")
    assert option_values(browser, "model")[0] == ""  # automatic routing stays the default
    by_id(browser, "settings").click()
    choose(browser, "source-lang", "ja")
    choose(browser, "model", "tiny-madlad")
    for field, value in (("beam-size", "2"), ("n-best", "1"), ("max-length", "5")):
        box = by_id(browser, field)
        box.clear()
        box.send_keys(value)
    type_text(browser, "猫です。")
    by_id(browser, "translate").click()
    wait_for_translation(browser)
    assert "tiny-madlad" in text_content(browser, "result-meta")
    # n_best 1: no alternatives.
    assert "No alternatives" in text_content(browser, "alternatives-empty")


def test_auto_detecting_the_target_language_offers_another_target(start_server, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    server = start_server()
    browser.get(server.url + "/")
    wait(browser, lambda d: by_id(d, "translate").is_enabled(), "the page did not get ready")
    choose(browser, "target-lang", "ja")
    type_text(browser, "これは日本語の文です。")
    by_id(browser, "translate").click()
    wait_for_translation(browser)
    assert "already in Japanese" in by_id(browser, "status").text
    offer = by_id(browser, "same-language-swap")
    assert offer.text == "Translate Japanese → English"
    offer.click()
    wait(
        browser,
        lambda d: "Translated Japanese → English" in by_id(d, "status").text,
        "the offered translation did not run",
    )
    assert by_id(browser, "source-lang").get_attribute("value") == "ja"
    assert by_id(browser, "target-lang").get_attribute("value") == "en"


def test_chromium_has_a_japanese_font(start_server, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    server = start_server()
    browser.get(server.url + "/")
    # Without a font for it, a kanji is drawn as the same empty box as a character no font has (U+E000).
    differs = browser.execute_script(
        """
        const draw = (text) => {
          const canvas = document.createElement("canvas");
          canvas.width = 64; canvas.height = 64;
          const context = canvas.getContext("2d");
          context.font = "48px sans-serif";
          context.fillText(text, 4, 52);
          return Array.from(context.getImageData(0, 0, 64, 64).data).join(",");
        };
        return draw("架") !== draw("\\uE000");
        """
    )
    assert differs, "headless Chromium has no Japanese font: install fonts-noto-cjk (make system-deps does)"
