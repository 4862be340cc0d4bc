"""The web page at / in headless Chromium (Debian's chromium and chromium-driver) against the real app.

The tiny models translate into random gibberish, so these tests check structure (filled pickers, a non-empty
result that keeps its line break, alternatives, the detected language, the error line), never words.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Beam search with n-best on a small, busy machine: generous, but only ever waited on, never slept.
WAIT_S = 90

CHROMIUM_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not (p.exists() and os.access(p, os.X_OK))]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: the web page tests drive Debian's headless Chromium; "
            "`make test` installs chromium and chromium-driver with apt-get"
        )
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in CHROMIUM_ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    # An explicit driver path keeps selenium-manager (which would try to download a driver) out of it.
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(WAIT_S)
        yield driver
    finally:
        driver.quit()


def wait(driver: Any, condition: Any, message: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(condition, message)


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def option_values(driver: Any, select_id: str) -> list[str]:
    # One script reads every value at once: the page refills its pickers while the languages and models load, and
    # options fetched one by one could be replaced between the reads (a stale element reference).
    values = driver.execute_script(
        "const select = document.getElementById(arguments[0]);"
        "if (!select) { throw new Error('no element with id ' + arguments[0]); }"
        "return Array.from(select.options, (option) => option.value);",
        select_id,
    )
    return list(values)


def text_content(driver: Any, element_id: str) -> str:
    return str(driver.execute_script("return document.getElementById(arguments[0]).textContent", element_id))


def open_page(driver: Any, url: str) -> None:
    """Load / and wait until the language pickers are filled from /v1/languages."""
    driver.get(url + "/")
    wait(
        driver,
        lambda d: "ja" in option_values(d, "source-lang") and option_values(d, "target-lang"),
        "the language pickers were not filled from /v1/languages",
    )
    wait(driver, lambda d: by_id(d, "translate").is_enabled(), "the Translate button stayed disabled")


def choose(driver: Any, select_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(by_id(driver, select_id)).select_by_value(value)


def type_text(driver: Any, text: str) -> None:
    box = by_id(driver, "source-text")
    box.clear()
    box.send_keys(text)
    assert box.get_attribute("value") == text


def wait_for_translation(driver: Any) -> None:
    wait(
        driver,
        lambda d: by_id(d, "status").get_attribute("data-kind") in ("ok", "error"),
        "no translation (nor error) arrived",
    )
    status = by_id(driver, "status")
    assert status.get_attribute("data-kind") == "ok", status.text


def test_page_loads_and_fills_language_pickers(start_server, browser) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    open_page(browser, server.url)
    assert "Kakehashi" in browser.title
    heading = browser.find_element("tag name", "h1").text
    assert "Kakehashi" in heading and "架け橋" in heading

    from selenium.webdriver.support.ui import Select

    source = Select(by_id(browser, "source-lang"))
    assert source.options[0].get_attribute("value") == "auto" and source.options[0].text == "Auto-detect"
    assert source.first_selected_option.get_attribute("value") == "auto"
    assert set(option_values(browser, "source-lang")) == {"auto", "ja", "en"}
    assert {o.text for o in source.options} == {"Auto-detect", "Japanese", "English"}
    # auto: the union of every target.
    assert set(option_values(browser, "target-lang")) == {"ja", "en"}
    # The targets follow the chosen source.
    choose(browser, "source-lang", "ja")
    assert option_values(browser, "target-lang") == ["en"]
    choose(browser, "source-lang", "en")
    assert option_values(browser, "target-lang") == ["ja"]
    # Swap: en→ja becomes ja→en.
    swap = by_id(browser, "swap")
    assert swap.is_enabled()
    swap.click()
    assert Select(by_id(browser, "source-lang")).first_selected_option.get_attribute("value") == "ja"
    assert Select(by_id(browser, "target-lang")).first_selected_option.get_attribute("value") == "en"

    # Labels and the reserved references section.
    for element_id in ("source-lang", "target-lang", "source-text"):
        assert browser.find_elements("css selector", f"label[for='{element_id}']"), element_id
    assert by_id(browser, "swap").get_attribute("aria-label")
    references = by_id(browser, "references")
    assert "Sources & cultural notes" in references.text
    assert "Now translating Japanese → English" in by_id(browser, "status").text


def test_translate_two_lines_keeps_line_break_and_lists_alternatives(start_server, browser) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    open_page(browser, server.url)
    choose(browser, "source-lang", "ja")
    choose(browser, "target-lang", "en")
    type_text(browser, "猫が好きです。\n犬も好きです。")
    by_id(browser, "translate").click()
    wait_for_translation(browser)

    result = by_id(browser, "result")
    text = text_content(browser, "result")
    assert text.strip(), "the result is empty"
    assert "\n" in text, f"the line break was lost: {text!r}"
    assert result.value_of_css_property("white-space") == "pre-wrap"
    assert result.text.strip()
    assert result.get_attribute("lang") == "en"

    items = wait(
        browser,
        lambda d: d.find_elements("css selector", "#alternatives li"),
        "no alternatives were listed",
    )
    assert all(item.text.strip() for item in items)
    assert by_id(browser, "alternatives").is_displayed()
    # Source ja was chosen explicitly: no detected-language line.
    assert not by_id(browser, "detected").is_displayed()
    assert "tiny-marian" in by_id(browser, "result-meta").text

    references = by_id(browser, "references")
    assert references.is_displayed()
    assert "Sources & cultural notes" in references.text
    assert by_id(browser, "translate").is_enabled()


def test_auto_detect_shows_detected_language(start_server, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.keys import Keys

    server = start_server()
    open_page(browser, server.url)
    choose(browser, "source-lang", "auto")
    choose(browser, "target-lang", "en")
    type_text(browser, "猫が好きです。")
    # Ctrl+Enter translates too.
    by_id(browser, "source-text").send_keys(Keys.CONTROL, Keys.ENTER)
    wait_for_translation(browser)

    detected = wait(
        browser,
        lambda d: by_id(d, "detected") if by_id(d, "detected").is_displayed() else False,
        "the detected-language line was not shown",
    )
    assert "Japanese" in detected.text
    assert text_content(browser, "result").strip()
    # Ctrl+Enter must not have added a line to the source text.
    assert by_id(browser, "source-text").get_attribute("value") == "猫が好きです。"

    # Swapping after detection: ja→en from the detected language, the translation becomes the source.
    translated = text_content(browser, "result")
    by_id(browser, "swap").click()
    from selenium.webdriver.support.ui import Select

    assert Select(by_id(browser, "source-lang")).first_selected_option.get_attribute("value") == "en"
    assert Select(by_id(browser, "target-lang")).first_selected_option.get_attribute("value") == "ja"
    assert by_id(browser, "source-text").get_attribute("value") == translated
    assert not by_id(browser, "detected").is_displayed()


def test_error_is_shown_in_the_status_line(start_server, browser) -> None:  # type: ignore[no-untyped-def]
    server = start_server(max_chars_per_text=20)
    open_page(browser, server.url)
    choose(browser, "source-lang", "ja")
    choose(browser, "target-lang", "en")
    type_text(browser, "猫" * 30)
    by_id(browser, "translate").click()

    status = wait(
        browser,
        lambda d: by_id(d, "status") if by_id(d, "status").get_attribute("data-kind") == "error" else False,
        "the error was not shown in the status line",
    )
    assert status.get_attribute("role") == "alert"
    assert status.get_attribute("data-http-status") == "413"
    assert "30 characters" in status.text and "at most 20 per text" in status.text
    assert status.is_displayed()
    assert text_content(browser, "result") == ""
    assert not browser.find_elements("css selector", "#alternatives li")
    # The page stays usable: a short text translates afterwards and clears the error.
    type_text(browser, "猫です。")
    by_id(browser, "translate").click()
    wait_for_translation(browser)
    assert by_id(browser, "status").get_attribute("role") == "status"
    assert text_content(browser, "result").strip()


def test_the_page_shows_notes_references_and_weak_support(tiny_registry: Path, browser) -> None:  # type: ignore[no-untyped-def]
    """The real app and tiny model, with a fake reference index (its record is found by the source sentence)."""
    from conftest import LiveServer, free_port
    from test_annotate import FakeIndex

    from mt import Settings
    from mt._annotate import Annotator
    from serve._service import TranslationService
    from serve._settings import ServeSettings
    from serve.app import create_app

    settings = ServeSettings(engine=Settings(registry=(tiny_registry,), compute_type="float32"))
    service = TranslationService(settings)
    service.annotator = Annotator(service.kakehashi.registry, index_loader=lambda d, m: FakeIndex())
    server = LiveServer(create_app(settings, service), free_port())
    server.start()
    try:
        open_page(browser, server.url)
        choose(browser, "source-lang", "ja")
        choose(browser, "target-lang", "en")
        type_text(browser, "祇園祭は祭です。")
        by_id(browser, "translate").click()
        wait_for_translation(browser)

        # Notes: the term highlighted in the source, with its gloss as the tooltip, and listed with its link.
        marks = browser.find_elements("css selector", "#notes-source mark.note-term")
        assert [m.text for m in marks] == ["祇園祭"]
        assert marks[0].get_attribute("title").startswith("Gion Matsuri Festival")
        assert text_content(browser, "notes-source") == "祇園祭は祭です。"
        notes = by_id(browser, "notes")
        assert notes.is_displayed() and "ぎおんまつり" in notes.text and "Gion Matsuri Festival" in notes.text
        links = notes.find_elements("css selector", "a")
        assert links[0].get_attribute("href") == "https://ja.wikipedia.org/?curid=817202"

        # References: the sentence, its support score (the gibberish output is weakly supported), the linked pair.
        (item,) = browser.find_elements("css selector", "#segment-sources > li")
        assert "weak" in item.get_attribute("class").split()
        assert "support 0.00 · weakly supported" in item.text
        reference = item.find_element("css selector", ".reference")
        assert "祇園祭は祭です。 → Gion Matsuri Festival is a festival." in reference.text
        assert "seen 2 times in training (steps 40 … 41)" in reference.text
        link = reference.find_element("css selector", "a")
        assert link.text == "wiki_kyoto CLT00199:s1"
        assert link.get_attribute("href") == "https://ja.wikipedia.org/?curid=817202"
        assert link.get_attribute("rel") == "noopener noreferrer"
        assert text_content(browser, "annotations-status") == ""
    finally:
        server.stop()
        service.stop()


def test_the_page_says_when_a_model_has_no_reference_index(start_server, browser) -> None:  # type: ignore[no-untyped-def]
    server = start_server()
    open_page(browser, server.url)
    choose(browser, "source-lang", "ja")
    choose(browser, "target-lang", "en")
    type_text(browser, "清水寺へ行く。")
    by_id(browser, "translate").click()
    wait_for_translation(browser)
    assert "Sources: " in text_content(browser, "annotations-status")
    assert "tiny-marian" in text_content(browser, "annotations-status")
    assert not by_id(browser, "segment-sources").is_displayed()
    assert [m.text for m in browser.find_elements("css selector", "#notes-source mark")] == ["清水寺"]
