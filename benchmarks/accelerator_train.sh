#!/usr/bin/env bash
# The default model's larger configuration (d 384, 6+6 layers, all Wiki Kyoto and Tatoeba pairs, bfloat16 mixed
# precision), trained on a lent GPU from a work directory prepared on the CPU machine, in runs of a few minutes
# each; every run ends with a relay checkpoint that the next run (on a GPU or a CPU) continues.
#
#   here:        benchmarks/accelerator_train.sh prepare .gpu/work           # tokenise the corpora (CPU, minutes)
#   on the GPU:  benchmarks/accelerator_train.sh train .gpu/work OUT 8       # 8 minutes of training → OUT/
#   here again:  benchmarks/accelerator_train.sh join OUT CHECKPOINT_DIR     # reassemble the relay checkpoint
#
# OUT holds the relay checkpoint with state.pt cut into parts of 15 MB (what a lent machine can hand back).
# A later run continues with: kakehashi train --resume CHECKPOINT_DIR --device cuda --precision bfloat16 …
set -euo pipefail
cd "$(dirname "$0")/.."
KAKEHASHI=${KAKEHASHI:-"python3 -m mt.cli"}
CORPORA=(
  --train tatoeba:../shared/data/train/tatoeba_manythings_jpn-eng_2022-05-02/jpn.train.txt
  --train tsv:../shared/data/train/wiki_kyoto_2.01/wikikyoto.train.tsv.gz
)
MODEL=(
  --name kakehashi-ja-en --vocab-size 8000 --d-model "${D_MODEL:-384}" --encoder-layers "${LAYERS:-6}"
  --decoder-layers "${LAYERS:-6}" --heads "${HEADS:-6}" --ffn-dim "${FFN:-1536}" --max-tokens 128
  --license "CC-BY-SA-3.0 (Wiki Kyoto) and CC-BY-2.0-FR (Tatoeba)"
)
case "${1:-}" in
  prepare)
    work=$2
    $KAKEHASHI train "${CORPORA[@]}" "${MODEL[@]}" --work-dir "$work" --prepare-only
    ;;
  train)
    work=$2 out=$3 minutes=${4:-8}
    if [ -f "$work/resume/config.json" ]; then
      from=(--resume "$work/resume")
    else
      from=("${CORPORA[@]}" "${MODEL[@]}")
    fi
    PYTHONUNBUFFERED=1 $KAKEHASHI -v train "${from[@]}" --work-dir "$work" --device "${DEVICE:-cuda}" \
      --precision "${PRECISION:-bfloat16}" --batch-tokens "${BATCH_TOKENS:-16000}" --lr "${LR:-7e-4}" \
      --warmup "${WARMUP:-1000}" --minutes "$minutes" --eval-minutes 0 --checkpoint-minutes 1 --no-export \
      --pack "$work/packed" ${EXTRA:-}
    mkdir -p "$out"
    cp "$work/packed/config.json" "$work/packed/history.json" "$work/packed/spm.model" "$work/packed/spm.vocab" "$out/"
    split -b 15000000 -d "$work/packed/state.pt" "$out/state.pt.part"
    ls -la "$out"
    ;;
  join)
    out=$2 checkpoint=$3
    mkdir -p "$checkpoint"
    cp "$out/config.json" "$out/history.json" "$out/spm.model" "$out/spm.vocab" "$checkpoint/"
    cat "$out"/state.pt.part* > "$checkpoint/state.pt"
    echo "relay checkpoint in $checkpoint"
    ;;
  *)
    echo "usage: $0 prepare WORK | train WORK OUT [MINUTES] | join OUT CHECKPOINT_DIR" >&2
    exit 2
    ;;
esac
