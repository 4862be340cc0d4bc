"""Glossaries: parsing (TSV, CSV, JSON), validation, application (placeholders, fallback), the cache key, the
per-tenant store (memory and Redis), the native API and the CLI; required terms with the shipped model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from fakes import FakeTranslator, write_manifest
from mt import (
    Hypothesis,
    InvalidRequest,
    Kakehashi,
    Manifest,
    RuntimeOptions,
    SegmentResult,
    Settings,
    TranslationOptions,
    UnsupportedLanguage,
)
from mt._glossary import Glossary, GlossaryOptions, apply_glossary, load_glossary, parse_glossary
from mt._segment_store import segment_key
from mt.cli import main
from serve._errors import NotFound, StoreUnavailable
from serve._glossaries import ANONYMOUS, MemoryGlossaryStore, RedisGlossaryStore, tenant_of
from serve._schema import TranslationRequest
from serve._service import TranslationService
from serve._settings import ServeSettings
from serve.app import create_app

GREEDY = TranslationOptions(beam_size=1)
KYOTO = Glossary("ja", "en", (("金閣寺", "Golden Pavilion"), ("猫", "kitty")), "kyoto")


# -- parsing


def test_parse_tsv_csv_and_json_forms() -> None:
    tsv = parse_glossary("金閣寺\tGolden Pavilion\n\n猫 \t kitty\n", "tsv", "ja", "en-US", "t")
    assert tsv.entries == (("金閣寺", "Golden Pavilion"), ("猫", "kitty")) and (tsv.source, tsv.target) == ("ja", "en")
    csv_glossary = parse_glossary('金閣寺,"Golden Pavilion, Kyoto"\n猫,kitty,ja,en\n', "csv", "ja", "en")
    assert csv_glossary.entries == (("金閣寺", "Golden Pavilion, Kyoto"), ("猫", "kitty"))
    plain = parse_glossary('{"金閣寺": "Golden Pavilion", "猫": "kitty"}', "json", "ja", "en")
    pairs = parse_glossary(
        '{"source_lang": "ja", "target_lang": "en", "entries": [["金閣寺", "Golden Pavilion"], ["猫", "kitty"]]}',
        "json",
    )
    rows = parse_glossary(
        json.dumps({"source_lang": "ja", "target_lang": "en", "entries": [{"source": "猫", "target": "kitty"}]}),
        "json",
    )
    assert plain.entries == pairs.entries == KYOTO.entries and rows.entries == (("猫", "kitty"),)
    assert plain.content_hash == pairs.content_hash == KYOTO.content_hash != rows.content_hash
    assert parse_glossary(json.dumps(KYOTO.to_json()), "json") == KYOTO


def test_load_glossary_reads_the_format_from_the_suffix(tmp_path: Path) -> None:
    (tmp_path / "g.tsv").write_text("猫\tkitty\n", encoding="utf-8")
    (tmp_path / "g.csv").write_text("\ufeff猫,kitty\n", encoding="utf-8")
    (tmp_path / "g.json").write_text('{"source_lang": "ja", "target_lang": "en", "entries": {"猫": "kitty"}}')
    found = {load_glossary(tmp_path / f"g.{ext}", "ja", "en").entries for ext in ("tsv", "csv", "json")}
    assert found == {(("猫", "kitty"),)}
    (tmp_path / "g.txt").write_text("猫\tkitty\n")
    with pytest.raises(InvalidRequest, match=r"suffix; accepted: \.tsv, \.csv, \.json"):
        load_glossary(tmp_path / "g.txt", "ja", "en")


@pytest.mark.parametrize(
    ("text", "fmt", "fragment"),
    [
        ("", "tsv", "no entries"),
        ("\n\n", "csv", "no entries"),
        ("{}", "json", "no entries"),
        ("猫\tkitty\n猫\tcat\n", "tsv", "entry 2 duplicates the source term '猫' of entry 1"),
        ("京都\tKyoto\n京都駅\tKyoto Station\n", "tsv", "overlap: '京都' (entry 1) is part of '京都駅' (entry 2)"),
        ("猫 kitty\n", "tsv", "line 1 has 1 tab-separated field(s); each TSV line must be"),
        ("猫\tkitty\textra\n", "tsv", "line 1 has 3 tab-separated field(s)"),
        ("猫,kitty,x\n", "csv", "row 1 has 3 column(s)"),
        ("猫\t\n", "tsv", "entry 1 has an empty target term"),
        ("{not json", "json", "not valid JSON"),
        ('["猫", "kitty"]', "json", "must be an object"),
        ('{"猫": 3}', "json", "entry 1 is not a pair of strings"),
        ('{"entries": {"猫": "kitty"}, "colour": "red"}', "json", "unknown glossary field(s) colour"),
        ("猫\tkitty", "xlsx", "unknown glossary format 'xlsx'; accepted: tsv, csv, json"),
    ],
)
def test_malformed_glossaries_say_what_is_wrong(text: str, fmt: str, fragment: str) -> None:
    with pytest.raises(InvalidRequest, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse_glossary(text, fmt, "ja", "en")


def test_languages_are_required_and_must_differ() -> None:
    with pytest.raises(InvalidRequest, match="needs its source and target language"):
        parse_glossary("猫\tkitty", "tsv")
    with pytest.raises(InvalidRequest, match="source and target are both en"):
        Glossary("en", "en-GB", (("cat", "kitty"),))
    english = Glossary("en", "ja", (("cat", "ネコ"),))
    with pytest.raises(InvalidRequest, match="duplicates the source term 'Cat'"):
        Glossary("en", "ja", (("cat", "ネコ"), ("Cat", "猫")))
    assert english.prepare("The CAT sat on the category.").text == "The X sat on the category."
    with pytest.raises(InvalidRequest, match="5001 entries; at most 5000 are accepted"):
        Glossary("ja", "en", tuple((f"語{i}", "w") for i in range(5001)))
    with pytest.raises(UnsupportedLanguage, match="unknown language code .xx-yy-zz."):
        Glossary("xx-yy-zz", "en", (("a", "b"),))


# -- application


def test_placeholders_avoid_letters_in_the_sentence_and_restore_fitted() -> None:
    prepared = KYOTO.prepare("Xの猫が金閣寺に行った。猫")
    assert prepared.text == "XのYがZに行った。Y" and [s[:2] for s in prepared.slots] == [("Y", "猫"), ("Z", "金閣寺")]
    single = KYOTO.prepare("猫が好きです。")
    assert single.restore("I like X.") == "I like kitty."
    assert single.restore("X likes it.") == "Kitty likes it."
    assert single.restore("I like it.") is None and single.restore("X and X.") is None
    capital = Glossary("ja", "en", (("京都", "the Ancient Capital"),)).prepare("京都に住む。")
    assert capital.restore("I live in the X.") == "I live in the Ancient Capital."
    assert KYOTO.prepare("犬です。").slots == ()


def test_apply_glossary_falls_back_to_post_editing_when_a_placeholder_is_lost() -> None:
    calls: list[tuple[list[str], TranslationOptions]] = []
    answers = {
        "Xが好きです。": "I like it.",  # the placeholder is lost
        "猫が好きです。": "I like cats.",
        "猫": "cats",
        "Xに行った。": "I went to X.",
        "犬です。": "It is a dog.",
    }

    def translate(sentences: list[str], options: TranslationOptions) -> list[SegmentResult]:
        calls.append((sentences, options))
        return [SegmentResult((Hypothesis(answers[s], -0.5, 3),), len(s)) for s in sentences]

    out = apply_glossary(KYOTO, ["猫が好きです。", "金閣寺に行った。", "犬です。"], GREEDY, translate)
    assert [r.text for r in out] == ["I like kitty.", "I went to Golden Pavilion.", "It is a dog."]
    plain, marked, retry = calls
    assert plain == (["犬です。"], GREEDY)
    assert marked[0] == ["Xが好きです。", "Xに行った。"] and isinstance(marked[1], GlossaryOptions)
    assert marked[1].glossary == KYOTO.content_hash and marked[1].beam_size == 1
    assert retry == (["猫が好きです。", "猫"], GREEDY)


def test_cache_key_differs_with_and_without_a_glossary() -> None:
    plain = segment_key("m", "r", "ja", "en", GREEDY.cache_key(), "Xが好き。")
    marked = GlossaryOptions(**{**GREEDY.__dict__, "glossary": KYOTO.content_hash})
    other = GlossaryOptions(**{**GREEDY.__dict__, "glossary": "0" * 64})
    keys = {plain, segment_key("m", "r", "ja", "en", marked.cache_key(), "Xが好き。")}
    keys.add(segment_key("m", "r", "ja", "en", other.cache_key(), "Xが好き。"))
    assert len(keys) == 3


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[TranslationService, FakeTranslator]]:
    write_manifest(tmp_path / "models" / "ja-en", "ja-en", ("ja", "en"), (("ja", "en"), ("en", "ja")))
    registry = tmp_path / "registry.toml"
    registry.write_text('[[model]]\nname = "ja-en"\npath = "models/ja-en"\n', encoding="utf-8")
    engine = FakeTranslator(Manifest(name="ja-en", family="marian", languages=("ja", "en"), source="test"))

    def loader(directory: Path, runtime: RuntimeOptions) -> FakeTranslator:
        engine.manifest = Manifest.load(directory)
        return engine

    service = TranslationService(ServeSettings(engine=Settings(registry=(registry,)), batch_wait_ms=0), loader=loader)
    yield service, engine
    service.stop()


def test_service_caches_glossary_translations_under_the_glossary(
    service: tuple[TranslationService, FakeTranslator],
) -> None:
    svc, engine = service
    request = TranslationRequest(("猫です。",), "en", "ja", options=GREEDY)
    assert svc.translate(request)[0].text == "[en]猫です。"
    first = svc.translate(TranslationRequest(("猫です。",), "en", "ja", options=GREEDY, glossary=KYOTO))[0]
    assert first.text == "[en]kittyです。" and not first.cached
    again = svc.translate(TranslationRequest(("猫です。",), "en", "ja", options=GREEDY, glossary=KYOTO))[0]
    assert again.text == "[en]kittyです。" and again.cached
    cat = Glossary("ja", "en", (("猫", "cat"),))
    other = svc.translate(TranslationRequest(("猫です。",), "en", "ja", options=GREEDY, glossary=cat))[0]
    assert other.text == "[en]catです。" and not other.cached
    assert engine.batches == [["猫です。"], ["Xです。"], ["Xです。"]]
    with pytest.raises(InvalidRequest, match="the glossary translates ja→en; this request is en→ja"):
        svc.translate(TranslationRequest(("cat",), "ja", "en", options=GREEDY, glossary=KYOTO))


def test_streaming_applies_the_glossary_to_whole_sentences(service: tuple[TranslationService, FakeTranslator]) -> None:
    svc, engine = service
    request = TranslationRequest(("猫です。犬が好き。",), "en", "ja", options=GREEDY, glossary=KYOTO)
    events = [event for _, event in svc.stream(request)]
    deltas = [e.text for e in events if e.kind == "delta"]
    # The sentence with a glossary term arrives whole, placeholders replaced; the other streams as usual.
    assert deltas[0] == "[en]kittyです。" and "".join(deltas[1:]).strip() == "[en]犬が好き。" and len(deltas) > 3
    final = events[-1].translation
    assert final is not None and final.text.startswith("[en]kittyです。") and final.text.endswith("[en]犬が好き。")
    assert engine.streamed == ["犬が好き。"] and ["Xです。"] in engine.batches
    with pytest.raises(InvalidRequest, match="the glossary translates ja→en; this request is en→ja"):
        list(svc.stream(TranslationRequest(("cat",), "ja", "en", options=GREEDY, glossary=KYOTO)))


def test_native_sse_stream_applies_the_glossary(service: tuple[TranslationService, FakeTranslator]) -> None:
    svc, _ = service
    with TestClient(create_app(svc.settings, svc)) as client:
        body = {"texts": ["猫です。"], "source": "ja", "target": "en", "stream": True, "glossary": {"猫": "kitty"}}
        response = client.post("/v1/translate", json=body)
        assert response.status_code == 200, response.text
        events = [block for block in response.text.split("\n\n") if block.strip()]
        translation = next(json.loads(b.split("data: ", 1)[1]) for b in events if b.startswith("event: translation"))
        assert translation["text"] == "[en]kittyです。"
        assert events[-1].startswith("event: done")


def test_native_api_inline_glossary_and_glossary_id(service: tuple[TranslationService, FakeTranslator]) -> None:
    svc, _ = service
    with TestClient(create_app(svc.settings, svc)) as client:
        body = {"texts": ["猫です。"], "source": "ja", "target": "en", "options": {"beam_size": 1}}
        inline = client.post("/v1/translate", json={**body, "glossary": {"猫": "kitty"}})
        assert inline.status_code == 200 and inline.json()["translations"][0]["text"] == "[en]kittyです。"
        created = client.post(
            "/v2/glossaries",
            json={"name": "k", "source_lang": "JA", "target_lang": "EN", "entries": "猫\tcat", "entries_format": "tsv"},
        )
        assert created.status_code == 201, created.text
        by_id = client.post("/v1/translate", json={**body, "glossary_id": created.json()["glossary_id"]})
        assert by_id.json()["translations"][0]["text"] == "[en]catです。"
        for extra, status, fragment in (
            ({"glossary": {}}, 400, "no entries"),
            ({"glossary": {"猫": "kitty"}, "source": "auto"}, 400, "explicit 'source'"),
            ({"glossary": {"猫": 1}}, 400, "not a pair of strings"),
            ({"glossary": ["猫"]}, 400, "'glossary' must be an object"),
            ({"glossary_id": "nope"}, 404, "glossary 'nope' not found"),
            ({"glossary": {"猫": "a"}, "glossary_id": "x"}, 400, "not both"),
        ):
            r = client.post("/v1/translate", json={**body, **extra})
            assert r.status_code == status and fragment in r.json()["error"]["message"], (extra, r.text)


# -- the store


def _check_isolation(store: MemoryGlossaryStore | RedisGlossaryStore) -> None:
    alice, bob = tenant_of("key:alice"), tenant_of("key:bob")
    assert tenant_of("ip:127.0.0.1") == tenant_of("ip:10.0.0.1") == ANONYMOUS
    stored = store.add(alice, KYOTO)
    assert store.get(alice, stored.glossary_id).glossary == KYOTO
    assert [g.glossary_id for g in store.all(alice)] == [stored.glossary_id]
    assert store.all(bob) == [] and store.all(ANONYMOUS) == []
    with pytest.raises(NotFound, match="not found"):
        store.get(bob, stored.glossary_id)
    with pytest.raises(NotFound):
        store.delete(bob, stored.glossary_id)
    store.delete(alice, stored.glossary_id)
    with pytest.raises(NotFound):
        store.get(alice, stored.glossary_id)


def test_memory_store_keeps_tenants_apart() -> None:
    _check_isolation(MemoryGlossaryStore())


@pytest.mark.integration
def test_redis_store_keeps_tenants_apart(redis_server) -> None:  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(redis_server.url)
    _check_isolation(RedisGlossaryStore(client))
    stored = RedisGlossaryStore(client).add("key:carol", KYOTO)
    # Another replica (another client) sees it; the tenant's name is hashed in the key.
    assert RedisGlossaryStore(redis.Redis.from_url(redis_server.url)).get("key:carol", stored.glossary_id) == stored
    assert all(b"carol" not in key for key in client.keys("kakehashi:gl:*"))
    redis_server.stop()
    with pytest.raises(StoreUnavailable, match=r"glossary store \(Redis\) does not answer"):
        RedisGlossaryStore(client).all("key:carol")


# -- the shipped model


@pytest.mark.shipped
@pytest.mark.integration
def test_shipped_model_renders_the_required_terms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kakehashi = Kakehashi(Settings(registry=()).load_registry())
    glossary = Glossary(
        "ja",
        "en",
        (("金閣寺", "Golden Pavilion"), ("猫", "kitty"), ("寿司", "sushi rolls"), ("京都", "the Ancient Capital")),
    )
    sentences = [
        "金閣寺に行きました。",
        "私の猫は黒いです。",
        "昨日、寿司を食べました。",
        "猫が寿司を食べた。",
        "京都は古い都です。",
    ]
    plain = kakehashi.translate(sentences, "ja", "en")
    forced = kakehashi.translate(sentences, "ja", "en", glossary=glossary)
    required = [["Golden Pavilion"], ["kitty"], ["sushi rolls"], ["kitty", "sushi rolls"], ["Ancient Capital"]]
    for result, terms in zip(forced, required):
        assert all(term.casefold() in result.text.casefold() for term in terms), result.text
    assert not any("kitty" in r.text or "Golden Pavilion" in r.text for r in plain)
    english = Glossary("en", "ja", (("cat", "ネコ"), ("Tokyo", "東京都")))
    out = kakehashi.translate(["I like my cat.", "Tokyo is a big city."], "en", "ja", glossary=english)
    assert "ネコ" in out[0].text and "東京都" in out[1].text
    # Streaming: the sentence with a term arrives whole and right; the one without streams in pieces.
    events = list(kakehashi.stream("金閣寺に行きました。雨が降っています。", "ja", "en", glossary=glossary))
    final = events[-1].translation
    assert final is not None and "Golden Pavilion" in final.text
    assert "Golden Pavilion" in events[0].text and len(events) > 3

    path = tmp_path / "kyoto.tsv"
    path.write_text("金閣寺\tGolden Pavilion\n", encoding="utf-8")
    assert main(["translate", "金閣寺に行きました。", "--from", "ja", "--to", "en", "--glossary", str(path)]) == 0
    assert "Golden Pavilion" in capsys.readouterr().out
    path.write_text("金閣寺\tGolden Pavilion\n金閣寺\tKinkaku\n", encoding="utf-8")
    assert main(["translate", "金閣寺", "--from", "ja", "--to", "en", "--glossary", str(path)]) == 2
    assert "duplicates the source term" in capsys.readouterr().err
