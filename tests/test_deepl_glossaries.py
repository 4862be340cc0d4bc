"""DeepL-compatible glossaries through the official ``deepl`` client: two server replicas with the shipped default
model share glossaries through a Redis of the test's own; each API key sees only its own glossaries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, free_port

from mt import Settings
from serve._access import new_key
from serve._settings import ServeSettings
from serve.app import create_app

pytestmark = [pytest.mark.integration, pytest.mark.shipped]


@pytest.fixture
def replicas(redis_server, tmp_path: Path) -> Iterator[tuple[list[LiveServer], str, str]]:  # type: ignore[no-untyped-def]
    keys = tmp_path / "keys.toml"
    alice, bob = new_key("alice", keys), new_key("bob", keys)
    servers = []
    for _ in range(2):
        settings = ServeSettings(
            engine=Settings(registry=()),
            api_keys_file=str(keys),
            require_api_key=True,
            redis_url=redis_server.url,
            batch_wait_ms=0,
        )
        server = LiveServer(create_app(settings), free_port())
        server.start()
        servers.append(server)
    yield servers, alice, bob
    for server in servers:
        server.stop()


def test_deepl_client_glossary_methods(replicas) -> None:  # type: ignore[no-untyped-def]
    import deepl

    (first, second), alice_key, bob_key = replicas
    alice = deepl.Translator(alice_key, server_url=first.url, send_platform_info=False)
    alice_elsewhere = deepl.Translator(alice_key, server_url=second.url, send_platform_info=False)
    bob = deepl.Translator(bob_key, server_url=first.url, send_platform_info=False)

    pairs = {(p.source_lang, p.target_lang) for p in alice.get_glossary_languages()}
    assert pairs == {("ja", "en"), ("en", "ja")}  # lower case, as DeepL answers
    created = alice.create_glossary(
        "Kyoto", source_lang="JA", target_lang="EN-US", entries={"金閣寺": "Golden Pavilion", "猫": "kitty"}
    )
    assert (created.name, created.source_lang, created.target_lang, created.entry_count) == ("Kyoto", "JA", "EN", 2)
    assert created.ready and created.creation_time is not None
    # The other replica serves the same glossary (Redis), to its owner only.
    assert alice_elsewhere.get_glossary(created.glossary_id).name == "Kyoto"
    assert [g.glossary_id for g in alice_elsewhere.list_glossaries()] == [created.glossary_id]
    assert alice.get_glossary_entries(created) == {"金閣寺": "Golden Pavilion", "猫": "kitty"}
    assert bob.list_glossaries() == []
    with pytest.raises(deepl.GlossaryNotFoundException):
        bob.get_glossary(created.glossary_id)
    with pytest.raises(deepl.DeepLException, match="not found"):
        bob.translate_text("猫が好きです。", source_lang="JA", target_lang="EN-US", glossary=created.glossary_id)

    plain = alice.translate_text("金閣寺に行きました。猫が好きです。", source_lang="JA", target_lang="EN-US")
    forced = alice_elsewhere.translate_text(
        "金閣寺に行きました。猫が好きです。", source_lang="JA", target_lang="EN-US", glossary=created
    )
    assert "Golden Pavilion" not in plain.text and "kitty" not in plain.text
    assert "Golden Pavilion" in forced.text and "kitty" in forced.text, forced.text
    by_id = alice.translate_text("猫が好きです。", source_lang="JA", target_lang="EN-GB", glossary=created.glossary_id)
    assert "kitty" in by_id.text

    csv_glossary = alice.create_glossary_from_csv(
        "cats", source_lang="EN", target_lang="JA", csv_data="cat,ネコ\nTokyo,東京都\n"
    )
    assert csv_glossary.entry_count == 2
    assert (
        "ネコ" in alice.translate_text("I like my cat.", source_lang="EN", target_lang="JA", glossary=csv_glossary).text
    )

    with pytest.raises(deepl.GlossaryNotFoundException):
        bob.delete_glossary(created)
    alice.delete_glossary(created)
    with pytest.raises(deepl.GlossaryNotFoundException):
        alice_elsewhere.get_glossary(created.glossary_id)
    assert [g.name for g in alice.list_glossaries()] == ["cats"]


def test_glossary_errors_in_deepl_format(replicas) -> None:  # type: ignore[no-untyped-def]
    import deepl

    (server, _), key, _ = replicas
    translator = deepl.Translator(key, server_url=server.url, send_platform_info=False)
    headers = {"Authorization": f"DeepL-Auth-Key {key}"}
    base = {"name": "g", "source_lang": "ja", "target_lang": "en", "entries_format": "tsv"}
    for body, fragment in (
        ({**base, "entries": "猫\tkitty\n猫\tcat"}, "entry 2 duplicates the source term '猫'"),
        ({**base, "entries": "京都\tKyoto\n京都駅\tKyoto Station"}, "source terms overlap"),
        ({**base, "entries": "猫 kitty"}, "each TSV line must be 'source term<TAB>target term'"),
        ({**base, "entries": "猫\tkitty", "entries_format": "xlsx"}, "accepted: tsv, csv"),
        ({**base, "entries": "猫\tkitty", "target_lang": "de"}, "no installed model translates ja→de"),
        ({**base, "entries": "猫\tkitty", "name": ""}, "Parameter 'name' not specified"),
        ({**base, "entries": "   "}, "Parameter 'entries' not specified"),
    ):
        r = httpx.post(f"{server.url}/v2/glossaries", json=body, headers=headers)
        assert r.status_code == 400 and fragment in r.json()["message"], (body, r.text)
    with pytest.raises(deepl.DeepLException, match="duplicates the source term"):
        translator.create_glossary_from_csv("g", "JA", "EN", csv_data="猫,kitty\n猫,cat\n")
    anonymous = httpx.get(f"{server.url}/v2/glossaries")
    assert anonymous.status_code == 403 and "API key is required" in anonymous.json()["message"]
    created = translator.create_glossary("g", "JA", "EN", {"猫": "kitty"})
    no_source = httpx.post(
        f"{server.url}/v2/translate",
        data={"text": "猫", "target_lang": "EN-US", "glossary_id": created.glossary_id},
        headers=headers,
    )
    assert no_source.status_code == 400 and "source_lang" in no_source.json()["message"]
    wrong_pair = httpx.post(
        f"{server.url}/v2/translate",
        data={"text": "cat", "source_lang": "EN", "target_lang": "JA", "glossary_id": created.glossary_id},
        headers=headers,
    )
    assert wrong_pair.status_code == 400 and "the glossary translates ja→en" in wrong_pair.json()["message"]
    missing = httpx.get(f"{server.url}/v2/glossaries/no-such-id/entries", headers=headers)
    assert missing.status_code == 404 and "not found" in missing.json()["message"]
