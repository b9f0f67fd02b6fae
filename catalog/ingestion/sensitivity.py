"""A first guess at each field's sensitivity, for the curator to confirm.

The guess errs towards protection: the extract engine enforces whatever the curator finally
chooses, so a wrong "excluded" costs a click while a wrong "public" could leak personal data.
"""

from __future__ import annotations

import re

PUBLIC = "public"
QUASI_IDENTIFIER = "quasi_identifier"
IDENTIFIER = "identifier"
EXCLUDED = "excluded"

# Korean names are matched as substrings (compound nouns carry no separators); English names
# by whole words, so that "tel" does not match "hotel" nor "age" match "usage".
_Rule = tuple[str, tuple[str, ...], tuple[frozenset[str], ...]]

_CONTACT_RULES: list[_Rule] = [
    (
        EXCLUDED,  # resident registration numbers
        ("주민등록번호", "주민번호", "외국인등록번호"),
        (frozenset({"rrn"}), frozenset({"resident"}), frozenset({"ssn"})),
    ),
    (
        EXCLUDED,  # phone numbers and e-mail addresses
        ("전화", "연락처", "휴대폰", "핸드폰", "팩스", "이메일", "전자우편"),
        tuple(frozenset({w}) for w in ("phone", "tel", "telephone", "mobile", "cellphone",
                                       "fax", "email", "mail", "contact")),
    ),
]  # fmt: skip

_RULES: list[_Rule] = [
    (
        EXCLUDED,  # exact addresses
        ("주소", "도로명", "지번", "상세주소"),
        tuple(frozenset({w}) for w in ("address", "addr", "adrs", "adres", "street")),
    ),
    (
        IDENTIFIER,  # business, merchant and card numbers
        ("사업자등록번호", "사업자번호", "법인등록번호", "가맹점번호", "가맹점id", "카드번호",
         "카드id", "고객번호", "회원번호"),
        (
            frozenset({"bizrno"}), frozenset({"brno"}), frozenset({"crno"}),
            frozenset({"business", "number"}), frozenset({"business", "no"}),
            frozenset({"business", "id"}), frozenset({"merchant", "id"}),
            frozenset({"merchant", "no"}), frozenset({"merchant", "number"}),
            frozenset({"card", "id"}), frozenset({"card", "no"}), frozenset({"card", "number"}),
            frozenset({"customer", "id"}), frozenset({"user", "id"}), frozenset({"member", "id"}),
        ),
    ),
]  # fmt: skip

# Names of organisations and places are public; names of people are not.
_PUBLIC_NAME_KO = ("업체명", "상호", "가맹점명", "회사명", "기업명", "법인명", "상점명", "점포명")
_PERSON_NAME_KO = ("성명", "이름", "대표자", "고객명", "회원명", "소유자명", "예금주", "성함")
_NAME_WORDS = frozenset({"name", "nm"})
_PERSON_WORDS = frozenset({
    "first", "last", "full", "given", "family", "surname", "firstname", "lastname",
    "fullname", "customer", "cust", "person", "owner", "member", "user", "holder", "ceo",
    "representative", "rep", "patient", "employee", "applicant",
})  # fmt: skip

# Web addresses are published by design; "홈페이지주소" must not fall under the address rule.
_WEB_KO = ("홈페이지", "웹사이트", "웹주소")
_WEB_WORDS = frozenset({"url", "homepage", "website", "homp"})

_QUASI_KO = ("연령", "나이", "성별", "행정동", "법정동", "읍면동", "생년월일", "출생", "우편번호")
_QUASI_WORDS = frozenset({
    "age", "ageband", "sex", "gender", "dong", "birth", "birthday", "dob", "zip", "zipcode",
    "postcode", "postal",
})  # fmt: skip

_PHONE_RE = re.compile(r"0\d{1,2}[-. )]\s?\d{3,4}[-. ]\d{4}|01[016789]\d{7,8}")
_RRN_RE = re.compile(r"\d{6}-[1-4][\d*]{6}")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")


def suggest_sensitivity(name: str, sample_values: list[str]) -> str:
    """Suggest "public", "quasi_identifier", "identifier" or "excluded" for a field.

    Values that look like phone numbers, resident numbers or e-mail addresses win over the name.
    """
    if _mostly_personal(sample_values):
        return EXCLUDED
    korean = re.sub(r"[\s_\-]", "", name).lower()
    words = _words(name)

    def matches(rule: _Rule) -> bool:
        _, korean_parts, english_sets = rule
        return any(p in korean for p in korean_parts) or any(s <= words for s in english_sets)

    for rule in _CONTACT_RULES:
        if matches(rule):
            return rule[0]
    if any(part in korean for part in _WEB_KO) or words & _WEB_WORDS:
        return PUBLIC
    for rule in _RULES:
        if matches(rule):
            return rule[0]
    if _is_person_name(korean, words):
        return EXCLUDED
    if any(part in korean for part in _QUASI_KO) or words & _QUASI_WORDS:
        return QUASI_IDENTIFIER
    return PUBLIC


def _words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)  # camelCase -> camel Case
    return {w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w}


def _is_person_name(korean: str, words: set[str]) -> bool:
    if any(part in korean for part in _PUBLIC_NAME_KO):
        return False
    if any(part in korean for part in _PERSON_NAME_KO):
        return True
    # A bare "name" is taken as a person's; "merchant_name" or "company name" is not.
    return bool(words & _NAME_WORDS) and (words <= _NAME_WORDS or bool(words & _PERSON_WORDS))


def _mostly_personal(sample_values: list[str]) -> bool:
    """True when at least half of the non-blank sample looks like phones, RRNs or e-mails."""
    values = [str(v).strip() for v in sample_values if v is not None and str(v).strip()]
    if not values:
        return False
    personal = sum(
        1 for v in values if _PHONE_RE.fullmatch(v) or _RRN_RE.fullmatch(v) or _EMAIL_RE.fullmatch(v)
    )
    return personal * 2 >= len(values)
