#!/usr/bin/env bash
# Rerun every report in benchmarks/results from the two training runs' work directories.
#   benchmarks/reproduce.sh [MARIAN_WORK_DIR] [LLM_WORK_DIR]
# Needs the shipped models in data/models and the export-hf checkpoints the training runs leave in their work dirs.
# LIMIT (default 1000) caps the sentences per test set; REDIS_URL (default redis://127.0.0.1:6379/15) caches the
# HTTP load run; WORK (default ~/.cache/kakehashi/bench) keeps the translations between runs. Test sets are read from
# KAKEHASHI_DATA_DIR (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
MARIAN=${1:-$HOME/.cache/kakehashi/train/kakehashi-ja-en}
LLM=${2:-$HOME/.cache/kakehashi/train/llm-v2}
LIMIT=${LIMIT:-1000}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}
WORK=${WORK:-$HOME/.cache/kakehashi/bench}
PY=.venv/bin/python
R=benchmarks/results
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$R"

for run in "$MARIAN:training_ja_en:kakehashi-ja-en" "$LLM:training_llm_ja_en:kakehashi-llm-ja-en"; do
  IFS=: read -r dir name model <<< "$run"
  $PY benchmarks/plot_training.py "$dir/history.json" --output "$R/$name.png" \
    --manifest "data/models/$model/kakehashi.json"
  # The configuration and summary as the shipped manifest records them, with the dev evaluations over time.
  $PY -c 'import json, sys
training = json.load(open(sys.argv[2]))["training"]
training["dev_evaluations"] = json.load(open(sys.argv[1]))["history"]
json.dump(training, open(sys.argv[3], "w"), indent=1, ensure_ascii=False)' \
    "$dir/history.json" "data/models/$model/kakehashi.json" "$R/$name.json"
done

$PY benchmarks/float32_twin.py "$MARIAN/export-hf" --like data/models/kakehashi-ja-en --output "$TMP/marian-float32"
$PY benchmarks/float32_twin.py "$LLM/export-hf" --like data/models/kakehashi-llm-ja-en --output "$TMP/llm-float32"
# Translations are kept in $WORK and reused while a system's spec and weights are unchanged, so a rerun after a
# failure only translates what is missing. (The float32 twins are converted afresh into $TMP, so theirs are redone.)
TESTSETS=()
for set in tatoeba-test wikikyoto-test flores200-devtest wmt20; do TESTSETS+=(--testset "$set:ja-en" --testset "$set:en-ja"); done
$PY -m mt.bench quality --limit "$LIMIT" --output "$WORK/quality" --no-progress "${TESTSETS[@]}" \
  --system int8=data/models/kakehashi-ja-en:beam=4,threads=2 \
  --system float32="$TMP/marian-float32:beam=4,compute_type=float32,threads=2" \
  --system llm-int8=data/models/kakehashi-llm-ja-en:beam=4,threads=2 \
  --system llm-float32="$TMP/llm-float32:beam=4,compute_type=float32,threads=2"
# transformers first: the speed ratios are against PyTorch, measured in the same run.
$PY -m mt.bench speed --output "$WORK/speed" --testset tatoeba-test:ja-en --sentences 200 --threads 2 \
  --batch-sizes 1,8,32 --beam-sizes 1,4 \
  --system transformers="transformers:$MARIAN/export-hf:like=data/models/kakehashi-ja-en" \
  --system ctranslate2-float32="$TMP/marian-float32:compute_type=float32" \
  --system ctranslate2-int8=data/models/kakehashi-ja-en:compute_type=int8
$PY -m mt.bench speed --output "$WORK/speed_llm" --testset tatoeba-test:ja-en --sentences 200 --threads 2 \
  --batch-sizes 1,8,32 --beam-sizes 1 \
  --system transformers="transformers:$LLM/export-hf:like=data/models/kakehashi-llm-ja-en" \
  --system ctranslate2-float32="$TMP/llm-float32:compute_type=float32" \
  --system ctranslate2-int8=data/models/kakehashi-llm-ja-en:compute_type=int8
for report in quality speed; do cp "$WORK/$report/$report".{json,md,png} "$R/"; done
for kind in json md png; do cp "$WORK/speed_llm/speed.$kind" "$R/speed_llm.$kind"; done
# The reports these replace (written by the former quality.py and engine_speed.py).
rm -f "$R/quality_llm.json" "$R/engine_speed.json" "$R/engine_speed_llm.json"
$PY benchmarks/http_load.py --redis-url "$REDIS_URL" --output "$R/http_load.json"
$PY benchmarks/summarize.py
