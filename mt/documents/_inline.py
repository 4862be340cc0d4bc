"""Units with inline markup and placeholders: translated as whole sentences, restored exactly.

A unit is text in which some spans must come back unchanged: the inline tags a format module writes for its
markup (``<g1>…</g1>`` around a span, ``<x1/>`` for a kept element), other tag-like spans, and the placeholders
of software strings (``{{name}}``, ``{0}``, ``%s``, ``%1$s``, ``${var}``, ``:emoji:``). :func:`translate_units`
replaces each such span by a Latin capital the sentence does not contain (``X``, ``Y``, …), which the models copy
through as a name (the glossary's measured choice, ``mt/_glossary.py``), translates the sentence whole, and puts
the spans back. When the model lost, duplicated or reordered a span so that the tags no longer nest:

* a unit whose spans are all markup is translated again as a plain sentence, with the text inside each pair of
  tags on its own; the tags go around that text's translation where the sentence's translation contains it (a
  pair not found is left out: the sentence stays whole, only that formatting is lost), and standalone elements go
  to the same relative place (at a word boundary);
* a unit with placeholders (which must all come back) is translated piecewise: each run of text between spans on
  its own, the spans kept in place.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

# The spans that are never translated. Recognising them inside a text is tokenising a string that has no
# grammar of its own, so a regular expression is the parser here (formats themselves are parsed by libraries).
_PROTECTED = re.compile(
    r"""
      \{\{[^{}\n]{1,80}\}\}                                        # {{name}}
    | \$\{[^{}\n]{1,80}\}                                          # ${var}
    | \{[A-Za-z0-9_.]{0,40}\}                                      # {0}, {name}, {}
    | %(?:\d+\$)?(?:\([A-Za-z_]\w*\))?[-+#0]*\d*(?:\.\d+)?[sdifuxXeEgGcr@]   # %s, %1$s, %(name)s, %.2f
    | %%
    | :[a-z0-9_+-]*[a-z][a-z0-9_+-]*:                              # :emoji:
    | <!--.*?-->
    | </?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>                          # inline tags
    """,
    re.VERBOSE | re.DOTALL,
)
# The tokens format modules write for inline markup (see :class:`InlineBuilder`).
_TOKEN = re.compile(r"<(/?)g(\d+)>|<x(\d+)/>")
_TAG_NAME = re.compile(r"<(/?)([A-Za-z][\w:.-]*)")
# Stand-ins the models copy through as names (mt/_glossary.py measured them); a unit uses those it lacks.
MASKS = ("X", "Y", "Z", "W", "V", "Q", "K", "J", "U")
_VOID_TAGS = frozenset(
    "area base br col embed hr img input link meta source track wbr".split()
)  # HTML tags that never close


def _mask_pattern(mask: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z]){mask}(?![A-Za-z])")


_MASK_RES = {m: _mask_pattern(m) for m in MASKS}


def has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def split_protected(unit: str) -> list[tuple[bool, str]]:
    """``unit`` as (protected, text) parts in order: protected spans and the text between them."""
    parts: list[tuple[bool, str]] = []
    cursor = 0
    for match in _PROTECTED.finditer(unit):
        if match.start() > cursor:
            parts.append((False, unit[cursor : match.start()]))
        parts.append((True, match.group()))
        cursor = match.end()
    if cursor < len(unit):
        parts.append((False, unit[cursor:]))
    return parts


def plain_text(unit: str) -> str:
    """``unit`` without its protected spans: what its language is detected on (masks would mislead it)."""
    return "".join(text for protected, text in split_protected(unit) if not protected)


def translate_by_language(
    units: Sequence[str], translate: Callable[[list[str], str], list[str]], detect: Callable[[str], str]
) -> list[str]:
    """:func:`translate_units` with the source language detected per unit on its plain text (the pipeline would
    detect it on the masked sentence, where the stand-ins for tags read as Latin words): ``translate(texts,
    language)`` is called per language found."""
    plain = {unit: plain_text(unit) for unit in dict.fromkeys(units)}
    languages = {unit: detect(text) if has_letters(text) else "" for unit, text in plain.items()}
    done: dict[str, str] = {}
    for language in dict.fromkeys(languages.values()):
        group = [unit for unit, found in languages.items() if found == language]
        if not language:
            done.update((unit, unit) for unit in group)
            continue
        done.update(zip(group, translate_units(group, functools.partial(_in_language, translate, language))))
    return [done[unit] for unit in units]


def _in_language(translate: Callable[[list[str], str], list[str]], language: str, texts: list[str]) -> list[str]:
    return translate(texts, language)


def _tag_role(span: str) -> tuple[str, str] | None:
    """("open"|"close", name) for a paired tag span; None for anything that stands alone."""
    if span.startswith("<!--") or span.endswith("/>"):
        return None
    match = _TAG_NAME.match(span)
    if match is None:
        return None
    name = match[2].lower()
    if name in _VOID_TAGS:
        return None
    return ("close" if match[1] else "open"), name


def tags_nest(spans: Sequence[str]) -> bool:
    """Whether the paired tags among ``spans`` open and close properly nested (as they did in the source)."""
    stack: list[str] = []
    for span in spans:
        role = _tag_role(span)
        if role is None:
            continue
        kind, name = role
        if kind == "open":
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


def _edge(text: str) -> tuple[str, str, str]:
    core = text.strip()
    if not core:
        return text, "", ""
    start = text.index(core)
    return text[:start], core, text[start + len(core) :]


@dataclass
class _Plan:
    lead: str
    core: str
    trail: str
    parts: list[tuple[bool, str]]
    masked: str | None  # the sentence with spans replaced by masks, or None: piecewise only
    masks: list[tuple[str, str]]  # (mask, span) in order
    padded: list[tuple[bool, bool]] = field(default_factory=list)  # per mask: a space added before, after


def _plan(unit: str) -> _Plan | None:
    lead, core, trail = _edge(unit)
    parts = split_protected(core)
    if not any(not protected and has_letters(text) for protected, text in parts):
        return None  # nothing to translate: numbers, punctuation, spans only
    spans = [text for protected, text in parts if protected]
    if not spans:
        return _Plan(lead, core, trail, parts, core, [])
    plain = "".join(text for protected, text in parts if not protected)
    free = [m for m in MASKS if not _MASK_RES[m].search(plain)]
    if len(spans) > len(free):
        return _Plan(lead, core, trail, parts, None, [])
    masks = list(zip(free, spans))
    pieces = iter(masks)
    out: list[str] = []
    padded: list[tuple[bool, bool]] = []
    last_was_mask = False
    for protected, text in parts:
        if protected:
            # A mask touching a Latin letter or digit would read as part of that word: set it apart (and
            # remember, so that the space is taken out again).
            before = bool(out) and out[-1][-1:].isascii() and out[-1][-1:].isalnum()
            if before and last_was_mask:
                padded[-1] = (padded[-1][0], True)  # the space between two masks belongs to both
            out.append((" " if before else "") + next(pieces)[0])
            padded.append((before, False))
            last_was_mask = True
            continue
        if padded and last_was_mask and text[:1].isascii() and text[:1].isalnum():
            padded[-1] = (padded[-1][0], True)
            text = " " + text
        out.append(text)
        last_was_mask = False
    return _Plan(lead, core, trail, parts, "".join(out), masks, padded)


def _restore(translation: str, plan: _Plan) -> str | None:
    """The translation with its masks replaced by the spans, or None when a mask is missing, doubled, or the
    tags no longer nest."""
    found: list[tuple[int, int, str, bool, bool]] = []
    for (mask, span), (pad_before, pad_after) in zip(plan.masks, plan.padded):
        hits = list(_MASK_RES[mask].finditer(translation))
        if len(hits) != 1:
            return None
        found.append((hits[0].start(), hits[0].end(), span, pad_before, pad_after))
    found.sort()
    if not tags_nest([span for _, _, span, _, _ in found]):
        return None
    out: list[str] = []
    cursor = 0
    for start, end, span, pad_before, pad_after in found:
        before = translation[cursor:start]
        stripped = before.rstrip()
        space_before = len(stripped) < len(before) and not (
            pad_before and before.endswith(" ") and not before.endswith("  ")
        )
        after_end = end
        while after_end < len(translation) and translation[after_end].isspace():
            after_end += 1
        space_after = after_end > end and not (pad_after and after_end == end + 1)
        role = _tag_role(span)
        if role is not None and role[0] == "open":
            # "is X important Y." → "is <b>important</b>.": spaces go outside the tags they surround.
            out.append(stripped + (" " if (space_before or space_after) and stripped else "") + span)
            cursor = after_end
        elif role is not None:
            out.append(stripped + span)
            following = translation[after_end : after_end + 1]
            if (space_before or space_after) and following and following not in ".,;:!?)":
                out.append(" ")
            cursor = after_end
        else:
            out.append((stripped + " " if space_before else stripped) + span)
            if space_after:
                out.append(" ")
            cursor = after_end
    out.append(translation[cursor:])
    return "".join(out)


def _piece_edges(text: str) -> tuple[str, str, str]:
    return _edge(text)


def translate_units(units: Sequence[str], translate: Callable[[list[str]], list[str]]) -> list[str]:
    """Translate ``units``, keeping their inline tags and placeholders.

    Identical units are translated once. ``translate`` is called at most three times: with the whole sentences
    (spans masked); for units whose translation lost a span and whose spans are all paired tags, with the
    sentences without tags and the text inside each pair, whose translation is then looked for in the sentence's
    (tags go around it; a pair not found is left out, the sentence stays whole); for units with other spans
    (placeholders, kept elements), with the pieces between the spans.

    Args:
        units: Texts as :attr:`Document.units` gives them (or any texts with placeholders or tags).
        translate: Translates plain texts, in order (for example a closure over ``Kakehashi.translate``).

    Returns:
        One translation per unit, in order; leading and trailing whitespace, tags and placeholders as in the unit.
        A unit with nothing to translate (no letters outside its spans) comes back unchanged.
    """
    return translate_units_traced(units, translate)[0]


def translate_units_traced(
    units: Sequence[str], translate: Callable[[list[str]], list[str]]
) -> tuple[list[str], dict[str, list[str]]]:
    """:func:`translate_units`, and for each unit the texts that were given to ``translate`` for it (so that a
    caller can attribute what ``translate`` reported about those texts to the units and their documents)."""
    unique = list(dict.fromkeys(units))
    plans = {unit: _plan(unit) for unit in unique}
    first = list(dict.fromkeys(p.masked for p in plans.values() if p is not None and p.masked is not None))
    first_out = dict(zip(first, _call(translate, first)))
    done: dict[str, str] = {}
    sent: dict[str, list[str]] = {unit: [] for unit in unique}
    piecewise: list[str] = []
    aligning: list[str] = []
    for unit, plan in plans.items():
        if plan is None:
            done[unit] = unit
            continue
        if plan.masked is not None:
            restored = _restore(first_out[plan.masked], plan)
            sent[unit] = [plan.masked]
            if restored is not None:
                done[unit] = plan.lead + restored + plan.trail
                continue
        (aligning if _pairs_only(plan) else piecewise).append(unit)
    aligned = {unit: _align_inputs(plans[unit]) for unit in aligning}  # type: ignore[arg-type]
    second = list(
        dict.fromkeys(t for plain, pairs in aligned.values() for t in [plain, *(c for _, e, c in pairs if e)])
    )
    second_out = dict(zip(second, _call(translate, second)))
    for unit, (plain, pairs) in aligned.items():
        plan = plans[unit]
        assert plan is not None
        done[unit] = plan.lead + _align(second_out[plain], pairs, second_out) + plan.trail
        sent[unit].extend([plain, *(content for _, closed, content in pairs if closed)])
    pieces = list(
        dict.fromkeys(
            _piece_edges(text)[1]
            for unit in piecewise
            for protected, text in plans[unit].parts  # type: ignore[union-attr]
            if not protected and has_letters(text)
        )
    )
    piece_out = dict(zip(pieces, _call(translate, pieces)))
    for unit in piecewise:
        plan = plans[unit]
        assert plan is not None
        out = []
        for protected, text in plan.parts:
            if protected or not has_letters(text):
                out.append(text)
            else:
                lead, core, trail = _piece_edges(text)
                out.append(lead + piece_out[core] + trail)
                sent[unit].append(core)
        done[unit] = plan.lead + "".join(out) + plan.trail
    return [done[unit] for unit in units], sent


def _pairs_only(plan: _Plan) -> bool:
    """Whether every span of the unit is markup (paired or standalone tags), no placeholder of a string."""
    return all(text.startswith("<") for protected, text in plan.parts if protected)


_SPACES = re.compile(r"[ \t]{2,}")


def _align_inputs(plan: _Plan) -> tuple[str, list[tuple[str, str, str]]]:
    """A unit whose spans are all paired tags, as its plain sentence and (open tag, close tag, plain content)
    per pair, in the order the pairs open."""
    plain: list[str] = []
    pairs: list[tuple[str, str, str]] = []
    stack: list[tuple[str, int, int]] = []  # open tag, where its content starts, its place in ``pairs``
    for protected, text in plan.parts:
        if not protected:
            plain.append(text)
            continue
        role = _tag_role(text)
        if role is None:
            # A standalone element (an image, a line break) keeps its relative place: content "" marks it.
            pairs.append((text, "", f"{len(''.join(plain))}"))
        elif role[0] == "open":
            stack.append((text, len("".join(plain)), len(pairs)))
            pairs.append((text, "", ""))
        elif stack:
            opened, start, place = stack.pop()
            pairs[place] = (opened, text, _SPACES.sub(" ", "".join(plain)[start:]).strip())
    source = _SPACES.sub(" ", "".join(plain)).strip()
    length = max(1, len("".join(plain)))
    kept = [(tag, "", f"{int(content) / length}") for tag, closed, content in pairs if not closed and content.isdigit()]
    return source, [p for p in pairs if p[1] and has_letters(p[2])] + kept


def _align(translation: str, pairs: list[tuple[str, str, str]], translated: dict[str, str]) -> str:
    """Put each pair of tags around its content's translation where that is found in the sentence's
    translation (and does not cross a pair already placed); a pair whose content is not found is left out, so
    the sentence stays whole and only that formatting is lost."""
    placed: list[tuple[int, int, str, str]] = []
    lowered = translation.lower()
    standalone: list[tuple[int, str]] = []
    for opened, closed, content in pairs:
        if not closed:
            standalone.append((_boundary(translation, float(content)), opened))
            continue
        target = translated[content].strip().rstrip(".。!！?？").strip().lower()
        if not target:
            continue
        start = lowered.find(target)
        while start >= 0:
            end = start + len(target)
            if all(
                end <= a or start >= b or (a <= start and end <= b) or (start <= a and b <= end)
                for a, b, _, _ in placed
            ):
                placed.append((start, end, opened, closed))
                break
            start = lowered.find(target, start + 1)
    events: list[tuple[int, int, int, str]] = []
    for start, end, opened, closed in placed:
        events.append((start, 1, -(end - start), opened))  # at one place: closing tags first, outer opens first
        events.append((end, 0, end - start, closed))
    events.extend((position, 0, 0, tag) for position, tag in standalone)
    out, cursor = [], 0
    for position, _, _, tag in sorted(events):
        out.append(translation[cursor:position])
        out.append(tag)
        cursor = position
    out.append(translation[cursor:])
    return "".join(out)


def _boundary(text: str, share: float) -> int:
    """The place ``share`` of the way through ``text``, moved to the nearest word boundary where words are
    separated by spaces; at the end, before the final punctuation."""
    position = round(share * len(text))
    stripped = text.rstrip()
    body = len(stripped.rstrip(".。!！?？"))
    if position >= body:
        return body
    if " " in text:
        spaces = [i for i, ch in enumerate(text) if ch == " "]
        position = min(spaces + [0, len(text)], key=lambda i: abs(i - position))
    return position


def _call(translate: Callable[[list[str]], list[str]], texts: list[str]) -> list[str]:
    if not texts:
        return []
    out = list(translate(texts))
    if len(out) != len(texts):
        raise ValueError(f"the translate function returned {len(out)} texts for {len(texts)}")
    return out


# -- the tokens of format modules


class InlineBuilder:
    """Writes a unit from text and inline markup: ``<gN>…</gN>`` around a span of a paired element, ``<xN/>``
    for something kept as it is. ``payload[N]`` is what the format module needs to put it back."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.payload: dict[int, object] = {}
        self._next = 1

    def text(self, text: str) -> None:
        self.parts.append(text)

    def open(self, payload: object) -> int:
        number = self._next
        self._next += 1
        self.payload[number] = payload
        self.parts.append(f"<g{number}>")
        return number

    def close(self, number: int) -> None:
        self.parts.append(f"</g{number}>")

    def keep(self, payload: object) -> int:
        number = self._next
        self._next += 1
        self.payload[number] = payload
        self.parts.append(f"<x{number}/>")
        return number

    @property
    def unit(self) -> str:
        return "".join(self.parts)


@dataclass(frozen=True)
class InlineNode:
    """A parsed translated unit: text, or an element (``number``) with children (paired) or without (kept)."""

    text: str = ""
    number: int = 0
    paired: bool = False
    children: tuple[InlineNode, ...] = ()


def parse_inline(translation: str, paired: Mapping[int, bool]) -> list[InlineNode]:
    """The tree of a translated unit's tokens; ``paired`` maps each token number of the unit to whether it is a
    ``<gN>`` pair. Tokens the unit never had are text; a closing token with no open one is dropped; an open one
    never closed ends at the end; kept tokens that went missing are appended, so nothing kept is ever lost."""
    valid = set(paired)
    root: list[InlineNode] = []
    stack: list[tuple[int, list[InlineNode]]] = [(0, root)]
    seen: set[int] = set()
    cursor = 0

    def add_text(text: str) -> None:
        if text:
            stack[-1][1].append(InlineNode(text=text))

    for match in _TOKEN.finditer(translation):
        closing, paired_number, kept_number = match.group(1), match.group(2), match.group(3)
        number = int(paired_number or kept_number)
        if number not in valid or (number in seen and not closing):
            continue
        add_text(translation[cursor : match.start()])
        cursor = match.end()
        if kept_number:
            seen.add(number)
            stack[-1][1].append(InlineNode(number=number))
        elif not closing:
            seen.add(number)
            stack.append((number, []))
        elif any(n == number for n, _ in stack[1:]):
            while stack[-1][0] != number:
                _fold(stack)
            _fold(stack)
    add_text(translation[cursor:])
    while len(stack) > 1:
        _fold(stack)
    root.extend(InlineNode(number=n) for n, is_paired in paired.items() if not is_paired and n not in seen)
    return root


def _fold(stack: list[tuple[int, list[InlineNode]]]) -> None:
    number, children = stack.pop()
    stack[-1][1].append(InlineNode(number=number, paired=True, children=tuple(children)))


def walk(nodes: Sequence[InlineNode]) -> Iterator[InlineNode]:
    for node in nodes:
        yield node
        yield from walk(node.children)
