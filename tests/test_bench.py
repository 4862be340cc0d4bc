"""``kakehashi bench``: the scorer against sacreBLEU's own command line, significance, test sets, systems, reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from mt import InvalidRequest
from mt._evaluation import paired_bootstrap, score_corpus
from mt.bench import cli
from mt.bench.quality import QualityOptions, run_quality
from mt.bench.systems import HttpSystem, ModelSystem, SystemFailed, parse_system
from mt.bench.testsets import TestSetError as DataError
from mt.bench.testsets import resolve

DATA = Path(__file__).parent / "data"
JA, EN = DATA / "tatoeba_test_200.ja", DATA / "tatoeba_test_200.en"
FILES = f"files:{JA},{EN}"


def _lines(path: Path, count: int = 60) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[:count]


def _degrade(lines: list[str]) -> list[str]:
    """A plausible system output: every third sentence cut short, some words dropped."""
    out = []
    for i, line in enumerate(lines):
        if i % 3 == 0:
            line = line[: max(1, len(line) // 2)]
        out.append(line.replace("the ", "").replace("は", "が"))
    return out


@pytest.mark.parametrize(("reference", "target", "tokenizer"), [(EN, "en", "13a"), (JA, "ja", "ja-mecab")])
def test_scorer_matches_sacrebleu_command_line(tmp_path: Path, reference: Path, target: str, tokenizer: str) -> None:
    references = _lines(reference)
    hypotheses = _degrade(references)
    ref_file, hyp_file = tmp_path / "ref.txt", tmp_path / "hyp.txt"
    ref_file.write_text("\n".join(references) + "\n", encoding="utf-8")
    hyp_file.write_text("\n".join(hypotheses) + "\n", encoding="utf-8")
    command = [sys.executable, "-m", "sacrebleu", str(ref_file), "-i", str(hyp_file), "-m", "bleu", "chrf", "ter"]
    command += ["--tokenize", tokenizer, "--format", "json", "--width", "2"]
    if target == "ja":
        command.append("--ter-asian-support")
    cli_scores = {
        row["name"]: row for row in json.loads(subprocess.run(command, capture_output=True, check=True).stdout)
    }

    ours = score_corpus(hypotheses, references, target)

    assert 0 < ours.bleu < 100 and 0 < ours.ter
    assert ours.bleu == pytest.approx(cli_scores["BLEU"]["score"], abs=1e-9)
    assert ours.chrf == pytest.approx(cli_scores["chrF2"]["score"], abs=1e-9)
    assert ours.ter == pytest.approx(cli_scores["TER"]["score"], abs=1e-9)
    assert ours.bleu_signature == cli_scores["BLEU"]["signature"]
    assert ours.chrf_signature == cli_scores["chrF2"]["signature"]
    assert ours.ter_signature == cli_scores["TER"]["signature"]
    assert f"tok:{tokenizer}" in ours.bleu_signature


def test_scorer_rejects_mismatched_lengths_and_unknown_tokenizer() -> None:
    with pytest.raises(InvalidRequest, match="2 hypotheses for 3 references"):
        score_corpus(["a", "b"], ["a", "b", "c"], "en")
    with pytest.raises(InvalidRequest, match="accepted: auto, 13a"):
        score_corpus(["a"], ["a"], "en", tokenize="moses")


def test_paired_bootstrap_marks_real_differences_only() -> None:
    references = _lines(EN)
    weak = _degrade(references)
    comparison = paired_bootstrap(
        {"weak": weak, "perfect": references, "same": list(weak)}, references, "en", resamples=200
    )
    assert comparison.baseline == "weak"
    assert comparison.systems["weak"]["BLEU"].p_value is None
    perfect, same = comparison.systems["perfect"], comparison.systems["same"]
    assert perfect["BLEU"].score == 100.0 and perfect["BLEU"].significant and perfect["BLEU"].p_value < 0.05
    assert perfect["TER"].significant and perfect["TER"].score == 0.0
    assert not same["BLEU"].significant and same["BLEU"].score == comparison.systems["weak"]["BLEU"].score
    assert "bs:200" in comparison.signatures["BLEU"] and "seed:12345" in comparison.signatures["BLEU"]
    with pytest.raises(InvalidRequest, match="at least two systems"):
        paired_bootstrap({"weak": weak}, references, "en")


def _fake_data_dir(root: Path) -> Path:
    wmt = root / "testsets" / "wmt23"
    wmt.mkdir(parents=True)
    (wmt / "generaltest2023.en-ja.en").write_text("Hello.\nGood night.\nThanks.\n", encoding="utf-8")
    (wmt / "generaltest2023.en-ja.ja").write_text("こんにちは。\nおやすみ。\nありがとう。\n", encoding="utf-8")
    flores = root / "testsets" / "flores200"
    flores.mkdir(parents=True)
    (flores / "flores200.devtest.jpn_Jpan").write_text("猫。\n犬。\n", encoding="utf-8")
    (flores / "flores200.devtest.eng_Latn").write_text("Cat.\n", encoding="utf-8")
    return root


def test_wikikyoto_titles_are_the_article_names_of_the_dev_and_test_splits(tmp_path: Path) -> None:
    kyoto = tmp_path / "train" / "wiki_kyoto_2.01"
    kyoto.mkdir(parents=True)
    header = "id\tja\ten\n"
    (kyoto / "wikikyoto.dev.tsv").write_text(
        header + "BDS00010:title\t清水寺\tKiyomizu-dera Temple\nBDS00010:s1\t寺である。\tIt is a temple.\n",
        encoding="utf-8",
    )
    (kyoto / "wikikyoto.test.tsv").write_text(header + "SNT00020:title\t祇園祭\tGion Matsuri\n", encoding="utf-8")
    titles = resolve("wikikyoto-titles:en-ja", {"KAKEHASHI_DATA_DIR": str(tmp_path)})
    assert (titles.sources, titles.references) == (("Kiyomizu-dera Temple", "Gion Matsuri"), ("清水寺", "祇園祭"))
    assert resolve("wikikyoto-dev:ja-en", {"KAKEHASHI_DATA_DIR": str(tmp_path)}).total == 2


def test_the_tatoeba_gate_takes_every_12th_pair_after_those_the_reports_read(tmp_path: Path) -> None:
    from mt.bench.testsets import TestSetError

    folder = tmp_path / "testsets" / "tatoeba-test"
    folder.mkdir(parents=True)
    environ = {"KAKEHASHI_DATA_DIR": str(tmp_path)}
    for count in (1025, 1000):
        for lang in ("ja", "en"):
            text = "".join(f"{lang}{i}\n" for i in range(count))
            (folder / f"tatoeba-test-v2021-08-07.eng-jpn.{lang}").write_text(text, encoding="utf-8")
        if count > 1000:
            gate = resolve("tatoeba-gate:ja-en", environ)
            assert (gate.sources, gate.references) == (("ja1000", "ja1012", "ja1024"), ("en1000", "en1012", "en1024"))
            reported = set(resolve("tatoeba-test:ja-en", environ, limit=1000).sources)
            assert not reported & set(gate.sources)
    with pytest.raises(TestSetError, match="after the first 1,000 of .*, which has only 1,000"):
        resolve("tatoeba-gate:en-ja", environ)


def test_testset_registry_by_name_and_direction(tmp_path: Path) -> None:
    environ = {"KAKEHASHI_DATA_DIR": str(_fake_data_dir(tmp_path / "data"))}
    wmt = resolve("wmt23:en-ja", environ, limit=2)
    assert (wmt.key, wmt.sources, wmt.references, wmt.total) == (
        "wmt23:en-ja",
        ("Hello.", "Good night."),
        ("こんにちは。", "おやすみ。"),
        3,
    )
    assert "research" in wmt.license
    with pytest.raises(DataError, match=r"unknown test set 'wmt99'; known: .*flores200-devtest.*wmt23"):
        resolve("wmt99:ja-en", environ)
    with pytest.raises(DataError, match="no direction ja-fr; it has: ja-en, en-ja"):
        resolve("wmt23:ja-fr", environ)
    with pytest.raises(DataError, match="generaltest2023.ja-en.ja is missing"):
        resolve("wmt23:ja-en", environ)
    with pytest.raises(DataError, match="has 2 lines but .* has 1"):
        resolve("flores200-devtest:ja-en", environ)
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match=f"{missing} \\(from KAKEHASHI_DATA_DIR\\) does not exist; set KAKEHASHI"):
        resolve("wmt23:en-ja", {"KAKEHASHI_DATA_DIR": str(missing)})
    local = resolve(FILES, {}, limit=5)
    assert (local.source_lang, local.target_lang, len(local.sources), local.total) == ("ja", "en", 5, 200)
    assert resolve(f"files:{EN},{JA}:en-ja", {}).pair == "en-ja"


def test_system_specs() -> None:
    model = parse_system("big=kakehashi-ja-en:beam=5,compute_type=float32")
    assert (model.name, model.kind, model.location, model.option_map) == (
        "big",
        "model",
        "kakehashi-ja-en",
        {"beam": "5", "compute_type": "float32"},
    )
    lt = parse_system("libretranslate+http://127.0.0.1:5000:batch=8")
    assert (lt.name, lt.kind, lt.location, lt.int_option("batch", 16)) == (
        "libretranslate",
        "libretranslate",
        "http://127.0.0.1:5000",
        8,
    )
    assert parse_system("ours=kakehashi+http://localhost:8000").location == "http://localhost:8000"
    assert parse_system("old=file:out/hyps.txt").kind == "file"
    with pytest.raises(InvalidRequest, match="unknown option 'beem'.*accepted: beam, compute_type"):
        parse_system("m=kakehashi-ja-en:beem=5")
    with pytest.raises(InvalidRequest, match="must be a number"):
        parse_system("lt=libretranslate+http://h:1:batch=x").int_option("batch", 1)
    with pytest.raises(InvalidRequest, match="DEEPL_AUTH_KEY"):
        HttpSystem(parse_system("deepl+https://api-free.deepl.com"), environ={})


def test_a_model_system_decodes_with_the_options_its_spec_names() -> None:
    class Recorder:
        def translate(self, texts: list[str], source: str, target: str, **kwargs: Any) -> list[Any]:
            self.options = kwargs["options"]
            return [SimpleNamespace(text=t.upper()) for t in texts]

    system = ModelSystem(
        parse_system("m=some/model:beam=2,no_repeat_ngram_size=4,repetition_penalty=1.1,reconstruction_weight=0.5")
    )
    system._engine = engine = Recorder()
    assert system.translate(["a"], "en", "ja") == ["A"]
    chosen = engine.options
    assert (chosen.beam_size, chosen.no_repeat_ngram_size, chosen.repetition_penalty) == (2, 4, 1.1)
    assert chosen.reconstruction_weight == 0.5
    assert chosen.length_penalty is None  # unset: the model decides
    with pytest.raises(InvalidRequest, match="no_repeat_ngram_size='x' must be a number"):
        ModelSystem(parse_system("m=some/model:no_repeat_ngram_size=x")).translate(["a"], "en", "ja")
    with pytest.raises(InvalidRequest, match="repetition_penalty must be between 0.01 and 100"):
        ModelSystem(parse_system("m=some/model:repetition_penalty=0")).translate(["a"], "en", "ja")


def test_hypothesis_file_with_wrong_line_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    short = tmp_path / "short.txt"
    short.write_text("one\ntwo\nthree\n", encoding="utf-8")
    status = cli.main(
        ["quality", "--system", f"a=file:{short}", "--testset", FILES, "--limit", "10", "--output", str(tmp_path)]
    )
    assert status == 2
    error = capsys.readouterr().err
    assert (
        f"hypothesis file {short} has 3 lines but files-tatoeba_test_200:ja-en has 10 (or 200, the whole set)" in error
    )


def _libretranslate(fail_after: int, seen: list[list[str]]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if len(seen) >= fail_after:
            return httpx.Response(503, text="overloaded")
        seen.append(body["q"])
        return httpx.Response(200, json={"translatedText": [f"EN {q}" for q in body["q"]]})

    return httpx.MockTransport(handler)


def test_endpoint_failing_midway_retries_then_keeps_partial_results(tmp_path: Path) -> None:
    testset = resolve(FILES, {}, limit=6)
    spec = parse_system("lt=libretranslate+http://mt.example:batch=2,retries=2,backoff=0.5")
    seen: list[list[str]] = []
    waits: list[float] = []
    failing = HttpSystem(spec, {}, _libretranslate(fail_after=1, seen=seen), sleep=waits.append)
    options = QualityOptions(tmp_path, resamples=10, progress=False)
    with pytest.raises(
        SystemFailed, match=r"system 'lt' \(http://mt.example/translate\) failed 3 times; last: HTTP 503"
    ):
        run_quality([failing], [testset], options)
    assert waits == [0.5, 1.0]  # exponential backoff
    partial = tmp_path / "translations" / "lt" / "files-tatoeba_test_200.ja-en.partial.txt"
    assert partial.read_text(encoding="utf-8").splitlines() == [f"EN {s}" for s in testset.sources[:2]]

    resumed: list[list[str]] = []
    working = HttpSystem(spec, {}, _libretranslate(fail_after=99, seen=resumed))
    report = run_quality([working], [testset], options)
    assert resumed == [list(testset.sources[2:4]), list(testset.sources[4:6])]  # only what was missing
    assert report.results[0].sentences == 6 and not report.results[0].reused
    assert not partial.exists()

    again: list[list[str]] = []
    rerun = run_quality([HttpSystem(spec, {}, _libretranslate(99, again))], [testset], options)
    assert again == [] and rerun.results[0].reused  # a rerun only scores


def test_endpoint_down_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    status = cli.main(
        [
            "quality",
            "--system",
            f"down=libretranslate+{url}:retries=1,backoff=0.01",
            "--testset",
            FILES,
            "--limit",
            "3",
            "--output",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert status == 2
    error = capsys.readouterr().err
    assert f"system 'down' ({url}/translate) failed 2 times; last: ConnectError" in error
    assert "0 of 3 translations" in error


def _check_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 2000


@pytest.mark.integration
def test_quality_bench_against_our_server_through_libretranslate(
    start_server: Any, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    server = start_server()
    out = tmp_path / "report"
    argv = [
        "quality",
        "--system",
        f"server=libretranslate+{server.url}:batch=4",
        "--system",
        f"local={tiny_models['marian']}:compute_type=float32,beam=1,max_length=12",
        "--testset",
        FILES,
        "--limit",
        "10",
        "--resamples",
        "100",
        "--output",
        str(out),
        "--no-progress",
    ]
    assert cli.main(argv) == 0
    report = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    rows = {r["system"]: r for r in report["results"]}
    assert set(rows) == {"server", "local"} and all(r["sentences"] == 10 for r in rows.values())
    assert rows["server"]["comparison"] is None and set(rows["local"]["comparison"]) == {"BLEU", "chrF2", "TER"}
    assert all(0 <= r["score"]["chrf"] <= 100 and "tok:13a" in r["score"]["bleu_signature"] for r in rows.values())
    assert report["testsets"][0]["sentences"] == 10 and report["testsets"][0]["of"] == 200
    assert report["systems"][1]["model"]["path"] == str(tiny_models["marian"].resolve())
    assert report["machine"]["libraries"]["sacrebleu"]
    kept = (out / "translations" / "server" / "files-tatoeba_test_200.ja-en.txt").read_text(encoding="utf-8")
    assert len(kept.splitlines()) == 10
    markdown = (out / "quality.md").read_text(encoding="utf-8")
    assert "| system | BLEU | Δ BLEU |" in markdown and "| server |" in markdown and "| local |" in markdown
    assert "bs:100" in markdown
    _check_png(out / "quality.png")

    server.stop()  # the rerun must not need the server: the translations are kept
    assert cli.main(argv) == 0
    rerun = json.loads((out / "quality.json").read_text(encoding="utf-8"))
    assert all(r["reused"] for r in rerun["results"])
    assert [r["score"] for r in rerun["results"]] == [r["score"] for r in report["results"]]


@pytest.mark.integration
def test_speed_bench_over_compute_types(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    model = tiny_models["marian"]
    out = tmp_path / "speed"
    argv = ["speed", "--system", f"f32={model}:compute_type=float32", "--system", f"i8={model}:compute_type=int8"]
    argv += ["--testset", FILES, "--sentences", "10", "--batch-sizes", "1,5", "--beam-sizes", "2"]
    argv += ["--repeats", "1", "--max-length", "8", "--threads", "1", "--output", str(out)]
    assert cli.main(argv) == 0
    report = json.loads((out / "speed.json").read_text(encoding="utf-8"))
    cells = {(r["system"], r["batch_size"], r["beam_size"]): r for r in report["results"]}
    assert set(cells) == {("f32", 1, 2), ("f32", 5, 2), ("i8", 1, 2), ("i8", 5, 2)}
    for (system, _, _), row in cells.items():
        assert row["tokens_per_s"] > 0 and row["sentences_per_s"] > 0 and row["peak_rss_mb"] > 10
        assert 0 < row["latency_ms"]["p50"] <= row["latency_ms"]["p95"] and row["load_s"] > 0
        if system == "f32":
            assert row["speed_ratio"] == 1.0 and row["memory_ratio"] == 1.0
    assert cells[("i8", 5, 2)]["speed_ratio"] == pytest.approx(
        cells[("i8", 5, 2)]["tokens_per_s"] / cells[("f32", 5, 2)]["tokens_per_s"], rel=0.01
    )
    assert report["machine"]["cpu"] and report["settings"]["sentences"] == 10
    assert "| f32 | 1 | 2 |" in (out / "speed.md").read_text(encoding="utf-8")
    _check_png(out / "speed.png")


@pytest.mark.integration
@pytest.mark.slow
def test_speed_bench_transformers_against_ctranslate2(
    tiny_checkpoints: dict[str, Path], tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    argv = ["speed", "--system", f"ct2={tiny_models['marian']}:compute_type=float32"]
    argv += ["--system", f"torch=transformers:{tiny_checkpoints['marian']}"]
    argv += ["--testset", FILES, "--sentences", "6", "--batch-sizes", "3", "--beam-sizes", "1", "--repeats", "1"]
    argv += ["--max-length", "8", "--threads", "1", "--output", str(tmp_path)]
    assert cli.main(argv) == 0
    rows = {r["system"]: r for r in json.loads((tmp_path / "speed.json").read_text(encoding="utf-8"))["results"]}
    assert rows["torch"]["target_tokens"] > 0 and rows["torch"]["speed_ratio"] > 0
    # The same weights, tokens and greedy search: both engines produce the same number of target tokens.
    assert rows["torch"]["target_tokens"] == rows["ct2"]["target_tokens"]


@pytest.mark.parametrize(
    ("spec", "path", "answer"),
    [
        ("libretranslate+http://mt.example", "/translate", lambda texts: {"translatedText": texts}),
        ("deepl+https://mt.example", "/v2/translate", lambda texts: {"translations": [{"text": t} for t in texts]}),
        (
            "kakehashi+http://mt.example:beam=2",
            "/v1/translate",
            lambda texts: {"translations": [{"text": t} for t in texts]},
        ),
    ],
)
def test_each_endpoint_kind_speaks_its_api(spec: str, path: str, answer: Any) -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        body = json.loads(request.content)
        texts = body.get("q") or body.get("text") or body.get("texts")
        return httpx.Response(200, json=answer([f"{t}!\nnext line" for t in texts]))

    system = HttpSystem(parse_system(f"s={spec}"), {"DEEPL_AUTH_KEY": "secret"}, httpx.MockTransport(handler))
    assert system.translate(["猫", "犬"], "ja", "en") == ["猫!\nnext line", "犬!\nnext line"]
    (request,) = requests
    body = json.loads(request.content)
    assert request.url.path == path
    if "deepl" in spec:
        assert request.headers["authorization"] == "DeepL-Auth-Key secret"
        assert (body["source_lang"], body["target_lang"]) == ("JA", "EN-US")
    elif "kakehashi" in spec:
        assert body["options"] == {"beam_size": 2} and (body["source"], body["target"]) == ("ja", "en")
    else:
        assert body == {"q": ["猫", "犬"], "source": "ja", "target": "en", "format": "text"}


def test_a_client_error_is_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(403, json={"error": "invalid API key"})

    system = HttpSystem(parse_system("lt=libretranslate+http://mt.example"), {}, httpx.MockTransport(handler))
    with pytest.raises(SystemFailed, match=r"system 'lt' .* refused the request: HTTP 403: .*invalid API key"):
        system.translate(["猫"], "ja", "en")
    assert calls == [1]


def test_bench_registers_on_the_kakehashi_parser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="kakehashi")
    cli.add_bench_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", "testsets", "--json"])
    assert args.func(args) == 0
    names = {row["name"] for row in json.loads(capsys.readouterr().out)}
    assert {
        "flores200-devtest",
        "wmt23",
        "tatoeba-test",
        "wikikyoto-test",
        "wikikyoto-titles",
        "ntrex128",
        "bsd-test",
    } <= names


def test_reports_without_matplotlib_name_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mt import MissingDependency
    from mt.bench.report import write_reports

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    hyps = tmp_path / "hyps.txt"
    hyps.write_text("\n".join(_lines(EN, 10)) + "\n", encoding="utf-8")
    report = run_quality(
        [cli_system(f"a=file:{hyps}")], [resolve(FILES, {}, limit=10)], QualityOptions(tmp_path, progress=False)
    ).to_json()
    with pytest.raises(MissingDependency, match=r"pip install 'kakehashi\[bench\]'"):
        write_reports("quality", report, tmp_path / "out")
    # The JSON and the Markdown are written before the chart is drawn.
    assert json.loads((tmp_path / "out" / "quality.json").read_text(encoding="utf-8"))["results"][0]["sentences"] == 10
    assert "| a | 100.0 |" in (tmp_path / "out" / "quality.md").read_text(encoding="utf-8")


def cli_system(text: str) -> Any:
    from mt.bench.systems import open_system

    return open_system(parse_system(text), environ={})


@pytest.mark.parametrize(
    ("hypothesis", "reference", "lang", "stutter"),
    [
        ("3月3日の月3日に行われる。", "3月3日に行われる。", "ja", True),  # the stutter the issue quotes
        # the same words twice, as often as the reference has them: Japanese, not a stutter
        ("彼は本を読んでいる。彼女も本を読んでいる。", "彼は本を読んでいて、彼女も本を読んでいる。", "ja", False),
        ("京都にある寺である。", "京都の寺である。", "ja", False),  # a character run such as である once each
        ("The temple of the temple of the temple.", "The temple.", "en", True),
        ("He said that he said that.", "He said that he said that.", "en", False),
    ],
)
def test_decoding_counts_repeats_the_reference_lacks(
    monkeypatch: pytest.MonkeyPatch, hypothesis: str, reference: str, lang: str, stutter: bool
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from decoding import stutters

    from mt._japanese import ContentWords

    tokeniser = ContentWords()
    assert stutters(hypothesis, reference, lambda text: tokeniser.words(text, lang, content_only=False)) is stutter


def test_the_relay_report_gives_each_run_its_compute_and_the_last_dev_score_within_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from relay_report import run_rows

    def record(start: int, end: int, **extra: Any) -> dict[str, Any]:
        return {
            "started": "2026-12-07T05:00:00Z",
            "device": "cpu",
            "threads": 1,
            "precision": "float32",
            "batch_tokens": 4000,
            "learning_rate": 3e-4,
            "from_step": start,
            "to_step": end,
            "from_minutes": start / 10,
            "to_minutes": end / 10,
            **extra,
        }

    history = {
        "runs": [
            record(0, 100),
            record(100, 150, accumulate=4, cpu_minutes=9.5),
            record(150, 160, added_corpora=2, moments="factored"),
        ],
        "history": [{"step": 50, "mean_chrf": 20.0}, {"step": 90, "mean_chrf": 21.0}, {"step": 120, "mean_chrf": 22}],
    }
    summary = {"steps": 160, "chosen_weights": "last", "dev_scores": {"last": {"mean_chrf": 23.5}}}
    first, second, third = run_rows(history, summary)
    assert first["last_dev_evaluation"] == {"step": 90, "mean_chrf": 21.0} and first["cpu_minutes"] is None
    assert second["tokens_per_step"] == 16000 and second["cpu_minutes"] == 9.5 and second["wall_minutes"] == 5.0
    assert second["last_dev_evaluation"] == {"step": 120, "mean_chrf": 22}
    assert third["last_dev_evaluation"] == {"step": 160, "mean_chrf": 23.5}  # the shipped model's own score
    assert (first["added_corpora"], first["moments"]) == (0, None)
    assert (third["added_corpora"], third["moments"]) == (2, "factored")


def test_relay_experiment_reports_each_arm_from_the_common_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from relay_experiment import arm_report, markdown, scores_by_testset

    def evaluation(step: int, minutes: float, chrf: float) -> dict[str, Any]:
        return {
            "ja-en": {"chrf": chrf + 10},
            "en-ja": {"chrf": chrf - 10},
            "mean_chrf": chrf,
            "step": step,
            "minutes": minutes,
        }

    run = {
        "step": 160,
        "runs": [
            {"from_step": 0, "to_step": 100, "from_minutes": 0, "to_minutes": 50, "batch_tokens": 4000},
            {
                "from_step": 100,
                "to_step": 160,
                "from_minutes": 50,
                "to_minutes": 80,
                "cpu_minutes": 29.5,
                "batch_tokens": 4000,
                "accumulate": 4,
                "learning_rate": 3e-4,
                "added_corpora": 1,
                "corpus_weights": {"wikikyoto": 0.5},
            },
        ],
        "history": [evaluation(90, 45, 30.0), evaluation(130, 65, 31.0), evaluation(160, 80, 31.5)],
    }
    arm = arm_report(run, 100, {"added_train": ["tsv:data/corpora/kyotolexicon.train.tsv.gz"]})
    assert (arm["steps"], arm["wall_minutes"], arm["cpu_minutes"]) == (60, 30, 29.5)
    assert [(e["minutes"], e["steps"], e["mean chrF"]) for e in arm["dev_evaluations"]] == [
        (15, 30, 31.0),
        (30, 60, 31.5),
    ]
    assert arm["settings"]["added_corpora"] == 1
    with pytest.raises(SystemExit, match="no session that began at or after step 170"):
        arm_report(run, 170, {})
    quality = {
        "testsets": [{"key": "wikikyoto-titles:ja-en"}],
        "results": [
            {
                "system": "base",
                "testset": "wikikyoto-titles:ja-en",
                "sentences": 150,
                "score": {"bleu": 27.4, "chrf": 54.3},
            },
            {
                "system": "lexicon",
                "testset": "wikikyoto-titles:ja-en",
                "sentences": 150,
                "score": {"bleu": 30.1, "chrf": 57.0},
                "comparison": {"BLEU": {"p_value": 0.01}, "chrF2": {"p_value": 0.02}},
            },
        ],
    }
    tests = scores_by_testset(quality, ["base", "lexicon"])
    assert tests[0]["lexicon"]["p_chrF"] == 0.02 and tests[0]["base"]["p_BLEU"] is None
    text = markdown(
        {"lexicon": {"since": 100, "date": "2026-12-07", "note": "n", "arms": {"lexicon": arm}, "tests": tests}}
    )
    assert "kyotolexicon.train.tsv.gz" in text and "| 15: 31.0 (41.0 / 21.0); 30: 31.5 (41.5 / 21.5) |" in text
    assert "corpora weighted wikikyoto ×0.5" in text


def test_ship_gate_pools_the_run_dev_wiki_kyoto_dev_and_tatoeba_gate_by_sentences(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from ship_gate import decide, gate_rows

    def run_dev(ja_en: float, en_ja: float, sentences: int = 250) -> dict[str, Any]:
        return {"ja-en": {"chrf": ja_en, "sentences": sentences}, "en-ja": {"chrf": en_ja, "sentences": sentences}}

    def quality(candidate: float, shipped: float) -> dict[str, Any]:
        return {
            "results": [
                {"system": system, "testset": testset, "sentences": 1000, "score": {"chrf": chrf}}
                | ({"comparison": {"chrF2": {"p_value": 0.04}}} if system == "candidate" else {})
                for testset in (
                    "wikikyoto-dev:ja-en",
                    "wikikyoto-dev:en-ja",
                    "tatoeba-gate:ja-en",
                    "tatoeba-gate:en-ja",
                )
                for system, chrf in (("candidate", candidate), ("shipped", shipped))
            ]
        }

    # +1.0 chrF on the small run dev set does not outweigh -0.3 on eight times as many Wiki Kyoto and Tatoeba
    # sentences ...
    kept = decide(gate_rows(run_dev(44.0, 24.0), run_dev(43.0, 23.0), quality(44.7, 45.0)), 0.01)
    assert (
        kept["pooled_chrf_gain"] == pytest.approx((2 * 250 * 1.0 - 4 * 1000 * 0.3) / 4500, abs=1e-3)
        and not kept["ship"]
    )
    assert [r["set"] for r in kept["rows"]][::3] == ["run dev ja-en", "wikikyoto-dev en-ja"]
    assert [r["set"] for r in kept["rows"]][4:] == ["tatoeba-gate ja-en", "tatoeba-gate en-ja"]
    assert kept["rows"][2]["p_chrF"] == 0.04 and kept["rows"][0]["p_chrF"] is None
    # ... -0.1 does (the candidate named as in a report of several candidates), when the pooled bootstrap finds
    # the gain beyond noise.
    renamed = json.loads(json.dumps(quality(44.9, 45.0)).replace('"candidate"', '"cooldown"'))
    rows = gate_rows(run_dev(44.0, 24.0), run_dev(43.0, 23.0), renamed, "cooldown")
    assert decide(rows, 0.01)["ship"] and decide(rows, 0.01)["pooled_p"] == 0.01
    assert not decide(rows, 0.2)["ship"] and decide(rows, 0.2, alpha=0.25)["ship"]
    with pytest.raises(SystemExit, match="different run dev sets"):
        gate_rows(run_dev(44.0, 24.0, 300), run_dev(43.0, 23.0), quality(44.9, 45.0))
    with pytest.raises(SystemExit, match="no scores of both systems on wikikyoto-dev:ja-en"):
        gate_rows(run_dev(44.0, 24.0), run_dev(43.0, 23.0), {"results": []})


def test_the_pooled_gain_is_each_sets_corpus_gain_weighted_by_sentences_with_a_paired_bootstrap() -> None:
    from mt._evaluation import pooled_chrf_gain, score_corpus

    references = ["The cat sat on the mat.", "I like green tea.", "Kyoto has many temples.", "He walked home."] * 30
    worse = ["A cat sat on a mat.", "I like tea.", "Kyoto has temples.", "He went home."] * 30
    better = ["The cat sat on the mat.", "I like green tea.", "Kyoto has many temples.", "He walked."] * 30
    corpus_gain = score_corpus(better, references, "en").chrf - score_corpus(worse, references, "en").chrf
    clear = pooled_chrf_gain([(worse, better, references)], resamples=200)
    assert clear.gain == pytest.approx(corpus_gain, abs=0.01) and clear.p_value == 1 / 201
    assert pooled_chrf_gain([(better, worse, references)], resamples=200).p_value == 1.0
    # A second set with no difference halves the pooled gain; a fixed row counts by its sentences.
    same = pooled_chrf_gain([(worse, better, references), (worse, worse, references)], resamples=200)
    assert same.gain == pytest.approx(corpus_gain / 2, abs=0.01) and same.sentences == 240
    fixed = pooled_chrf_gain([(worse, worse, references)], fixed=[(-1.0, 120)], resamples=200)
    assert fixed.gain == -0.5 and fixed.p_value == 1.0
    # One sentence of 120 better, the rest alike: a gain above zero, but not one the resamples can trust.
    one = list(worse)
    one[0] = better[0]
    assert 0 < pooled_chrf_gain([(worse, one, references)], resamples=200).p_value > 0.05
    with pytest.raises(InvalidRequest, match="candidate hypotheses"):
        pooled_chrf_gain([(worse, better[:-1], references)])


@pytest.mark.integration
def test_ship_gate_translates_its_dev_sets_with_both_models(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import shutil

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from ship_gate import main as ship_gate

    kyoto = tmp_path / "data" / "train" / "wiki_kyoto_2.01"
    kyoto.mkdir(parents=True)
    (kyoto / "wikikyoto.dev.tsv").write_text(
        "id\tja\ten\nBDS1:s1\t寺である。\tIt is a temple.\nBDS1:s2\t京都の寺。\tA temple in Kyoto.\n", encoding="utf-8"
    )
    tatoeba = tmp_path / "data" / "testsets" / "tatoeba-test"
    tatoeba.mkdir(parents=True)
    # 1,013 pairs: the reports' first 1,000, then the gate's every 12th (pairs 1,000 and 1,012).
    for lang, line in (("ja", "寺です。"), ("en", "It is a temple.")):
        (tatoeba / f"tatoeba-test-v2021-08-07.eng-jpn.{lang}").write_text(f"{line}\n" * 1013, encoding="utf-8")
    monkeypatch.setenv("KAKEHASHI_DATA_DIR", str(tmp_path / "data"))
    models = {}
    for name, run_dev_chrf in (("shipped", 30.0), ("candidate", 30.5)):
        models[name] = shutil.copytree(tiny_models["marian"], tmp_path / name)
        manifest = json.loads((models[name] / "kakehashi.json").read_text())
        scores = {d: {"chrf": run_dev_chrf, "sentences": 250} for d in ("ja-en", "en-ja")}
        manifest["training"] = {"summary": {"chosen_weights": "last", "dev_scores": {"last": scores}}}
        if name == "shipped":
            # Its recommended decoding changes what the untrained weights say; the gate gives it to both models.
            manifest["decoding"] = {"no_repeat_ngram_size": 1}
        (models[name] / "kakehashi.json").write_text(json.dumps(manifest))
    argv = [str(models["candidate"]), "--shipped", str(models["shipped"]), "--output", str(tmp_path / "gate")]
    # The same weights translate the dev split alike, so the run dev set's +0.5 decides.
    assert ship_gate([*argv, "--threads", "1", "--no-progress"]) == 0
    gate = json.loads((tmp_path / "gate" / "ship_gate_candidate.json").read_text())
    assert [(r["set"], r["sentences"]) for r in gate["rows"]][2:] == [
        ("wikikyoto-dev ja-en", 2),
        ("wikikyoto-dev en-ja", 2),
        ("tatoeba-gate ja-en", 2),
        ("tatoeba-gate en-ja", 2),
    ]
    assert gate["rows"][2]["candidate"] == gate["rows"][2]["shipped"] and gate["ship"]
    assert "ship it" in capsys.readouterr().out
    for name in ("shipped", "candidate"):
        note = json.loads((tmp_path / "gate" / "translations" / name / "wikikyoto-dev.ja-en.json").read_text())
        assert note["system"].split("|")[0].endswith(",no_repeat_ngram_size=1")


def test_ship_keeps_the_recommended_decoding_of_the_model_it_replaces(
    tiny_models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "data" / "models"))
    import ship

    monkeypatch.setattr(ship, "HERE", tmp_path / "models")
    (tmp_path / "models").mkdir()

    def shipped_decoding(decoding: dict[str, Any] | None) -> dict[str, Any]:
        target = ship.ship(tiny_models["marian"], default=True, decoding=decoding)
        return json.loads((target / "kakehashi.json").read_text(encoding="utf-8"))["decoding"]

    assert shipped_decoding(None) == {}
    assert shipped_decoding({"no_repeat_ngram_size": 4}) == {"no_repeat_ngram_size": 4}
    assert shipped_decoding(None) == {"no_repeat_ngram_size": 4}
    assert "carried over from the model it replaces" in capsys.readouterr().out
    assert shipped_decoding({}) == {}
    assert 'name = "tiny-marian"' in (tmp_path / "models" / "registry.toml").read_text(encoding="utf-8")


def test_a_half_written_translation_note_means_translate_again(tmp_path: Path) -> None:
    """Two runs sharing an output folder: one may read a note while the other writes it."""

    from mt.bench.quality import TranslationStore

    system = SimpleNamespace(spec=SimpleNamespace(name="shipped"), identity=lambda source, target: {"model": "m"})
    testset = SimpleNamespace(name="wikikyoto-dev", pair="ja-en", sources=("寺。",), source_lang="ja", target_lang="en")
    store = TranslationStore(tmp_path, system, testset)  # type: ignore[arg-type]
    store.start(0)
    store.append(["A temple."])
    store.finish(1.5)
    assert store.finished() == (["A temple."], 1.5)
    assert [p.name for p in store.note.parent.iterdir() if p.suffix == ".tmp"] == []
    store.note.write_text("", encoding="utf-8")  # what a reader saw mid-write before notes were renamed into place
    assert store.finished() is None and store.resume() == []
