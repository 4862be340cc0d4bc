"""The REST service's building blocks without a model: cache keys and caches, access control, markup,
settings precedence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mt import Hypothesis, InvalidRequest, SegmentResult, Settings
from mt._segment_store import decode_result, encode_result, segment_key
from serve._access import AccessControl, hash_key, load_keys, new_key
from serve._cache import MemoryCache, NoCache
from serve._errors import RateLimited, Unauthorized
from serve._markup import translate_markup
from serve._settings import ServeSettings

# -- cache keys and caches

KEY: dict[str, Any] = {
    "model": "m",
    "revision": "r1",
    "source": "ja",
    "target": "en",
    "options": {"beam_size": 4},
    "sentence": "猫です。",
}


def test_every_part_of_a_cache_key_changes_it() -> None:
    base = segment_key(**KEY)
    assert base.startswith("kakehashi:tr:") and len(base) == len("kakehashi:tr:") + 64
    changed: list[dict[str, Any]] = [
        {"model": "m2"},
        {"revision": "r2"},
        {"source": "zh"},
        {"target": "de"},
        {"options": {"beam_size": 5}},
        {"sentence": "犬です。"},
    ]
    keys = {segment_key(**{**KEY, **change}) for change in changed}
    assert len(keys) == len(changed) and base not in keys
    # Texts that join to the same string never collide (no separators are involved).
    assert segment_key(**{**KEY, "source": "ja", "target": "en"}) != segment_key(
        **{**KEY, "source": "jae", "target": "n"}
    )


def test_cache_keys_normalise_the_sentence_to_nfc() -> None:
    composed, decomposed = "\u30ac", "\u30ab\u3099"  # ガ as one code point, and as カ + a combining mark
    assert composed != decomposed
    assert segment_key(**{**KEY, "sentence": composed}) == segment_key(**{**KEY, "sentence": decomposed})


def test_cached_values_round_trip_as_json_and_garbage_is_a_miss() -> None:
    result = SegmentResult((Hypothesis("Cat.", -0.5, 3), Hypothesis("A cat.", -0.7, 4)), 5)
    raw = encode_result(result)
    assert raw.startswith("{")
    back = decode_result(raw)
    assert back is not None and back.hypotheses == result.hypotheses and back.cached is True
    for garbage in ("not json", "{}", '{"h": [], "s": 1}', '{"h": [["x"]], "s": 1}'):
        assert decode_result(garbage) is None


def test_memory_cache_is_a_bounded_lru() -> None:
    cache = MemoryCache(size=2)
    one = SegmentResult((Hypothesis("one", -0.1, 1),), 1)
    cache.set_many([("a", one), ("b", one)])
    assert cache.get_many(["a"])[0] is not None  # "a" is now the most recently used
    cache.set_many([("c", one)])
    found = cache.get_many(["a", "b", "c"])
    assert [f is not None for f in found] == [True, False, True]
    assert NoCache().get_many(["a"]) == [None]


# -- access control


def test_keys_are_stored_hashed_and_checked(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.toml"
    key = new_key("alice", keys_file, rate_limit_per_minute=5)
    assert key not in keys_file.read_text(encoding="utf-8")
    loaded = load_keys(keys_file)
    assert [(k.name, k.sha256, k.rate_limit_per_minute) for k in loaded] == [("alice", hash_key(key), 5)]
    open_door = AccessControl(loaded, require_key=False, default_limit=0)
    assert open_door.check(None, "10.0.0.1") == "ip:10.0.0.1"
    assert open_door.check(key, "10.0.0.1") == "key:alice"
    with pytest.raises(Unauthorized, match="not valid"):
        open_door.check("kk-wrong", "10.0.0.1")
    with pytest.raises(Unauthorized, match="required"):
        AccessControl(loaded, require_key=True, default_limit=0).check(None, "10.0.0.1")


def test_rate_limits_count_per_identity_in_process(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.toml"
    key = new_key("bob", keys_file, rate_limit_per_minute=2)
    access = AccessControl(load_keys(keys_file), require_key=False, default_limit=1)
    access.check(key, "h")
    access.check(key, "h")
    with pytest.raises(RateLimited) as limited:
        access.check(key, "h")
    assert 1 <= limited.value.retry_after_s <= 60
    # Anonymous clients get the server-wide limit, counted per address.
    access.check(None, "a")
    access.check(None, "b")
    with pytest.raises(RateLimited):
        access.check(None, "a")


def test_malformed_keys_file_is_refused(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text('[[key]]\nname = "x"\nsha256 = "short"\n', encoding="utf-8")
    with pytest.raises(InvalidRequest, match="64-hex-digit"):
        load_keys(keys_file)


# -- markup


def _shout(runs: list[str]) -> list[str]:
    return [run.upper() + "!" for run in runs]


def test_markup_translates_text_between_tags_only() -> None:
    document = '<p class="a">hello <b>world</b></p><script>var x = "hi";</script><!-- note --><code>x &lt; y</code>'
    (out,) = translate_markup([document], _shout)
    # The sentence is translated whole (one "!"), its inline tag kept inside it.
    assert out == '<p class="a">HELLO <b>WORLD</b>!</p><script>var x = "hi";</script><!-- note --><code>x &lt; y</code>'


def test_markup_escapes_translations_and_keeps_surrounding_space() -> None:
    (out,) = translate_markup(["<p>  fish &amp; chips \n</p><p>42</p>"], lambda runs: [r + " <&>" for r in runs])
    assert out == "<p>  fish &amp; chips &lt;&amp;&gt; \n</p><p>42</p>"


def test_markup_round_trips_with_an_identity_translation() -> None:
    documents = ["<div><p>Tom &amp; Jerry</p>\n<br><i>again</i></div>", "plain text", ""]
    calls: list[list[str]] = []

    def identity(runs: list[str]) -> list[str]:
        calls.append(runs)
        return runs

    assert translate_markup(documents, identity) == documents
    assert calls == [["Tom & Jerry", "X Y again Z", "plain text"]]  # one call for every document, tags masked


# -- settings precedence


def test_settings_precedence_flag_over_variable_over_file_over_default(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text("port = 7000\nmax_queue = 10\nmax_texts = 5\n", encoding="utf-8")
    environ = {"KAKEHASHI_MAX_QUEUE": "20", "KAKEHASHI_MAX_TEXTS": "6", "KAKEHASHI_DEVICE": "cpu"}
    settings = ServeSettings.load(environ, config, max_texts=7, host=None)
    assert settings.port == 7000  # file
    assert settings.max_queue == 20  # variable over file
    assert settings.max_texts == 7  # flag over variable
    assert settings.host == "127.0.0.1"  # default (a flag not given is None)
    assert settings.engine == Settings.from_env(environ) and settings.engine.device == "cpu"
    # The config file may also be named by a variable.
    assert ServeSettings.load({"KAKEHASHI_CONFIG": str(config)}).port == 7000


def test_settings_are_coerced_and_unknown_ones_refused(tmp_path: Path) -> None:
    settings = ServeSettings.load(
        {"KAKEHASHI_REQUIRE_API_KEY": "yes", "KAKEHASHI_CORS_ORIGINS": "https://a, https://b"}
    )
    assert settings.require_api_key is True and settings.cors_origins == ("https://a", "https://b")
    with pytest.raises(InvalidRequest, match="not a valid int"):
        ServeSettings.load({"KAKEHASHI_MAX_QUEUE": "many"})
    config = tmp_path / "bad.toml"
    config.write_text("max_qeueu = 3\n", encoding="utf-8")
    with pytest.raises(InvalidRequest, match="unknown setting.*max_qeueu.*known: host"):
        ServeSettings.load({}, config)
