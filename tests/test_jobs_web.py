"""The web page's documents tab in headless Chromium: choose a file, pick the target, watch the job, download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import test_web_page
from test_web_page import by_id, option_values, text_content, wait

pytestmark = pytest.mark.integration
browser = test_web_page.browser


def test_documents_tab_translates_a_file_and_offers_the_download(browser: Any, start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = start_server(batch_wait_ms=0)
    document = tmp_path / "notes.md"
    document.write_text("# 京都\n\n猫が好きです。\n", encoding="utf-8")
    browser.get(server.url + "/")
    assert by_id(browser, "panel-documents").get_attribute("hidden") is not None
    by_id(browser, "tab-documents").click()
    assert by_id(browser, "panel-text").get_attribute("hidden") is not None
    assert by_id(browser, "tab-documents").get_attribute("aria-selected") == "true"
    wait(browser, lambda d: "en" in option_values(d, "document-target"), "the document targets were not filled")
    assert by_id(browser, "document-start").get_attribute("disabled") is not None  # no file yet
    by_id(browser, "document-file").send_keys(str(document))
    assert "notes.md" in text_content(browser, "document-name")
    by_id(browser, "document-start").click()
    wait(browser, lambda d: by_id(d, "document-download").is_displayed(), text_content(browser, "document-status"))
    link = by_id(browser, "document-download")
    assert link.get_attribute("download") == "notes.en.md"
    assert link.get_attribute("href").startswith("blob:")
    assert text_content(browser, "document-status") == "Done."
    translated = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];fetch(arguments[0]).then((r) => r.text()).then(done);",
        link.get_attribute("href"),
    )
    assert translated.startswith("# ") and "猫" not in translated

    # A type no format reads: the server's message, with the accepted types, is shown as an alert.
    bad = tmp_path / "program.exe"
    bad.write_bytes(b"MZ")
    by_id(browser, "document-file").send_keys(str(bad))
    by_id(browser, "document-start").click()
    wait(browser, lambda d: by_id(d, "document-status").get_attribute("role") == "alert", "no error was shown")
    assert "accepted:" in text_content(browser, "document-status") and ".docx" in text_content(
        browser, "document-status"
    )
