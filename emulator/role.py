"""A role played from a brief (a role cue's "Role: ..."), answered as the person would.

A brief mixes facts about the person ("You have had chest pain for three weeks.") with
directions to the actor ("Only mention your smoking if asked.", "If the candidate asks about
alcohol, say ...", "Ne le dites que si on vous le demande.", "Hable despacio."). A person never
says the directions, so they are found by their form (is_direction(), English, French and
Spanish) and left out; what is left is the person's facts, one clause each, in the first person
(emulator/first_person.py): role_facts().

The emulator cannot hear what the candidate asks (it has no speech recognition: the
candidate's transcript is a placeholder), so it cannot pick the fact a question is about.
It does what it can: one short answer a candidate turn, each one fact, in the brief's order
(a brief tells a story in the order a history is taken), each fact once; then fillers
(emulator/script.py). Never the brief read out, never a direction.
"""

from __future__ import annotations

import functools
import re

from emulator.first_person import first_person

# Sentence ends (a bracket or quote may close after the stop), but not after a title ("Mr. Jones", "M. Dupont").
_SENTENCE_END = re.compile(r"(?:(?<=[.?!])|(?<=[.?!][)\]\"'\u201d\u00bb]))(?<!\bMr\.)(?<!\bMrs\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bM\.)"
                           r"(?<!\bMme\.)(?<!\bMlle\.)(?<!\bPr\.)\s+")
# Where a sentence holds a second fact with its own subject: "..., but you cannot give a discount",
# "... et vous travaillez de nuit"; and at a semicolon.
# ("your" and "votre" start noun phrases as often: "your wife and your sons" is one fact.)
_CLAUSE_BREAK = re.compile(r"\s*;\s+|,?\s+(?=(?:and|but|et|mais)\s+(?:you|vous)\s+\w)", re.IGNORECASE)
_CONJUNCTION = re.compile(r"^(?:and|but|et|mais)\s+", re.IGNORECASE)

# ---- what a direction to the actor looks like ---------------------------------------------

# English verbs a direction starts with ("Only mention ...", "Do not volunteer ...", "Be polite.").
_ENGLISH_IMPERATIVES = frozenset("""
only do don't dont never always mention say tell answer reply respond be act play give offer volunteer wait let
try avoid refuse ask speak stay keep insist pretend use show express remember start begin stop make describe
explain admit deny agree accept reveal hide share bring raise allow follow note please ensure repeat react
behave portray pause hesitate emphasise emphasize talk disclose withhold sound appear seem
""".split())
# Verbs of telling: after "You do not ..." or "You never ..." they make a direction, not a habit
# ("You never mention your smoking." against "You never drink.").
_TELLING = (r"(?:mention|say|tell|reveal|volunteer|offer|admit|discuss|bring\s+up|give\s+away|disclose|share|"
            r"talk\s+about|raise|describe|explain|answer)")
# French: a vous-form imperative ("Mentionnez", "Ne dites pas", "N'hésitez"), one in the tu form,
# or an infinitive of instruction ("Ne pas mentionner").
_FRENCH_IMPERATIVE = re.compile(
    r"^(?:ne\s+|n')?(?:(?:le|la|les|lui|leur|y|en)\s+|l')*"
    r"(?:(?!chez\b|assez\b|nez\b)[\wéèêëàâîïôûùç]{2,}ez|soyez|dites|faites|sois|dis|fais|réponds|reste|attends|"
    r"mentionne|évite|joue|montre|donne|refuse|insiste|parle)\b"
    r"|^ne\s+pas\b"
    r"|^(?:mentionner|dire|répondre|donner|révéler|rester|jouer|attendre|éviter|insister|refuser|montrer|"
    r"expliquer|accepter|proposer|signaler|préciser|indiquer)\b",
    re.IGNORECASE)
# Anywhere in a clause: being asked, the exam and its people, volunteering.
_EXAM_MARKERS = re.compile(
    r"\b(?:if|when|unless|until|only\s+if|until\s+you\s+are)\s+(?:you\s+are\s+|you're\s+)?(?:specifically\s+|directly\s+)?asked\b"
    r"|\bwithout\s+being\s+asked\b|\bvolunteer|\bunprompted\b|\bspontaneously\b"
    r"|\bthe\s+(?:candidate|examiner)s?\b|\bin\s+(?:character|role)\b"
    r"|\bsi\s+(?:on|l'on)\s+vous\s+(?:le\s+|la\s+|les\s+|en\s+)?(?:demande|interroge|pose)"
    r"|\b(?:quand|lorsqu'?)\s*(?:on|l'on)\s+vous\s+(?:le\s+|la\s+|les\s+|en\s+)?(?:demande|interroge|pose)"
    r"|\bsi\s+vous\s+êtes\s+interrogée?s?\b|\bsans\s+qu'on\b|\bspontanément\b|\bde\s+vous-même\b"
    r"|\b(?:le|la|les|du|au|aux)\s+candidate?s?\b|\bl'examinat(?:eur|rice)\b"
    r"|\b(?:el|la|los|las|al|del)\s+(?:candidat[oa]s?|examinador(?:a|es)?)\b|\bsi\s+(?:se\s+)?le\s+preguntan?\b"
    # who leads the conversation: how the exchange is run, not the person's life
    r"|\b(?:lead|leads|mener|mène|lleve|llevar|lleva)\s+(?:the|la)\s+conversa",
    re.IGNORECASE)
# Spanish: a usted-form imperative ("Hable despacio.", "No mencione ...", "Deje que ...").
_SPANISH_IMPERATIVE = re.compile(
    r"^(?:no\s+)?(?:(?:le|lo|la|les|los|las|se|me)\s+)*(?:hable|haga|diga|responda|conteste|sea|esté|mencione|"
    r"evite|espere|pregunte|deje|muestre|insista|cuente|explique|revele|dé|ofrezca|acepte|niegue|intente|mantenga)\b",
    re.IGNORECASE)
# How to speak, not what is so: "You answer in a few sentences.", "Vous répondez en français
# courant.", "habla despacio, con frases cortas".
_HOW_TO_SPEAK = re.compile(
    r"^(?:you\s+|vous\s+|usted\s+)?(?:answer|reply|respond|répondez|responde|contesta)\b"
    r"|\b(?:speak|talk|parlez|habla|hable)\s+(?:\w+\s+)?(?:slowly|simply|briefly|clearly|lentement|simplement|"
    r"brièvement|clairement|despacio|claro)\b"
    r"|\b(?:short|simple)\s+sentences\b|\bphrases\s+(?:courtes|simples)\b|\bfrases\s+(?:cortas|sencillas)\b",
    re.IGNORECASE)
# A direction said of the actor: "You should ...", "You must not ...", "Vous devez ...", "Il faut ...".
_MODAL_DIRECTION = re.compile(
    r"^you\s+(?:should|must|need\s+to|have\s+to|are\s+to|are\s+not\s+to|ought\s+to|will\s+only|will\s+not|won't)\b"
    rf"|^you\s+(?:do\s+not|don't|never|only|must\s+not|should\s+not)\s+{_TELLING}\b"
    r"|^you\s+try\s+(?:not\s+)?to\s+(?:show|hide|stay|remain|keep|be|appear|sound|look|act|seem)\b"
    r"|^vous\s+(?:ne\s+)?(?:devez|devrez|n'avez\s+pas\s+à)\b|^il\s+(?:ne\s+)?(?:faut|vous\s+faut)\b"
    r"|^vous\s+(?:ne|n')\s*(?:\w+\s+)?(?:mentionnez|dites|révélez|racontez|avouez|abordez|évoquez|"
    r"parlez\s+(?:pas\s+|jamais\s+)?(?:de|d'|du|des))\b",
    re.IGNORECASE)
# A condition on what the other person does ("If the guest complains, offer earplugs.").
_CONDITION = re.compile(r"^(?:if|when|whenever|unless|should|once|as\s+soon\s+as|si|s'ils?|s'elles?|quand|lorsque|"
                        r"lorsqu'|dès\s+que|au\s+cas\s+où)\b", re.IGNORECASE)
_ASKING = re.compile(r"\b(?:ask|asks|asked|asking|demande|demandent|demandé|interroge|pose)\b",
                     re.IGNORECASE)
# An imperative inside a clause: "You are worried but do not show it.", "... mais ne le montrez pas."
_EMBEDDED_IMPERATIVE = re.compile(
    r"\b(?:but|and|so|then)\s+(?:do\s+not|don't|try\s+(?:not\s+)?to|never\s+" + _TELLING + r"|only\s+" + _TELLING + r")\b"
    r"|\b(?:mais|et|puis)\s+(?:ne\s+|n')?(?:(?:le|la|les|lui|leur|y|en)\s+|l')*(?!chez\b|assez\b)[\wéèêëàâîïôûùç]{2,}ez\b",
    re.IGNORECASE)
# How to act, not what is so: "You are polite.", "Vous êtes courtoise et patiente."
_MANNERS = (r"(?:polite|friendly|rude|calm|patient|impatient|co-?operative|helpful|chatty|talkative|shy|reluctant|"
            r"defensive|irritable|cheerful|professional|courteous|pleasant|hostile|grumpy|brusque|curt|warm|welcoming|"
            r"polie?|aimable|courtoise?|calme|patiente?|impatiente?|coopérati(?:f|ve)|bavarde?|timide|réticente?|"
            r"sympathique|professionnelle?|chaleureu(?:x|se)|accueillante?|"
            r"amable|educad[oa]|paciente|simpátic[oa]|tranquil[oa]|cordial|atent[oa])")
_MANNER_ONLY = re.compile(rf"^(?:you\s+are|you're|you\s+stay|you\s+remain|vous\s+êtes|vous\s+restez|vous\s+demeurez|"
                          rf"usted\s+es|usted\s+está)\s+(?:very\s+|quite\s+|always\s+|très\s+|assez\s+|toujours\s+|"
                          rf"muy\s+|siempre\s+)?{_MANNERS}(?:,?\s+(?:and|but|et|mais|y|pero)\s+{_MANNERS})?\s*[.!]?$",
                          re.IGNORECASE)
# A manner and more ways to behave after it: "Usted es amable, hace preguntas sencillas, ...".
_MANNER_FIRST = re.compile(rf"^(?:you\s+are|you're|vous\s+êtes|usted\s+es)\s+{_MANNERS}\s*,", re.IGNORECASE)


def is_direction(clause: str) -> bool:
    """Whether a clause of a brief is a direction to the actor (how to play the role, when to
    say what), which the person never says, rather than a fact about the person."""
    text = clause.strip().replace("\u2019", "'")
    if text[:1] in "([":
        return True  # a stage direction in brackets
    text = text.lstrip("\"'\u201c\u00ab ").strip()
    first = re.match(r"[\w']+", text)
    if first and first.group(0).lower() in _ENGLISH_IMPERATIVES:
        return True
    if _FRENCH_IMPERATIVE.search(text) or _EXAM_MARKERS.search(text) or _MODAL_DIRECTION.search(text):
        return True
    if _SPANISH_IMPERATIVE.search(text) or _HOW_TO_SPEAK.search(text):
        return True
    if _EMBEDDED_IMPERATIVE.search(text) or _MANNER_ONLY.match(text) or _MANNER_FIRST.match(text):
        return True
    return _is_conditional_direction(text)


def _is_conditional_direction(text: str) -> bool:
    """"If the candidate asks about Y, say Z.", "Si le client se plaint, proposez ...": a
    condition on being asked, or one whose main clause is an imperative."""
    if not _CONDITION.match(text):
        return False
    if _ASKING.search(text):
        return True
    main = text.rsplit(",", 1)[-1].strip() if "," in text else ""
    first = re.match(r"[\w']+", main)
    imperative = bool(first) and first.group(0).lower() in _ENGLISH_IMPERATIVES
    return imperative or bool(main and _FRENCH_IMPERATIVE.search(main))


def brief_clauses(brief: str) -> list[str]:
    """The brief as clauses that each hold one fact (or one direction): its sentences, split
    where a second clause has a subject of its own. Each ends as a sentence does."""
    clauses = []
    for sentence in _SENTENCE_END.split(" ".join(brief.split())):
        for clause in _CLAUSE_BREAK.split(sentence):
            clause = _CONJUNCTION.sub("", clause.strip()).strip(" ,")
            if clause:
                clauses.append(_as_sentence(clause))
    return clauses


@functools.cache
def role_facts(brief: str) -> tuple[str, ...]:
    """What the person may say of the brief, one fact an answer, in the first person and in the
    brief's order: its clauses that are not directions, each once."""
    facts: list[str] = []
    for clause in brief_clauses(brief):
        if not is_direction(clause):
            fact = first_person(clause)
            if fact not in facts:
                facts.append(fact)
    return tuple(facts)


def _as_sentence(clause: str) -> str:
    """A clause as a sentence of its own: a capital first, a full stop last (unless it has one)."""
    clause = clause[:1].upper() + clause[1:]
    ended = clause.rstrip(")]\"'\u201d\u00bb")[-1:] in (".", "?", "!", "\u2026")
    return clause if ended else clause + "."
