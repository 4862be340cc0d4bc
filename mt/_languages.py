"""Language codes: parsing ISO 639-1/639-3 and BCP-47 tags, and mapping them to each model family's tokens.

Users speak BCP-47 (``ja``, ``en-US``, ``zh-Hans``, ``pt-BR``); model families each have their own notation
(NLLB ``jpn_Jpan``, M2M100 ``__ja__``, MADLAD ``<2ja>``, Marian ``>>jpn<<``, a language name in an LLM
prompt). :func:`parse_language` turns the former into a :class:`Language`, and :func:`family_tokens` lists
the candidate spellings for a family, most specific first, so the engine can pick the one a model's
vocabulary actually contains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mt._errors import UnsupportedLanguage

# iso639-1, iso639-3 (as used by NLLB/Marian), English name, default script (ISO 15924)
_TABLE: tuple[tuple[str, str, str, str], ...] = (
    ("af", "afr", "Afrikaans", "Latn"),
    ("am", "amh", "Amharic", "Ethi"),
    ("ar", "arb", "Arabic", "Arab"),
    ("az", "azj", "Azerbaijani", "Latn"),
    ("be", "bel", "Belarusian", "Cyrl"),
    ("bg", "bul", "Bulgarian", "Cyrl"),
    ("bn", "ben", "Bengali", "Beng"),
    ("bs", "bos", "Bosnian", "Latn"),
    ("ca", "cat", "Catalan", "Latn"),
    ("cs", "ces", "Czech", "Latn"),
    ("cy", "cym", "Welsh", "Latn"),
    ("da", "dan", "Danish", "Latn"),
    ("de", "deu", "German", "Latn"),
    ("el", "ell", "Greek", "Grek"),
    ("en", "eng", "English", "Latn"),
    ("eo", "epo", "Esperanto", "Latn"),
    ("es", "spa", "Spanish", "Latn"),
    ("et", "est", "Estonian", "Latn"),
    ("eu", "eus", "Basque", "Latn"),
    ("fa", "pes", "Persian", "Arab"),
    ("fi", "fin", "Finnish", "Latn"),
    ("fr", "fra", "French", "Latn"),
    ("ga", "gle", "Irish", "Latn"),
    ("gl", "glg", "Galician", "Latn"),
    ("gu", "guj", "Gujarati", "Gujr"),
    ("he", "heb", "Hebrew", "Hebr"),
    ("hi", "hin", "Hindi", "Deva"),
    ("hr", "hrv", "Croatian", "Latn"),
    ("hu", "hun", "Hungarian", "Latn"),
    ("hy", "hye", "Armenian", "Armn"),
    ("id", "ind", "Indonesian", "Latn"),
    ("is", "isl", "Icelandic", "Latn"),
    ("it", "ita", "Italian", "Latn"),
    ("ja", "jpn", "Japanese", "Jpan"),
    ("ka", "kat", "Georgian", "Geor"),
    ("kk", "kaz", "Kazakh", "Cyrl"),
    ("km", "khm", "Khmer", "Khmr"),
    ("kn", "kan", "Kannada", "Knda"),
    ("ko", "kor", "Korean", "Hang"),
    ("lo", "lao", "Lao", "Laoo"),
    ("lt", "lit", "Lithuanian", "Latn"),
    ("lv", "lvs", "Latvian", "Latn"),
    ("mk", "mkd", "Macedonian", "Cyrl"),
    ("ml", "mal", "Malayalam", "Mlym"),
    ("mn", "khk", "Mongolian", "Cyrl"),
    ("mr", "mar", "Marathi", "Deva"),
    ("ms", "zsm", "Malay", "Latn"),
    ("my", "mya", "Burmese", "Mymr"),
    ("nb", "nob", "Norwegian Bokmål", "Latn"),
    ("ne", "npi", "Nepali", "Deva"),
    ("nl", "nld", "Dutch", "Latn"),
    ("pa", "pan", "Punjabi", "Guru"),
    ("pl", "pol", "Polish", "Latn"),
    ("pt", "por", "Portuguese", "Latn"),
    ("ro", "ron", "Romanian", "Latn"),
    ("ru", "rus", "Russian", "Cyrl"),
    ("si", "sin", "Sinhala", "Sinh"),
    ("sk", "slk", "Slovak", "Latn"),
    ("sl", "slv", "Slovenian", "Latn"),
    ("sq", "als", "Albanian", "Latn"),
    ("sr", "srp", "Serbian", "Cyrl"),
    ("sv", "swe", "Swedish", "Latn"),
    ("sw", "swh", "Swahili", "Latn"),
    ("ta", "tam", "Tamil", "Taml"),
    ("te", "tel", "Telugu", "Telu"),
    ("th", "tha", "Thai", "Thai"),
    ("tl", "tgl", "Tagalog", "Latn"),
    ("tr", "tur", "Turkish", "Latn"),
    ("uk", "ukr", "Ukrainian", "Cyrl"),
    ("ur", "urd", "Urdu", "Arab"),
    ("uz", "uzn", "Uzbek", "Latn"),
    ("vi", "vie", "Vietnamese", "Latn"),
    ("zh", "zho", "Chinese", "Hans"),
)

# Other ISO 639-3 / 639-2 codes users and corpora use for the same languages.
_ALIASES_639_3: dict[str, str] = {
    "ara": "ar",
    "aze": "az",
    "fas": "fa",
    "per": "fa",
    "lav": "lv",
    "mon": "mn",
    "msa": "ms",
    "may": "ms",
    "nep": "ne",
    "nor": "nb",
    "no": "nb",
    "sqi": "sq",
    "alb": "sq",
    "swa": "sw",
    "uzb": "uz",
    "cmn": "zh",
    "chi": "zh",
    "ger": "de",
    "fre": "fr",
    "dut": "nl",
    "gre": "el",
    "cze": "cs",
    "slo": "sk",
    "rum": "ro",
    "arm": "hy",
    "geo": "ka",
    "ice": "is",
    "mac": "mk",
    "wel": "cy",
    "baq": "eu",
    "bur": "my",
    "fil": "tl",
    "iw": "he",
    "in": "id",
    "zlm": "ms",
    "pnb": "pa",
}

_BY_ISO1 = {row[0]: row for row in _TABLE}
_BY_ISO3 = {row[1]: row for row in _TABLE}
_TAG = re.compile(r"^(?P<lang>[A-Za-z]{2,3})(?:[-_](?P<script>[A-Za-z]{4}))?(?:[-_](?P<region>[A-Za-z]{2}|\d{3}))?$")
# Traditional Chinese is the default script where these regions are named.
_HANT_REGIONS = {"TW", "HK", "MO"}


@dataclass(frozen=True)
class Language:
    """A language as Kakehashi understands it.

    ``code`` is the canonical BCP-47 tag (``ja``, ``zh-Hant``, ``pt-BR``); ``base`` its ISO 639-1 language;
    ``iso639_3`` the three-letter code NLLB and Marian use; ``script`` the ISO 15924 script.
    """

    code: str
    base: str
    iso639_3: str
    name: str
    script: str
    region: str | None = None

    def __str__(self) -> str:
        return self.code


def supported_codes() -> list[str]:
    """Every base language code Kakehashi knows, sorted."""
    return sorted(_BY_ISO1)


def parse_language(code: str) -> Language:
    """Parse an ISO 639-1/639-3 code or BCP-47 tag (case-insensitive, ``-`` or ``_``).

    Raises:
        UnsupportedLanguage: the code is not a recognised language.
    """
    match = _TAG.match(code.strip()) if isinstance(code, str) else None
    if not match:
        raise UnsupportedLanguage(str(code), supported_codes())
    lang = match["lang"].lower()
    lang = _ALIASES_639_3.get(lang, lang)
    row = _BY_ISO1.get(lang) or _BY_ISO3.get(lang)
    if row is None:
        raise UnsupportedLanguage(code, supported_codes())
    iso1, iso3, name, default_script = row
    script = default_script
    region = match["region"].upper() if match["region"] else None
    if match["script"]:
        script = match["script"].title()
    elif iso1 == "zh" and region in _HANT_REGIONS:
        script = "Hant"
    canonical = iso1
    if iso1 == "zh":
        # The script, not the region, decides what a Chinese reader sees.
        canonical = f"zh-{script}"
        region = None
    else:
        # A script other than the usual one is part of the tag (sr-Latn), so that parsing the code gives
        # the same language back; the usual one is left out (ja-Jpan-JP → ja-JP), as BCP-47 prescribes.
        if script != default_script:
            canonical += f"-{script}"
        if region:
            canonical += f"-{region}"
    return Language(code=canonical, base=iso1, iso639_3=iso3, name=name, script=script, region=region)


def family_tokens(language: Language, family: str) -> list[str]:
    """Candidate spellings of ``language`` in a model family's vocabulary, most specific first.

    Families: ``nllb``, ``m2m100``, ``madlad``, ``marian``, ``mbart``. Unknown families get no tokens.
    """
    iso3, script, base = language.iso639_3, language.script, language.base
    if family == "nllb":
        if base == "zh":
            return [f"zho_{script}"]
        return [f"{iso3}_{script}"]
    if family == "m2m100":
        return [f"__{base}__"]
    if family == "madlad":
        specific = [f"<2{base}_{script}>"] if base == "zh" and script == "Hant" else []
        return [*specific, f"<2{language.code}>", f"<2{base}>"]
    if family == "marian":
        macro = {"zh": ["cmn", "zho"], "ar": ["ara", "arb"], "fa": ["fas", "pes"], "ms": ["zsm", "msa"]}
        codes = macro.get(base, [iso3])
        with_script = [f">>{c}_{script}<<" for c in codes]
        return [*with_script, *(f">>{c}<<" for c in codes), f">>{base}<<"]
    if family == "mbart":
        # mBART-50 knows one region per language (en_XX, ja_XX): a region the user named comes first, the
        # fixed one after it, so that ja-JP or en-US still find their token.
        fixed = f"{base}_{_MBART_REGIONS.get(base, 'XX')}"
        return list(dict.fromkeys([f"{base}_{language.region}" if language.region else fixed, fixed]))
    return []


# mBART-50's codes are language_REGION with one fixed region per language.
_MBART_REGIONS = {
    "ar": "AR",
    "cs": "CZ",
    "de": "DE",
    "en": "XX",
    "es": "XX",
    "et": "EE",
    "fi": "FI",
    "fr": "XX",
    "gu": "IN",
    "hi": "IN",
    "it": "IT",
    "ja": "XX",
    "kk": "KZ",
    "ko": "KR",
    "lt": "LT",
    "lv": "LV",
    "my": "MM",
    "ne": "NP",
    "nl": "XX",
    "ro": "RO",
    "ru": "RU",
    "si": "LK",
    "tr": "TR",
    "vi": "VN",
    "zh": "CN",
    "af": "ZA",
    "az": "AZ",
    "bn": "IN",
    "fa": "IR",
    "he": "IL",
    "hr": "HR",
    "id": "ID",
    "ka": "GE",
    "km": "KH",
    "mk": "MK",
    "ml": "IN",
    "mn": "MN",
    "mr": "IN",
    "pl": "PL",
    "ps": "AF",
    "pt": "XX",
    "sv": "SE",
    "sw": "KE",
    "ta": "IN",
    "te": "IN",
    "th": "TH",
    "tl": "XX",
    "uk": "UA",
    "ur": "PK",
    "xh": "ZA",
    "gl": "ES",
    "sl": "SI",
}
