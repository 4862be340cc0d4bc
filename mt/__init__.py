"""Kakehashi's translation engine: CTranslate2 models behind one small API.

>>> from mt import Kakehashi, Settings
>>> kakehashi = Kakehashi(Settings.from_env().load_registry())
>>> kakehashi.translate(["こんにちは。"], "ja", "en")[0].text
"""

from mt._config import Settings
from mt._convert import QUANTIZATIONS, convert_model
from mt._corpora import CleaningOptions, ParallelPair, clean_pairs, load_corpus
from mt._engine import (
    DecoderOnlyTranslator,
    EncoderDecoderTranslator,
    Hypothesis,
    RuntimeOptions,
    SegmentResult,
    TranslationOptions,
    Translator,
    load_translator,
)
from mt._errors import (
    ConversionError,
    InputTooLarge,
    InvalidModel,
    InvalidRequest,
    KakehashiError,
    MissingDependency,
    ModelNotFound,
    UnsupportedLanguage,
    UnsupportedLanguagePair,
)
from mt._langid import DetectedLanguage, LanguageDetector
from mt._languages import Language, family_tokens, parse_language, supported_codes
from mt._manifest import Manifest, PromptFormat
from mt._pipeline import Alternative, Kakehashi, Segment, StreamEvent, Translation
from mt._registry import Registry, RegistryEntry, Route
from mt._segmentation import Piece, join_translation, segment, split_long

__version__ = "0.1.0"

__all__ = [
    "QUANTIZATIONS",
    "Alternative",
    "CleaningOptions",
    "ConversionError",
    "DecoderOnlyTranslator",
    "DetectedLanguage",
    "EncoderDecoderTranslator",
    "Hypothesis",
    "InputTooLarge",
    "InvalidModel",
    "InvalidRequest",
    "Kakehashi",
    "KakehashiError",
    "Language",
    "LanguageDetector",
    "Manifest",
    "MissingDependency",
    "ModelNotFound",
    "ParallelPair",
    "Piece",
    "PromptFormat",
    "Registry",
    "RegistryEntry",
    "Route",
    "RuntimeOptions",
    "Segment",
    "SegmentResult",
    "Settings",
    "StreamEvent",
    "Translation",
    "TranslationOptions",
    "Translator",
    "UnsupportedLanguage",
    "UnsupportedLanguagePair",
    "clean_pairs",
    "convert_model",
    "family_tokens",
    "join_translation",
    "load_corpus",
    "load_translator",
    "parse_language",
    "segment",
    "split_long",
    "supported_codes",
]
