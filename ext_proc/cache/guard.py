"""The near-miss guard: THE decision whether a stored prompt's answer may serve a new prompt.

Cosine similarity alone cannot tell a re-typed repeat from a near-miss ("10 miles to km" vs "10 km to
miles" scores 0.99), so a semantic hit needs both a high cosine and a lexical check. Precision first:
a miss costs one upstream call, a wrong answer costs trust.

Normalization: NFKC, lower case, common English contractions expanded ("don't" → "do not", also typed
without the apostrophe), punctuation dropped, numbers and math operators split into their own tokens
("2+2" → 2 + 2), number words mapped to digits ("twenty five" → 25, "plus" → +), filler dropped
(please, hey, thanks, leading "can you" / "tell me" ...) and "how do I / how can I" → "how to".

Decision, in order:
  1. either side not (mostly-ASCII) English              → refuse  unsupported_language
  2. the normalized token sequences are equal            → accept  identical_normalized (cosine ≥ floor)
  3. the numbers / operators / currency symbols differ   → refuse  numbers_differ
  4. the count of negations differs                      → refuse  negation_differs
  5. a word on one side has its opposite on the other    → refuse  antonym (also units, months, pronouns)
  6. every differing word is a keyboard typo of its peer  → accept  typos_only (cosine ≥ floor)
  7. same content words, different order                 → refuse  word_order
  8. content words differ by 1-2 words, or only by up to 4 added (or dropped) words → refuse
     few_words_changed (entity swaps; scope: "all users" vs "all active users")
  9. otherwise                                           → cosine ≥ threshold: similar / below_threshold
A typo is a Damerau-Levenshtein edit (≤ 1 for words of ≥ 4 letters, ≤ 2 from 8 letters, first letter
kept) where every edit is plausible on a QWERTY keyboard (adjacent key, doubled letter, swap).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import DamerauLevenshtein

__all__ = ["IDENTICAL_FLOOR", "MatchDecision", "guard_supports", "normalize", "semantic_match"]

IDENTICAL_FLOOR = 0.6
"""Cosine below which even a normalized-identical pair is refused (normalization dropped too much)."""


@dataclass(frozen=True, slots=True)
class MatchDecision:
    accepted: bool
    reason: str


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _phrases(text: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(phrase.split()) for phrase in text.split(","))


def _pairs(text: str) -> dict[str, str]:
    return {key: value for key, _, value in (pair.partition("=") for pair in text.split(","))}


_CONTRACTIONS = _pairs(
    "can't=cannot,won't=will not,shan't=shall not,ain't=is not,let's=let us,it's=it is,that's=that is,"
    "what's=what is,where's=where is,who's=who is,how's=how is,when's=when is,why's=why is,"
    "there's=there is,here's=here is,he's=he is,she's=she is,cant=cannot,wont=will not,dont=do not,"
    "doesnt=does not,didnt=did not,isnt=is not,arent=are not,wasnt=was not,werent=were not,"
    "wouldnt=would not,shouldnt=should not,couldnt=could not,havent=have not,hasnt=has not,"
    "hadnt=had not,im=i am,ive=i have,youre=you are,theyre=they are,whats=what is,thats=that is,"
    "hows=how is,wheres=where is"
)
_SUFFIXES = _pairs("n't= not,'re= are,'m= am,'ve= have,'ll= will,'d= would")
_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
)
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
_NUMBER_WORDS = dict(zip((_UNITS + " seventeen eighteen nineteen").split(), range(20), strict=True))
_NUMBER_WORDS |= dict(zip(_TENS.split(), range(20, 100, 10), strict=True))
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_ONE_KEEPERS = _words("which this that the each every any no some another a what one")
_ORDINALS = _pairs("1st=first,2nd=second,3rd=third,4th=fourth,5th=fifth")
_OPERATOR_WORDS = _pairs("plus=+,minus=-,times=*,equals==,percent=%")
_SYMBOLS = _pairs("\u00d7=*,\u00f7=/,\u2212=-,\u2013=-,\u2014= ,\u2019=',\u2018=',`='")
_TOKEN = re.compile(
    r"\d+(?:[.,]\d+)*(?:st|nd|rd|th)?|[^\W\d_]+(?:'[^\W\d_]+)?|[+*/^=%<>$€£¥]|(?<![^\W\d_])-(?=\s*\d)"
)
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$")
_LEADING_FILLER = _phrases(
    "i would like to know,i want to know,i need to know,i was wondering,i wonder,do you know,quick question,"
    "would you mind,can you,could you,would you,will you,can u,could u,tell me,show me,give me,let me know,"
    "hey,hi,hello,yo,ok,okay,so,um,uh,hmm,there"
)
_TRAILING_FILLER = _phrases("thanks in advance,thank you,thanks,thx,ty,cheers")
_ANYWHERE_FILLER = _words("please pls plz kindly thanks thx")
_SYNONYMS = {"which": "what", "u": "you", "ur": "your"}
_REWRITES = _pairs(
    "how do i=how to,how can i=how to,how should i=how to,how would i=how to,how could i=how to,"
    "how do you=how to,how can you=how to,how does one=how to,how do we=how to,how can we=how to,"
    "to the power of=^,multiplied by=*,divided by=/,can not=cannot"
)
_PHRASE_TABLE: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
for _phrase, _repl in _REWRITES.items():
    _PHRASE_TABLE.setdefault(_phrase.split()[0], []).append((tuple(_phrase.split()), tuple(_repl.split())))
NEGATIONS = _words("not no never without none cannot nothing neither nor nobody nowhere")
STOPWORDS = _words(
    "a an the is are am be been being do does of it its this that these those there here some any and "
    "with for just really very also so actually basically simply exactly i me my mine myself we us our "
    "you your yours yourself have has please"
)
_ANTONYM_TEXT = (
    "ascending/descending asc/desc increase/decrease increasing/decreasing increment/decrement min/max "
    "minimum/maximum minimize/maximize minimal/maximal before/after above/below over/under first/last "
    "largest/smallest biggest/smallest greatest/least highest/lowest most/least more/less more/fewer "
    "higher/lower high/low upper/lower uppercase/lowercase top/bottom true/false yes/no enable/disable "
    "enabled/disabled on/off encrypt/decrypt encryption/decryption encode/decode compress/decompress zip/"
    "unzip serialize/deserialize import/export upload/download buy/sell buyer/seller bought/sold left/"
    "right north/south east/west add/remove add/subtract add/delete create/delete insert/delete install/"
    "uninstall open/close opened/closed start/stop start/end begin/end input/output in/out into/from to/"
    "from push/pull send/receive sent/received debit/credit deposit/withdraw deposit/withdrawal income/"
    "expense profit/loss gain/loss asset/liability lend/borrow lender/borrower include/exclude including/"
    "excluding inclusive/exclusive accept/reject allow/deny allow/block grant/revoke lock/unlock show/hide "
    "visible/hidden public/private mount/unmount subscribe/unsubscribe connect/disconnect login/logout "
    "read/write get/set merge/split join/split append/prepend prefix/suffix head/tail front/back forward/"
    "backward inner/outer horizontal/vertical row/column rows/columns width/height sync/async synchronous/"
    "asynchronous client/server frontend/backend static/dynamic mutable/immutable local/remote local/"
    "global internal/external old/new oldest/newest earliest/latest early/late earlier/later long/short "
    "longest/shortest fast/slow faster/slower big/small bigger/smaller large/small larger/smaller hot/cold "
    "warm/cool heat/cool positive/negative odd/even plus/minus multiply/divide sum/difference sum/product "
    "union/intersection valid/invalid legal/illegal correct/incorrect possible/impossible safe/unsafe safe/"
    "dangerous healthy/unhealthy raw/cooked sweet/sour sweet/savory thick/thin wet/dry light/dark light/"
    "heavy soft/hard boil/freeze melt/freeze raise/lower rise/fall gross/net cheap/expensive cheapest/"
    "expensive rent/buy save/spend refund/charge approve/reject approve/deny activate/deactivate upgrade/"
    "downgrade win/lose winner/loser pass/fail success/failure male/female men/women man/woman boy/girl "
    "husband/wife parent/child employer/employee sender/recipient past/future day/night morning/evening "
    "summer/winter spring/autumn spring/fall bull/bear bullish/bearish better/worse best/worst agree/"
    "disagree like/dislike should/must can/must yesterday/today/tomorrow pros/cons advantages/"
    "disadvantages benefits/drawbacks active/inactive paid/unpaid online/offline free/paid this/next/last "
    "i|me|my|mine|myself/you|your|yours|yourself/he|him|his|himself/she|her|hers|herself/they|them|their "
    "is|are|am/was|were/will|would/did|had celsius/fahrenheit/kelvin mile|miles|mi/km|kilometer|kilometers|"
    "kilometre|kilometres/meter|meters|metre|metres|m/feet|foot|ft/inch|inches/cm|centimeter|centimeters|"
    "centimetre|centimetres/mm|millimeter|millimeters|millimetres/yard|yards/nautical pound|pounds|lb|lbs/"
    "kg|kilogram|kilograms|kilo|kilos/gram|grams|g/ounce|ounces|oz/ton|tons|tonne|tonnes gallon|gallons|"
    "gal/liter|liters|litre|litres|l/ml|milliliter|milliliters|millilitre|millilitres/cup|cups/tablespoon|"
    "tablespoons|tbsp/teaspoon|teaspoons|tsp/quart|quarts/pint|pints second|seconds|sec|secs/minute|"
    "minutes|min|mins/hour|hours|hr|hrs/day|days/week|weeks/month|months/year|years usd|dollar|dollars/eur|"
    "euro|euros/gbp|sterling/jpy|yen/cad/aud/chf|franc|francs/inr|rupee|rupees/cny|yuan|rmb/btc|bitcoin/"
    "eth|ethereum jan|january/feb|february/mar|march/apr|april/may/jun|june/jul|july/aug|august/sep|sept|"
    "september/oct|october/nov|november/dec|december monday/tuesday/wednesday/thursday/friday/saturday/"
    "sunday am/pm utc/pst/est/cet/gmt mph/kph|kmh bit|bits/byte|bytes hex|hexadecimal/binary/decimal/octal "
    "kb|kilobyte|kilobytes/mb|megabyte|megabytes/gb|gigabyte|gigabytes/tb|terabyte|terabytes http/https "
    "tcp/udp ipv4/ipv6 get/post/put/patch/delete"
)
_ANTONYM_GROUPS = tuple(sorted(_words(_ANTONYM_TEXT)))
"""Groups of opposites: sides separated by '/', synonyms within a side by '|'. A word on one side of a
group never matches a word on another side of it (antonyms, units, months, pronouns, tenses...)."""


def _inflections(word: str) -> set[str]:
    if len(word) <= 2:
        return {word}
    if len(word) == 3:
        return {word, word + "s"}
    forms = {word, word + "s", word + "es", word + "ed", word + "ing"}
    if word.endswith("e"):
        forms |= {word + "d", word[:-1] + "ing", word[:-1] + "ion"}
    return forms


def _antonym_index() -> dict[str, frozenset[tuple[int, int]]]:
    index: dict[str, set[tuple[int, int]]] = {}
    for group_id, group in enumerate(_ANTONYM_GROUPS):
        for side_id, side in enumerate(group.split("/")):
            for word in side.split("|"):
                for form in _inflections(word):
                    index.setdefault(form, set()).add((group_id, side_id))
    return {word: frozenset(sides) for word, sides in index.items()}


_ANTONYM_INDEX = _antonym_index()
_FOREIGN = _words(
    "le la les des est une und der die das ist nicht el los las que es por para una y en du ce qui "
    "wie ich ein eine mit auf pour avec sont dans il ne pas como esta muy pero di che il della sono"
)
_KEY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")  # staggered: (row, column + row offset)
_KEY_POS = {c: (r, i + (0.0, 0.25, 0.75)[r]) for r, row in enumerate(_KEY_ROWS) for i, c in enumerate(row)}


def guard_supports(text: str) -> bool:
    """Whether the lexical guard understands `text`: mostly-ASCII letters and not obviously non-English.

    Text without letters ("2+2=?") is supported. Unsupported text gets only the exact cache layer."""
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isascii() for c in letters) < 0.9 * len(letters):
        return False
    words = re.findall(r"[a-z]+", text.lower())
    foreign = sum(w in _FOREIGN for w in words)
    return not (foreign >= 2 and foreign >= 0.2 * len(words))


def _strip_phrase(tokens: list[str], phrases: Sequence[tuple[str, ...]], *, at_end: bool) -> list[str]:
    while tokens:
        for phrase in phrases:
            n = len(phrase)
            if n <= len(tokens) and tuple(tokens[-n:] if at_end else tokens[:n]) == phrase:
                tokens = tokens[:-n] if at_end else tokens[n:]
                break
        else:
            break
    return tokens


def _number(token: str) -> str:
    whole, _, frac = (
        token.replace(",", "") if _THOUSANDS.match(token) else token.replace(",", ".")
    ).partition(".")
    whole, frac = whole.lstrip("0") or "0", frac.rstrip("0")
    return f"{whole}.{frac}" if frac else whole


def _parse_number_words(tokens: list[str], i: int) -> tuple[int, int]:
    """The value of the number words starting at `tokens[i]` and the index after them."""
    total, current, last = 0, 0, ""
    while i < len(tokens):
        tok = tokens[i]
        if tok == "and" and last == "scale" and i + 1 < len(tokens) and tokens[i + 1] in _NUMBER_WORDS:
            i += 1
            continue
        if tok in _NUMBER_WORDS:
            value = _NUMBER_WORDS[tok]
            kind = "unit" if value < 10 else "teen" if value < 20 else "tens"
            if last in ("unit", "teen") or (last == "tens" and kind != "unit"):
                break
            current, last = current + value, kind
        elif tok in _SCALES and last:
            if _SCALES[tok] == 100:
                current = max(current, 1) * 100
            else:
                total, current = total + max(current, 1) * _SCALES[tok], 0
            last = "scale"
        else:
            break
        i += 1
    return total + current, i


def _map_numbers(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _NUMBER_WORDS and not (tok == "one" and out and out[-1] in _ONE_KEEPERS):
            value, i = _parse_number_words(tokens, i)
            out.append(str(value))
            continue
        if tok[0].isdigit():
            tok = _ORDINALS.get(tok, tok if tok[-1].isalpha() else _number(tok))
        elif tok == "x" and out and out[-1][0].isdigit():
            tok = "*"
        elif tok in _OPERATOR_WORDS and tok != "x":
            tok = _OPERATOR_WORDS[tok]
        out.append(tok)
        i += 1
    return out


def _replace_phrases(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for phrase, repl in _PHRASE_TABLE.get(tokens[i], ()):
            if tuple(tokens[i : i + len(phrase)]) == phrase:
                out.extend(repl)
                i += len(phrase)
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def normalize(text: str) -> tuple[str, ...]:
    """The guard's token sequence for `text` (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).lower()
    for symbol, repl in _SYMBOLS.items():
        text = text.replace(symbol, repl)
    raw: list[str] = []
    for tok in _TOKEN.findall(text):
        if "'" in tok:
            if tok in _CONTRACTIONS:
                tok = _CONTRACTIONS[tok]
            else:
                for suffix, repl in _SUFFIXES.items():
                    if tok.endswith(suffix):
                        tok = tok[: -len(suffix)] + repl
                        break
                else:
                    tok = tok.split("'")[0]  # possessive / unknown: keep the stem
        raw.extend(_CONTRACTIONS.get(tok, tok).split())
    tokens = [_SYNONYMS.get(t, t) for t in raw if t not in _ANYWHERE_FILLER]
    tokens = _strip_phrase(tokens, _LEADING_FILLER, at_end=False)
    tokens = _strip_phrase(tokens, _TRAILING_FILLER, at_end=True)
    return tuple(_map_numbers(_replace_phrases(tokens)))


def _antonym_clash(only_a: set[str], only_b: set[str]) -> bool:
    sides_b = {side for word in only_b for side in _ANTONYM_INDEX.get(word, ())}
    for word in only_a:
        for group, side in _ANTONYM_INDEX.get(word, ()):
            if any(g == group and s != side for g, s in sides_b):
                return True
    return False


def _plausible_edit_cost(a: str, b: str) -> float:
    """Optimal-string-alignment distance where only keyboard-plausible edits cost 1 (others cost 9)."""

    def near(x: str, y: str) -> bool:
        (rx, cx), (ry, cy) = _KEY_POS.get(x, (9, 0.0)), _KEY_POS.get(y, (-9, 0.0))
        return x == y or (abs(rx - ry) <= 1 and abs(cx - cy) <= 1.0)

    def indel(word: str, i: int) -> float:  # cost of inserting/deleting word[i]
        neighbours = [word[j] for j in (i - 1, i + 1) if 0 <= j < len(word)]
        return 1.0 if any(near(word[i], n) for n in neighbours) else 9.0

    rows = [[0.0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        rows[i][0] = rows[i - 1][0] + indel(a, i - 1)
    for j in range(1, len(b) + 1):
        rows[0][j] = rows[0][j - 1] + indel(b, j - 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            sub = 0.0 if a[i - 1] == b[j - 1] else (1.0 if near(a[i - 1], b[j - 1]) else 9.0)
            best = min(
                rows[i - 1][j] + indel(a, i - 1), rows[i][j - 1] + indel(b, j - 1), rows[i - 1][j - 1] + sub
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, rows[i - 2][j - 2] + 1.0)
            rows[i][j] = best
    return rows[len(a)][len(b)]


def is_typo(a: str, b: str) -> bool:
    """Whether `b` is a plausible keyboard typo of `a` (or the reverse)."""
    shorter = min(len(a), len(b))
    allowed = 2 if shorter >= 8 else 1 if shorter >= 4 else 0
    if not allowed or a[0] != b[0] or not (a.isalpha() and b.isalpha()):
        return False
    if DamerauLevenshtein.distance(a, b, score_cutoff=allowed) > allowed:
        return False
    return _plausible_edit_cost(a, b) <= allowed


def _fix_typos(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    """`b` with each word that is a typo of a word only `a` has replaced by that word."""
    spare = list((Counter(a) - Counter(b)).elements())
    fixes: dict[str, str] = {}
    for word in (Counter(b) - Counter(a)).elements():
        match = next((w for w in spare if is_typo(w, word)), None)
        if match is not None and word not in fixes:
            fixes[word] = match
            spare.remove(match)
    return tuple(fixes.get(t, t) for t in b)


def _floor(similarity: float, reason: str) -> MatchDecision:
    return (
        MatchDecision(True, reason) if similarity >= IDENTICAL_FLOOR else MatchDecision(False, "below_floor")
    )


_SYMBOL = re.compile(r"\d+|[^\w\s.,?!'\"\u2018\u2019\u201c\u201d-]")
"""Digits and every symbol but sentence punctuation, quotes and hyphens: compared in order."""


_THOUSANDS_SEPARATOR = re.compile(r"(?<=\d),(?=\d{3})")


def _symbols(text: str) -> tuple[str, ...]:
    """The ordered digits and symbols of a text that has symbols (plain numbers and number words are
    left to the number rule, which maps "three" to 3)."""
    found = tuple(_SYMBOL.findall(_THOUSANDS_SEPARATOR.sub("", text)))
    return found if any(not token.isdigit() for token in found) else ()


_SENTENCE_MARKS = re.compile(r"[\s.,?!]+")


def _plain(text: str) -> str:
    return _SENTENCE_MARKS.sub("", text.lower())


def semantic_match(stored_prompt: str, new_prompt: str, similarity: float, threshold: float) -> MatchDecision:
    """Whether the answer to `stored_prompt` may serve `new_prompt`, given their cosine `similarity`."""
    if not (guard_supports(stored_prompt) and guard_supports(new_prompt)):
        return MatchDecision(False, "unsupported_language")
    symbols = _symbols(stored_prompt)
    if symbols != _symbols(new_prompt):
        return MatchDecision(False, "symbols_differ")  # code and math: (2+3)*4 vs 2+(3*4), a[1:] vs a[:1]
    if symbols:  # code or math: only a re-typed copy (case, spaces, sentence punctuation) may match
        if _plain(stored_prompt) == _plain(new_prompt):
            return _floor(similarity, "identical_normalized")
        return MatchDecision(False, "code_differs")
    a, b = normalize(stored_prompt), normalize(new_prompt)
    if not a or not b:
        return MatchDecision(False, "nothing_to_compare")
    if a == b:
        return _floor(similarity, "identical_normalized")
    if Counter(t for t in a if not t[0].isalpha()) != Counter(t for t in b if not t[0].isalpha()):
        return MatchDecision(False, "numbers_differ")
    if sum(t in NEGATIONS for t in a) != sum(t in NEGATIONS for t in b):
        return MatchDecision(False, "negation_differs")
    if _antonym_clash(set(a) - set(b), set(b) - set(a)):
        return MatchDecision(False, "antonym")
    b = _fix_typos(a, b)
    if a == b:
        return _floor(similarity, "typos_only")
    content_a = [t for t in a if t not in STOPWORDS]
    content_b = [t for t in b if t not in STOPWORDS]
    count_a, count_b = Counter(content_a), Counter(content_b)
    if count_a == count_b and content_a != content_b:
        return MatchDecision(False, "word_order")
    removed, added = sum((count_a - count_b).values()), sum((count_b - count_a).values())
    if 1 <= max(removed, added) <= (4 if min(removed, added) == 0 else 2):
        return MatchDecision(False, "few_words_changed")  # a swap, or a qualifier added / dropped
    if similarity >= threshold:
        return MatchDecision(True, "similar")
    return MatchDecision(False, "below_threshold")
