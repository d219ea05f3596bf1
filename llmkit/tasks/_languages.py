"""Language codes to the English names a prompt uses.

A language is given as a BCP-47 tag ("fr", "pt-BR", "zh-Hant", "sr-Latn", "fr_CA"
with an underscore as gettext writes it), an ISO 639-1/639-2/639-3 code ("fr",
"fra", "fre"), or an English name ("French"). Each resolves to a normalised tag and
a name: ("pt-BR", "Portuguese (Brazil)"). A code not in the table is an error that
lists the closest known codes (difflib), since a typo such as "fe" should never reach
the model as an unknown language.
"""

from __future__ import annotations

import difflib
import re

from ..errors import TaskError

__all__ = ["language_name", "resolve"]

# ISO 639-1 (every code), plus ISO 639-3 codes that gettext catalogs and BCP-47 use for
# languages without a two-letter code
_NAMES = dict(line.split(" ", 1) for line in """\
aa Afar|ab Abkhazian|ae Avestan|af Afrikaans|ak Akan|am Amharic|an Aragonese|ar Arabic|as Assamese|av Avaric
ay Aymara|az Azerbaijani|ba Bashkir|be Belarusian|bg Bulgarian|bi Bislama|bm Bambara|bn Bengali|bo Tibetan
br Breton|bs Bosnian|ca Catalan|ce Chechen|ch Chamorro|co Corsican|cr Cree|cs Czech|cu Church Slavic|cv Chuvash
cy Welsh|da Danish|de German|dv Dhivehi|dz Dzongkha|ee Ewe|el Greek|en English|eo Esperanto|es Spanish
et Estonian|eu Basque|fa Persian|ff Fulah|fi Finnish|fj Fijian|fo Faroese|fr French|fy Western Frisian|ga Irish
gd Scottish Gaelic|gl Galician|gn Guarani|gu Gujarati|gv Manx|ha Hausa|he Hebrew|hi Hindi|ho Hiri Motu
hr Croatian|ht Haitian Creole|hu Hungarian|hy Armenian|hz Herero|ia Interlingua|id Indonesian|ie Interlingue
ig Igbo|ii Sichuan Yi|ik Inupiaq|io Ido|is Icelandic|it Italian|iu Inuktitut|ja Japanese|jv Javanese
ka Georgian|kg Kongo|ki Kikuyu|kj Kuanyama|kk Kazakh|kl Kalaallisut|km Khmer|kn Kannada|ko Korean|kr Kanuri
ks Kashmiri|ku Kurdish|kv Komi|kw Cornish|ky Kyrgyz|la Latin|lb Luxembourgish|lg Ganda|li Limburgish|ln Lingala
lo Lao|lt Lithuanian|lu Luba-Katanga|lv Latvian|mg Malagasy|mh Marshallese|mi Maori|mk Macedonian
ml Malayalam|mn Mongolian|mr Marathi|ms Malay|mt Maltese|my Burmese|na Nauru|nb Norwegian Bokmål
nd North Ndebele|ne Nepali|ng Ndonga|nl Dutch|nn Norwegian Nynorsk|no Norwegian|nr South Ndebele|nv Navajo
ny Chichewa|oc Occitan|oj Ojibwa|om Oromo|or Odia|os Ossetian|pa Punjabi|pi Pali|pl Polish|ps Pashto
pt Portuguese|qu Quechua|rm Romansh|rn Rundi|ro Romanian|ru Russian|rw Kinyarwanda|sa Sanskrit|sc Sardinian
sd Sindhi|se Northern Sami|sg Sango|si Sinhala|sk Slovak|sl Slovenian|sm Samoan|sn Shona|so Somali
sq Albanian|sr Serbian|ss Swati|st Southern Sotho|su Sundanese|sv Swedish|sw Swahili|ta Tamil|te Telugu
tg Tajik|th Thai|ti Tigrinya|tk Turkmen|tl Tagalog|tn Tswana|to Tongan|tr Turkish|ts Tsonga|tt Tatar|tw Twi
ty Tahitian|ug Uyghur|uk Ukrainian|ur Urdu|uz Uzbek|ve Venda|vi Vietnamese|vo Volapük|wa Walloon|wo Wolof
xh Xhosa|yi Yiddish|yo Yoruba|za Zhuang|zh Chinese|zu Zulu
ast Asturian|ckb Central Kurdish|dsb Lower Sorbian|hsb Upper Sorbian|kab Kabyle|udm Udmurt|fil Filipino
yue Cantonese|haw Hawaiian|ceb Cebuano|hmn Hmong|szl Silesian|sco Scots|gsw Swiss German|mai Maithili
""".replace("\n", "|").strip("|").split("|"))  # fmt: skip

# ISO 639-2 (bibliographic and terminology) codes of the more common languages -> 639-1
_ALIASES = {
    "ara": "ar", "ben": "bn", "bul": "bg", "cat": "ca", "ces": "cs", "cze": "cs", "chi": "zh", "zho": "zh",
    "dan": "da", "deu": "de", "ger": "de", "dut": "nl", "nld": "nl", "ell": "el", "gre": "el", "eng": "en",
    "est": "et", "fas": "fa", "per": "fa", "fin": "fi", "fra": "fr", "fre": "fr", "heb": "he", "hin": "hi",
    "hrv": "hr", "hun": "hu", "ind": "id", "isl": "is", "ice": "is", "ita": "it", "jpn": "ja", "kor": "ko",
    "lav": "lv", "lit": "lt", "msa": "ms", "may": "ms", "nor": "no", "nob": "nb", "nno": "nn", "pol": "pl",
    "por": "pt", "ron": "ro", "rum": "ro", "rus": "ru", "slk": "sk", "slo": "sk", "slv": "sl", "spa": "es",
    "srp": "sr", "swe": "sv", "swa": "sw", "tam": "ta", "tha": "th", "tur": "tr", "ukr": "uk", "urd": "ur",
    "vie": "vi", "cym": "cy", "wel": "cy", "eus": "eu", "baq": "eu", "glg": "gl", "gle": "ga", "iw": "he",
    "in": "id", "ji": "yi", "tgl": "tl",
}  # fmt: skip

_SCRIPTS = {"hans": "Simplified", "hant": "Traditional", "latn": "Latin script", "cyrl": "Cyrillic script",
            "arab": "Arabic script"}  # fmt: skip

_REGIONS = {
    "us": "United States", "gb": "United Kingdom", "au": "Australia", "ca": "Canada", "nz": "New Zealand",
    "ie": "Ireland", "in": "India", "br": "Brazil", "pt": "Portugal", "es": "Spain", "mx": "Mexico",
    "ar": "Argentina", "co": "Colombia", "ve": "Venezuela", "cl": "Chile", "pe": "Peru", "fr": "France",
    "be": "Belgium", "ch": "Switzerland", "de": "Germany", "at": "Austria", "it": "Italy", "nl": "Netherlands",
    "cn": "China", "tw": "Taiwan", "hk": "Hong Kong", "sg": "Singapore", "dz": "Algeria", "eg": "Egypt",
    "sa": "Saudi Arabia", "ma": "Morocco", "419": "Latin America", "za": "South Africa", "ru": "Russia",
    "ua": "Ukraine", "jp": "Japan", "kr": "South Korea", "se": "Sweden", "no": "Norway", "fi": "Finland",
}  # fmt: skip

# country codes often given for languages: suggested first, never accepted silently
_COUNTRIES = {"cn": "zh", "tw": "zh", "jp": "ja", "kr": "ko", "gr": "el", "dk": "da", "se": "sv", "cz": "cs",
              "ua": "uk", "ir": "fa", "il": "he", "vn": "vi", "gb": "en", "us": "en", "at": "de", "ee": "et",
              "rs": "sr", "al": "sq"}  # fmt: skip
_COMMON = set("en fr de es it pt nl ru zh ja ko ar hi pl sv tr uk cs da fi el he hu id no ro vi th".split())

_BY_NAME = {name.lower(): code for code, name in _NAMES.items()}
_TAG = re.compile(r"^([a-z]{2,3})(?:-([a-z]{4}))?(?:-([a-z]{2}|\d{3}))?$")


def resolve(code: str) -> tuple[str, str]:
    """(normalised BCP-47 tag, English name) for a code or name; TaskError when unknown."""
    if not isinstance(code, str) or not code.strip():
        raise TaskError(f"a language must be a code such as 'fr' or 'pt-BR', not {code!r}")
    raw = code.strip()
    key = raw.lower().replace("_", "-")
    if key in _BY_NAME:
        return _BY_NAME[key], _NAMES[_BY_NAME[key]]
    m = _TAG.match(key)
    base = _ALIASES.get(m.group(1), m.group(1)) if m else None
    if m is None or base not in _NAMES:
        raise TaskError(f"unknown language code {raw!r}{_closest(key)}",
                        hint="Use a BCP-47 / ISO 639 code, e.g. fr, de, pt-BR, zh-Hant.")  # fmt: skip
    script, region = m.group(2), m.group(3)
    tag, detail = base, []
    if script:
        tag += "-" + script.title()
        detail.append(_SCRIPTS.get(script, script.title() + " script"))
    if region:
        tag += "-" + region.upper()
        detail.append(_REGIONS.get(region, region.upper()))
    name = _NAMES[base] + (f" ({', '.join(detail)})" if detail else "")
    return tag, name


def language_name(code: str) -> str:
    """The English name of a language code: "fr" -> "French", "pt-BR" -> "Portuguese
    (Brazil)". An unknown code is a TaskError that lists the closest known ones."""
    return resolve(code)[1]


def _closest(key: str) -> str:
    head = key.split("-")[0]
    candidates = list(_NAMES) + list(_ALIASES) + list(_BY_NAME)

    def rank(c: str) -> tuple[float, bool, bool]:  # most similar; on a tie, same first letter, then common
        code = _BY_NAME.get(c, _ALIASES.get(c, c))
        return (-difflib.SequenceMatcher(None, head, c).ratio(), c[:1] != head[:1], code not in _COMMON)

    found: list[str] = [_COUNTRIES[head]] if head in _COUNTRIES and head not in _NAMES else []
    for match in sorted(difflib.get_close_matches(head, candidates, n=20, cutoff=0.5), key=rank):
        c = _BY_NAME.get(match, _ALIASES.get(match, match))
        if c not in found:
            found.append(c)
    if not found:
        return ""
    return "; closest: " + ", ".join(f"{c} ({_NAMES[c]})" for c in found[:5])
