"""``kakehashi train``: train a translation model from scratch, or fine-tune a checkpoint (the ``train`` extra).

The recipe, in order:

1. load and clean the corpora (provenance ids kept), hold out a dev slice from corpora that have no dev split
   (:mod:`.data`), and store the tokenised result in the work directory (:mod:`.storage`);
2. from scratch: train the vocabulary (:mod:`.vocabulary`) — a joint sentencepiece model laid out the
   Marian way, or a byte-level BPE tokenizer for decoder-only models;
3. one :class:`~mt.training.recipes.Recipe` per architecture (:mod:`.recipes`) builds the model and its loss;
4. the loop (:mod:`.loop`): length-bucketed token batches, label smoothing, warm-up then inverse-square-root
   decay, gradient clipping, dev evaluation through CTranslate2 (:mod:`.evaluation`), keep-best, resuming from
   ``WORK_DIR/state.pt`` with a typed run state (:mod:`.state`) and a time budget that spans resumed runs;
5. export (:mod:`.export`): the best of the last, best and averaged weights, converted with a manifest naming
   the corpora;
6. the relay checkpoint (:mod:`.relay`) continues a run on another machine; :mod:`.cli` is the command line.

Nothing here imports torch until a function needs it, and this package imports none of its modules, so that the
command line registers ``train`` without loading training code.
"""
