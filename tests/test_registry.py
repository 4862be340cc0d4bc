"""Unit tests of mt._registry: registry TOML files over fake model directories, and routing of language pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import write_manifest
from mt._errors import InvalidModel, InvalidRequest, KakehashiError, ModelNotFound, UnsupportedLanguagePair
from mt._languages import parse_language
from mt._manifest import MANIFEST_NAME, Manifest
from mt._registry import Registry, RegistryEntry, Route, read_registry_file

BOTH_WAYS = (("ja", "en"), ("en", "ja"))


def toml_entry(path: str, name: str | None = None, default: bool | None = None) -> str:
    lines = ["[[model]]"]
    if name is not None:
        lines.append(f'name = "{name}"')
    lines.append(f'path = "{path}"')
    if default is not None:
        lines.append(f"default = {str(default).lower()}")
    return "\n".join(lines) + "\n\n"


def write_registry(path: Path, *entries: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(entries), encoding="utf-8")
    return path


def steps(route: Route) -> list[tuple[str, str, str]]:
    return [(entry.name, source, target) for entry, source, target in route.steps]


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """Three fake model directories beside a registry file that lists them with relative paths."""
    root = tmp_path / "models"
    write_manifest(root / "ja-en", "kakehashi-ja-en", ("ja", "en"), BOTH_WAYS)
    write_manifest(root / "ja-en-big", "kakehashi-ja-en-big", ("ja", "en"))
    write_manifest(root / "en-de", "opus-en-de", ("en", "de"), (("en", "de"),))
    return write_registry(
        root / "registry.toml",
        toml_entry("ja-en", name="ja-en"),
        toml_entry("en-de"),
        toml_entry("ja-en-big", name="ja-en-big", default=True),
    )


def test_read_registry_file_resolves_paths_relative_to_the_file(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path.parent)
    entries = read_registry_file(models)
    assert [(e.name, e.path, e.default) for e in entries] == [
        ("ja-en", (tmp_path / "models" / "ja-en").resolve(), False),
        # Without a name in the file, the manifest's name is used.
        ("opus-en-de", (tmp_path / "models" / "en-de").resolve(), False),
        ("ja-en-big", (tmp_path / "models" / "ja-en-big").resolve(), True),
    ]
    assert entries[0].manifest == Manifest.load(tmp_path / "models" / "ja-en")
    assert entries[1].manifest.directions() == [("en", "de")]


def test_absolute_paths_and_several_files(tmp_path: Path) -> None:
    first = write_manifest(tmp_path / "a" / "m1", "m1", ("ja", "en"))
    second = write_manifest(tmp_path / "b" / "m2", "m2", ("ko", "en"))
    one = write_registry(tmp_path / "conf" / "one.toml", toml_entry(str(first)))
    two = write_registry(tmp_path / "conf" / "two.toml", toml_entry(str(second)))
    registry = Registry.from_files([one, two])
    assert registry.names() == ["m1", "m2"]
    assert registry.pairs() == ["en→ja", "en→ko", "ja→en", "ko→en"]


def test_direct_route(models: Path) -> None:
    registry = Registry.from_files([models])
    route = registry.route(parse_language("en"), parse_language("de"))
    assert steps(route) == [("opus-en-de", "en", "de")]
    assert not route.pivoted
    # Regional tags route to the base language's model and keep their code.
    route = registry.route(parse_language("en-US"), parse_language("de-AT"))
    assert steps(route) == [("opus-en-de", "en-US", "de-AT")]


def test_pivot_through_english_across_two_models(models: Path) -> None:
    registry = Registry.from_files([models])
    route = registry.route(parse_language("ja-JP"), parse_language("de"))
    assert route.pivoted
    assert steps(route) == [("ja-en-big", "ja-JP", "en"), ("opus-en-de", "en", "de")]
    assert route.steps[0][0].path.name == "ja-en-big"


def test_no_pivot_when_english_is_an_end_of_the_pair(models: Path) -> None:
    registry = Registry.from_files([models])
    with pytest.raises(UnsupportedLanguagePair):
        registry.route(parse_language("de"), parse_language("en"))  # only en→de is installed
    with pytest.raises(UnsupportedLanguagePair):
        registry.route(parse_language("de"), parse_language("ja"))  # de→en is missing for the first leg


def test_default_model_is_preferred(models: Path) -> None:
    registry = Registry.from_files([models])
    # Both ja-en models serve ja→en; the one marked default wins although it is listed last.
    assert steps(registry.route(parse_language("ja"), parse_language("en"))) == [("ja-en-big", "ja", "en")]
    assert steps(registry.route(parse_language("en"), parse_language("ja"))) == [("ja-en-big", "en", "ja")]


def test_without_a_default_the_first_listed_model_wins(tmp_path: Path) -> None:
    write_manifest(tmp_path / "m" / "one", "one", ("ja", "en"))
    write_manifest(tmp_path / "m" / "two", "two", ("ja", "en"))
    path = write_registry(tmp_path / "m" / "r.toml", toml_entry("two"), toml_entry("one"))
    registry = Registry.from_files([path])
    assert steps(registry.route(parse_language("ja"), parse_language("en"))) == [("two", "ja", "en")]


def test_a_named_model_is_used_even_when_not_default(models: Path) -> None:
    registry = Registry.from_files([models])
    route = registry.route(parse_language("ja"), parse_language("en"), model="ja-en")
    assert steps(route) == [("ja-en", "ja", "en")]


def test_a_named_model_that_does_not_serve_the_pair(models: Path) -> None:
    registry = Registry.from_files([models])
    with pytest.raises(UnsupportedLanguagePair) as info:
        registry.route(parse_language("ja"), parse_language("de"), model="opus-en-de")
    # The named model is never pivoted; the message lists what it does translate.
    assert (info.value.source, info.value.target) == ("ja", "de")
    assert "ja→de" in str(info.value)
    assert "available pairs: en→de" in str(info.value)


def test_unsupported_pair_lists_the_installed_pairs(models: Path) -> None:
    registry = Registry.from_files([models])
    with pytest.raises(UnsupportedLanguagePair) as info:
        registry.route(parse_language("ja"), parse_language("fr"))
    error = info.value
    assert isinstance(error, KakehashiError)
    assert (error.source, error.target) == ("ja", "fr")
    assert str(error) == "no installed model translates ja→fr; available pairs: en→de, en→ja, ja→en"


def test_empty_registry(tmp_path: Path) -> None:
    path = write_registry(tmp_path / "empty.toml", "# nothing installed yet\n")
    registry = Registry.from_files([path])
    assert registry.names() == [] and registry.pairs() == []
    with pytest.raises(UnsupportedLanguagePair, match="available pairs: none"):
        registry.route(parse_language("ja"), parse_language("en"))


def test_unknown_model_name_lists_installed_models(models: Path) -> None:
    registry = Registry.from_files([models])
    with pytest.raises(ModelNotFound) as info:
        registry.route(parse_language("ja"), parse_language("en"), model="no-such-model")
    assert info.value.name == "no-such-model"
    message = str(info.value)
    assert "'no-such-model'" in message
    assert "Installed models: ja-en, ja-en-big, opus-en-de" in message
    with pytest.raises(ModelNotFound, match="Installed models: none"):
        Registry().get("no-such-model")


def test_get_by_name_or_by_directory(models: Path, tmp_path: Path) -> None:
    registry = Registry.from_files([models])
    assert registry.get("opus-en-de").path == (tmp_path / "models" / "en-de").resolve()
    # A model directory that is not in the registry is usable by path.
    extra = write_manifest(tmp_path / "elsewhere" / "ko-en", "ko-en", ("ko", "en"))
    entry = registry.get(str(extra))
    assert (entry.name, entry.path, entry.default) == ("ko-en", extra.resolve(), False)
    route = registry.route(parse_language("ko"), parse_language("en"), model=str(extra))
    assert steps(route) == [("ko-en", "ko", "en")]
    # ... but a directory without a manifest is not.
    (tmp_path / "not-a-model").mkdir()
    with pytest.raises(InvalidModel, match=f"{MANIFEST_NAME} is missing"):
        registry.get(str(tmp_path / "not-a-model"))


def test_model_names_must_be_unique(models: Path, tmp_path: Path) -> None:
    again = write_registry(tmp_path / "again.toml", toml_entry(str(tmp_path / "models" / "ja-en"), name="ja-en"))
    with pytest.raises(InvalidRequest, match="two models are named 'ja-en'"):
        Registry.from_files([models, again])
    registry = Registry()
    entry = RegistryEntry("x", tmp_path, Manifest("x", "marian", ("ja", "en"), "test"))
    registry.add(entry)
    with pytest.raises(InvalidRequest, match="unique"):
        Registry([entry, entry])


def test_serves_follows_the_manifest_directions(tmp_path: Path) -> None:
    all_ways = RegistryEntry("m", tmp_path, Manifest("m", "nllb", ("ja", "en", "zh-Hant"), "test"))
    one_way = RegistryEntry("o", tmp_path, Manifest("o", "marian", ("ja", "en"), "test", pairs=(("ja", "en"),)))
    ja, en, zh = parse_language("ja"), parse_language("en"), parse_language("zh-Hans")
    assert all_ways.serves(ja, zh) and all_ways.serves(zh, en) and not all_ways.serves(ja, ja)
    assert one_way.serves(ja, en) and not one_way.serves(en, ja)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ('["a", "list"]', "must hold a JSON object"),
        ('{"name": "x", "family": "marian", "source": "test"}', "is missing or has a malformed field"),
        ('{"name": "x", "family": "marian", "languages": ["ja", "en"], "source": "t", "pairs": 3}', "malformed field"),
        ('{"name": "x", "family": "marian", "languages": ["ja", "en"], "source": "t", "pairs": [["ja"]]}', "malformed"),
        ('{"name": "x", "family": "word2vec", "languages": ["ja", "en"], "source": "test"}', "unknown family"),
        (
            '{"name": "x", "family": "marian", "languages": ["ja"], "source": "t", "decoding": [4]}',
            "'decoding' must be",
        ),
    ],
)
def test_corrupt_manifest(tmp_path: Path, content: str, problem: str) -> None:
    model = tmp_path / "broken"
    model.mkdir()
    (model / MANIFEST_NAME).write_text(content, encoding="utf-8")
    path = write_registry(tmp_path / "r.toml", toml_entry("broken", name="broken"))
    with pytest.raises(InvalidModel, match=problem) as info:
        Registry.from_files([path])
    assert info.value.path == model
    assert str(model) in str(info.value)


def test_listed_directory_without_a_manifest(tmp_path: Path) -> None:
    (tmp_path / "empty-model").mkdir()
    path = write_registry(tmp_path / "r.toml", toml_entry("empty-model"), toml_entry("gone"))
    with pytest.raises(InvalidModel, match=rf"empty-model .*listed in .*r\.toml but has no {MANIFEST_NAME}"):
        read_registry_file(path)


def test_manifest_round_trip_through_the_writer(tmp_path: Path) -> None:
    written = Manifest(
        name="full",
        family="madlad",
        languages=("ja", "en", "ko"),
        source="google/madlad400-3b-mt",
        revision="abc",
        decoding={"no_repeat_ngram_size": 4},
    )
    written.save(tmp_path)
    data = json.loads((tmp_path / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert data["architecture"] == "encoder-decoder" and data["languages"] == ["ja", "en", "ko"]
    path = write_registry(tmp_path / "r.toml", toml_entry(".", name="full", default=True))
    (entry,) = read_registry_file(path)
    assert entry.manifest == written
    assert len(entry.manifest.directions()) == 6
    assert Registry([entry]).describe()[0]["decoding"] == {"no_repeat_ngram_size": 4}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[[model]\nname = ", "is not valid TOML"),
        ('[[model]]\nname = "no-path"\n', r"\[\[model\]\] entry 1 needs at least a 'path'"),
        ('[model]\npath = "x"\n', "entry 1 needs at least a 'path'"),
    ],
)
def test_malformed_registry_file(tmp_path: Path, content: str, problem: str) -> None:
    path = write_registry(tmp_path / "r.toml", content)
    with pytest.raises(InvalidRequest, match=problem):
        read_registry_file(path)


def test_missing_registry_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match=r"registry file .*nowhere\.toml does not exist"):
        Registry.from_files([tmp_path / "nowhere.toml"])
