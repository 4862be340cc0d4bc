#!/usr/bin/env bash
# Rerun every report in benchmarks/results from the two training runs' work directories.
#   benchmarks/reproduce.sh [MARIAN_WORK_DIR] [LLM_WORK_DIR]
# Needs the shipped models in data/models and the export-hf checkpoints the training runs leave in their work dirs.
# LIMIT (default 1000) caps the sentences per test set; REDIS_URL (default redis://127.0.0.1:6379/15) caches the
# HTTP load run.
set -euo pipefail
cd "$(dirname "$0")/.."
MARIAN=${1:-$HOME/.cache/kakehashi/train/ja-en-v2}
LLM=${2:-$HOME/.cache/kakehashi/train/llm-v2}
LIMIT=${LIMIT:-1000}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}
PY=.venv/bin/python
R=benchmarks/results
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$R"

for run in "$MARIAN:training_ja_en:kakehashi-ja-en" "$LLM:training_llm_ja_en:kakehashi-llm-ja-en"; do
  IFS=: read -r dir name model <<< "$run"
  $PY benchmarks/plot_training.py "$dir/history.json" --output "$R/$name.png"
  # The configuration and summary as the shipped manifest records them, with the dev evaluations over time.
  $PY -c 'import json, sys
training = json.load(open(sys.argv[2]))["training"]
training["dev_evaluations"] = json.load(open(sys.argv[1]))["history"]
json.dump(training, open(sys.argv[3], "w"), indent=1, ensure_ascii=False)' \
    "$dir/history.json" "data/models/$model/kakehashi.json" "$R/$name.json"
done

$PY benchmarks/float32_twin.py "$MARIAN/export-hf" --like data/models/kakehashi-ja-en --output "$TMP/marian-float32"
$PY benchmarks/float32_twin.py "$LLM/export-hf" --like data/models/kakehashi-llm-ja-en --output "$TMP/llm-float32"
$PY benchmarks/quality.py --limit "$LIMIT" --output "$R/quality.json" \
  --model int8=data/models/kakehashi-ja-en --model float32="$TMP/marian-float32"
# One thread: this ran beside the encoder-decoder's last training minutes. Speed is compared in engine_speed*.json.
$PY benchmarks/quality.py --limit "$LIMIT" --threads 1 --output "$R/quality_llm.json" \
  --model llm-int8=data/models/kakehashi-llm-ja-en --model llm-float32="$TMP/llm-float32"
$PY benchmarks/engine_speed.py --checkpoint "$MARIAN/export-hf" --like data/models/kakehashi-ja-en \
  --output "$R/engine_speed.json"
$PY benchmarks/engine_speed.py --checkpoint "$LLM/export-hf" --like data/models/kakehashi-llm-ja-en --beam 1 \
  --output "$R/engine_speed_llm.json"
$PY benchmarks/http_load.py --redis-url "$REDIS_URL" --output "$R/http_load.json"
$PY benchmarks/summarize.py
