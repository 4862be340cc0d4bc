"""The reference index: build, retrieval of a sentence's own record, support scores, bad indexes."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from mt._corpora import CleaningOptions, clean_pairs, load_corpus
from mt._errors import InvalidReferenceIndex, ReferenceIndexMissing
from mt._index_cli import add_index_command
from mt._manifest import Manifest
from mt._references import Reference, ReferenceIndex, build_index, index_locations, resolve_spec
from mt.training.data import _sample

pytest.importorskip("bm25s")
pytest.importorskip("fugashi")

DATA = Path(__file__).parent / "data" / "references"
WIKI_SPEC = "tsv:shared/data/wiki/wikikyoto.train.tsv"
TATOEBA_SPEC = "tatoeba:shared/data/tatoeba/jpn.train.txt"
SEED = 3


def tiny_manifest(name: str = "tiny-ja-en", sample: int = 20) -> Manifest:
    """A manifest as `kakehashi train` writes it, with specs relative to the shared folder (here tests/data)."""
    return Manifest(
        name=name,
        family="marian",
        languages=("en", "ja"),
        source="tests",
        pairs=(("en", "ja"), ("ja", "en")),
        license="CC-BY-SA-3.0 and CC-BY-2.0-FR",
        corpora={
            "wikikyoto": {"spec": WIKI_SPEC, "pairs_used": None, "license": "CC-BY-SA-3.0"},
            "tatoeba": {"spec": TATOEBA_SPEC, "pairs_used": sample, "license": "CC-BY-2.0-FR"},
        },
        training={
            "config": {
                "train": [TATOEBA_SPEC, WIKI_SPEC],
                "dev": [],
                "seed": SEED,
                "sample": {"tatoeba": sample},
                "dev_holdout": 2,
            }
        },
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-ja-en")
    tiny_manifest().save(directory)
    build_index(directory, tiny_manifest(), DATA, progress=False)
    return directory


@pytest.fixture(scope="module")
def index(model_dir: Path) -> ReferenceIndex:
    return ReferenceIndex.for_model(model_dir, tiny_manifest())


def test_specs_resolve_against_the_shared_data_folder() -> None:
    assert resolve_spec(WIKI_SPEC, DATA) == f"tsv:{DATA}/wiki/wikikyoto.train.tsv"
    assert resolve_spec("/abs/jpn.txt", DATA) == "/abs/jpn.txt"


def test_every_pair_is_indexed_beside_the_model(model_dir: Path, index: ReferenceIndex) -> None:
    meta = json.loads((model_dir / "index" / "index.json").read_text(encoding="utf-8"))
    assert meta["model"] == "tiny-ja-en" and meta["format_version"] == 2
    raw = len(list(load_corpus(f"tsv:{DATA}/wiki/wikikyoto.train.tsv"))) + len(
        list(load_corpus(f"tatoeba:{DATA}/tatoeba/jpn.train.txt"))
    )
    assert len(index) == raw == 30 + 53


def test_a_wiki_kyoto_sentence_finds_its_own_record_with_its_wikipedia_page(index: ReferenceIndex) -> None:
    source = "作品は数多く、中国風の山水画だけでなく人物画や花鳥画もよくした。"
    output = "His works were many, including not only Chinese-style landscape paintings."
    refs = index.search(source, output, "ja", "en", k=3)
    assert refs[0].corpus == "wikikyoto" and refs[0].id == "BDS00001:s6"
    assert refs[0].url == "https://ja.wikipedia.org/?curid=2674"
    assert refs[0].source == source and refs[0].target.startswith("His works were many")
    assert refs[0].license == "CC-BY-SA-3.0" and refs[0].score > refs[1].score
    assert index.support(output, refs, "en") >= 0.9


def test_a_tatoeba_sentence_finds_its_own_record_in_both_directions(index: ReferenceIndex) -> None:
    refs = index.search("Wait a second.", "ちょっと待って。", "en", "ja")
    assert (refs[0].corpus, refs[0].id) == ("tatoeba", "1064324-1850245")
    assert refs[0].url == "https://tatoeba.org/sentences/show/1064324"
    assert (refs[0].source, refs[0].target) == ("Wait a second.", "ちょっと待って。")
    back = index.search("ちょっと待って。", "Wait a second.", "ja", "en")
    assert back[0].id == "1064324-1850245" and back[0].source == "ちょっと待って。"


def test_a_paraphrase_still_finds_its_record(index: ReferenceIndex) -> None:
    # Source reworded (数多く → たくさん, ending changed) and an output worded unlike the record's English.
    refs = index.search(
        "作品はたくさんあり、中国風の山水画のほか人物画や花鳥画も描いた。",
        "He painted many works: Chinese landscapes, portraits and birds and flowers.",
        "ja",
        "en",
    )
    assert refs[0].id == "BDS00001:s6"
    tatoeba = index.search("ちょっとだけ待って", "Wait just a second!", "ja", "en")
    assert tatoeba[0].id == "1064324-1850245"


def test_unrelated_text_gets_a_low_support_score(index: ReferenceIndex) -> None:
    output = "The rocket engine failed above the Pacific Ocean during the satellite launch."
    refs = index.search("ロケットのエンジンが衛星打ち上げ中に太平洋上で故障した。", output, "ja", "en")
    assert index.support(output, refs, "en") <= 0.2
    assert index.support("", refs, "en") == 0.0
    assert index.search("", "", "ja", "en") == []


def test_japanese_outputs_are_scored_by_content_words(index: ReferenceIndex) -> None:
    refs = index.search("Wait a second.", "ちょっと待って。", "en", "ja")
    assert index.support("ちょっと待って。", refs, "ja") == 1.0
    assert index.support("量子コンピューターが故障した。", refs, "ja") == 0.0


def test_training_sample_is_reproduced(index: ReferenceIndex) -> None:
    marked = {
        index.record(i, "ja").id
        for i in range(len(index))
        if index.record(i, "ja").corpus == "tatoeba" and index.record(i, "ja").in_training
    }
    cleaned = list(clean_pairs(load_corpus(f"tatoeba:{DATA}/tatoeba/jpn.train.txt"), CleaningOptions()))
    from mt.training.data import _holdout

    per_mille = max(1, min(200, round(1000 * 2 / len(cleaned))))
    expected = {p.pair_id for p in _sample([p for p in cleaned if not _holdout(p, per_mille)], 20, SEED)}
    assert marked == expected and len(marked) == 20
    tatoeba = next(c for c in index.meta["corpora"] if c["name"] == "tatoeba")
    assert tatoeba["in_training_matches_manifest"] is True
    wiki = next(c for c in index.meta["corpora"] if c["name"] == "wikikyoto")
    assert 0 < wiki["in_training"] < wiki["pairs"]  # titles are cleaned away and never trained on
    # This manifest names its settings but no training sessions: the steps say so, never an empty list.
    trained = next(index.record(i, "ja") for i in range(len(index)) if index.record(i, "ja").in_training)
    assert trained.steps == (
        "not known: the model's manifest records no training run (settings and sessions), so its data order "
        "cannot be replayed"
    )
    assert trained.to_json()["times_seen"] is None and isinstance(trained.to_json()["steps"], str)
    untrained = next(index.record(i, "ja") for i in range(len(index)) if not index.record(i, "ja").in_training)
    assert untrained.steps.startswith("none: ") and untrained.times_seen == 0


def test_reference_json_has_every_field(index: ReferenceIndex) -> None:
    ref = index.search("ちょっと待って。", "Wait a second.", "ja", "en")[0]
    assert isinstance(ref, Reference)
    fields = {"corpus", "id", "url", "license", "source", "target", "score", "in_training", "steps", "times_seen"}
    assert set(ref.to_json()) == fields


def test_missing_index_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(ReferenceIndexMissing, match="kakehashi index build --model tiny-ja-en"):
        ReferenceIndex.for_model(tmp_path, tiny_manifest(), environ={"KAKEHASHI_INDEX_DIR": str(tmp_path / "c")})


def test_index_of_another_model_is_refused(model_dir: Path) -> None:
    with pytest.raises(InvalidReferenceIndex, match="built for model 'tiny-ja-en', not 'other-model'"):
        ReferenceIndex.load(model_dir / "index", tiny_manifest("other-model"))
    with pytest.raises(InvalidReferenceIndex, match="corpora changed"):
        ReferenceIndex.load(model_dir / "index", tiny_manifest(sample=10))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "index.json").write_text("{not json", encoding="utf-8"), "not readable JSON"),
        (lambda d: (d / "offsets.npy").write_bytes(b"garbage"), "missing or damaged"),
        (lambda d: (d / "texts.bin").write_bytes(b"short"), "do not match"),
        (lambda d: shutil.rmtree(d / "bm25"), "missing or damaged"),
        (
            lambda d: (d / "index.json").write_text(
                json.dumps({**json.loads((d / "index.json").read_text()), "format_version": 99}), encoding="utf-8"
            ),
            "format version 99",
        ),
        (
            # An index of the first format (no training steps) asks to be rebuilt.
            lambda d: (d / "index.json").write_text(
                json.dumps({**json.loads((d / "index.json").read_text()), "format_version": 1}), encoding="utf-8"
            ),
            "format version 1; this Kakehashi reads 2; rebuild it with: kakehashi index build --model tiny-ja-en",
        ),
    ],
)
def test_corrupt_index_is_refused(model_dir: Path, tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "index"
    shutil.copytree(model_dir / "index", copy)
    damage(copy)
    with pytest.raises(InvalidReferenceIndex, match=message):
        ReferenceIndex.load(copy, tiny_manifest())


def test_index_in_the_cache_folder_is_found(model_dir: Path, tmp_path: Path) -> None:
    environ = {"KAKEHASHI_INDEX_DIR": str(tmp_path)}
    bare = tmp_path / "model"
    bare.mkdir()
    cache = index_locations(bare, tiny_manifest(), environ)[1]
    assert cache == tmp_path / "tiny-ja-en"
    shutil.copytree(model_dir / "index", cache)
    assert len(ReferenceIndex.for_model(bare, tiny_manifest(), environ)) == 83


def test_index_build_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "model"
    model.mkdir()
    tiny_manifest().save(model)
    parser = argparse.ArgumentParser()
    add_index_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["index", "build", "--model", str(model), "--data-dir", str(DATA), "--quiet"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "written to" in out and "training steps of the pairs not known: the model's manifest records no" in out
    assert len(ReferenceIndex.for_model(model, tiny_manifest())) == 83


def test_added_corpora_resolve_in_the_checkout_and_titles_link_their_articles(tmp_path: Path) -> None:
    checkout = Path(__file__).resolve().parent.parent
    spec = "tsv:data/corpora/kyotolexicon.train.tsv.gz"
    assert resolve_spec(spec, tmp_path) == f"tsv:{checkout / 'data' / 'corpora' / 'kyotolexicon.train.tsv.gz'}"
    kyoto = tmp_path / "shared" / "train" / "wiki_kyoto_2.01"
    kyoto.mkdir(parents=True)
    (kyoto / "Wiki_Corpus_List_2.01.csv").write_text(
        "File name,Wikipedia ID,Title,Category,Number of sentences,Translator ID\nBDS00001.xml,2674,雪舟,Buddhism,69,X\n",
        encoding="utf-8",
    )
    titles = tmp_path / "elsewhere" / "wikikyototitles.train.tsv"
    titles.parent.mkdir()
    titles.write_text("id\tja\ten\nBDS00001\t雪舟\tSesshu\n", encoding="utf-8")
    manifest = replace(
        tiny_manifest("titles"), corpora={"wikikyototitles": {"spec": f"tsv:{titles}", "license": "CC-BY-SA-3.0"}}
    )
    index = ReferenceIndex.load(
        build_index(tmp_path, manifest, tmp_path / "shared", output=tmp_path / "index", progress=False), manifest
    )
    assert index.record(0, "ja").url == "https://ja.wikipedia.org/?curid=2674"
