"""A role's brief speaks to the actor ("You have had chest pain for three weeks."); the person
answers in the first person ("I have had chest pain for three weeks."). Word swaps, English,
French and Spanish, with no grammar beyond what each swap needs.

English swaps every "you"/"your" it meets. French needs the verb conjugated and "votre"
given a gender, so a French sentence is swapped only when every second-person word in it
is one the swap knows (`first_person_french` returns None otherwise, and the sentence is
said as the brief words it): better the brief's wording than broken French.
"""

from __future__ import annotations

import re

# ---- English ------------------------------------------------------------------------------

# Second person to first, longest first; "you" alone is handled by first_person_english().
_ENGLISH_SWAPS = {"you are": "I am", "you were": "I was", "you're": "I'm", "you've": "I've", "you'll": "I'll",
                  "you'd": "I'd", "yourself": "myself", "yours": "mine", "your": "my"}
# After these, "you" is the subject ("when you climb" -> "when I climb"); elsewhere the object ("tells you" -> "me").
_SUBJECT_BEFORE = frozenset("and but or so when if because that as while since until though although do does "
                            "did can could will would should".split())
# Before these, "you" is the subject wherever it stands ("worried you will lose" -> "worried I will lose").
_SUBJECT_AFTER = frozenset("will would can could should shall may might must have had do did don't didn't can't "
                           "cannot won't wouldn't couldn't shouldn't haven't hadn't need".split())
_ENGLISH_PATTERN = re.compile(
    r"\b(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(_ENGLISH_SWAPS, key=len, reverse=True))
    + r"|you)\b", re.IGNORECASE)


def first_person_english(sentence: str) -> str:
    """A second-person sentence in the first person: the word swaps of _ENGLISH_SWAPS, then
    "you" as I (a subject: first, after a conjunction or auxiliary, or before an auxiliary)
    or me (otherwise)."""
    def swap(match: re.Match) -> str:
        key = " ".join(match.group(0).lower().split())
        if key in _ENGLISH_SWAPS:
            return _ENGLISH_SWAPS[key]
        before = re.findall(r"[A-Za-z']+", sentence[: match.start()])
        after = re.match(r"\s+([A-Za-z']+)", sentence[match.end():])
        subject = not before or before[-1].lower() in _SUBJECT_BEFORE
        return "I" if subject or (after and after.group(1).lower() in _SUBJECT_AFTER) else "me"

    return _capitalized(_ENGLISH_PATTERN.sub(swap, sentence))


# ---- French -------------------------------------------------------------------------------

# The "je" form of verbs the rules in _je_form() get wrong (irregular, or a doubled consonant).
_JE_FORMS = {
    "êtes": "suis", "avez": "ai", "faites": "fais", "dites": "dis", "allez": "vais", "pouvez": "peux",
    "voulez": "veux", "devez": "dois", "savez": "sais", "prenez": "prends", "comprenez": "comprends",
    "apprenez": "apprends", "venez": "viens", "revenez": "reviens", "devenez": "deviens", "tenez": "tiens",
    "souvenez": "souviens", "vivez": "vis", "buvez": "bois", "voyez": "vois", "croyez": "crois",
    "mettez": "mets", "lisez": "lis", "écrivez": "écris", "dormez": "dors", "sortez": "sors", "partez": "pars",
    "sentez": "sens", "servez": "sers", "courez": "cours", "connaissez": "connais", "recevez": "reçois",
    "ouvrez": "ouvre", "offrez": "offre", "souffrez": "souffre", "appelez": "appelle", "rappelez": "rappelle",
    "jetez": "jette", "aurez": "aurai", "irez": "irai", "pourrez": "pourrai", "voudrez": "voudrai",
    "devrez": "devrai", "saurez": "saurai", "viendrez": "viendrai", "verrez": "verrai", "prendrez": "prendrai",
}
# Nouns "votre" may stand before, by gender ("votre mère" -> "ma mère"); before a vowel it is always "mon".
_FEMININE = frozenset("""
mère femme fille sœur soeur tante grand-mère famille compagne copine voisine fiancée collègue patronne cheffe
santé vie maison voiture chambre réservation commande carte tension poitrine tête jambe main gorge douleur toux
fièvre maladie boutique entreprise banque date valise facture clé clef profession situation journée semaine ville
rue cuisine salle fenêtre porte note question demande réponse taille couleur chaussure robe chemise veste
boulangerie pharmacie école classe mutuelle ordonnance consommation cigarette bière vue peau dent cheville
petite grande vieille nouvelle meilleure première dernière seule
""".split())
_MASCULINE = frozenset("""
père mari fils frère oncle grand-père compagnon copain voisin fiancé patron chef médecin docteur pharmacien
travail métier poste bureau cœur coeur ventre dos bras pied genou cou nez traitement médicament rendez-vous
magasin chien chat vélo passeport billet vol train nom prénom numéro téléphone compte salaire loyer quartier pays
problème budget choix repas sommeil poids sang régime tabac café vin sport week-end weekend mariage permis
restaurant hôtel client fournisseur dossier contrat horaire service retard colis sac
petit grand vieux nouveau meilleur premier dernier seul
""".split())
# After these (or at the start) "vous" stands where a subject does: it is one, or the swap does not know it.
_CLAUSE_OPENERS = frozenset("et mais ou donc car quand lorsque lorsqu si que qu parce puisque comme où dont alors "
                            "puis".split())
# After these "vous" is a stressed pronoun ("chez vous" -> "chez moi").
_PREPOSITIONS = frozenset("chez avec pour sans de à sur contre vers entre derrière devant après avant comme sauf "
                          "selon envers malgré".split())
_CLITICS = r"(?:(?:le|la|les|lui|leur|y|en)\s+|l'|(?:y|en)\s+)"
# "vous" and what follows it: a negation, a reflexive "vous", clitics, then a word (the verb, when vous is its subject).
_VOUS = re.compile(r"(?<![\w-])(vous)(?![\w-])(\s+)(ne\s+|n')?(vous\s+)?((?:" + _CLITICS + r")*)([\wéèêëàâîïôûùç']+)",
                   re.IGNORECASE)
_SECOND_PERSON = re.compile(r"(?<![\w-])(vous|votre|vos|vôtre|vôtres)(?![\w])|(?<!rendez)-vous\b", re.IGNORECASE)
_VOWEL_START = re.compile(r"^[aeiouyhàâéèêëîïôûù]", re.IGNORECASE)


def first_person_french(sentence: str) -> str | None:
    """A French sentence in the vous form said in the first person ("Vous avez mal à la gorge."
    -> "J'ai mal à la gorge."), or None when a second-person word in it is beyond the swap
    (an inverted "avez-vous", "votre" before a noun of unknown gender, "le vôtre")."""
    if not _SECOND_PERSON.search(sentence):
        return sentence
    text = _VOUS.sub(_swap_vous, sentence)
    text = re.sub(r"(?<![\w-])(vous)(?=-même|(?![\w-]))", lambda m: _stressed(m, text), text, flags=re.IGNORECASE)
    text = re.sub(r"(?<![\w-])vos(?![\w-])", "mes", text)
    text = re.sub(r"(?<![\w-])Vos(?![\w-])", "Mes", text)
    text = re.sub(r"(?<![\w-])(votre)(\s+)([\w\-éèêëàâîïôûùçœ]+)", _possessive, text, flags=re.IGNORECASE)
    if _SECOND_PERSON.search(text) or "\0" in text:
        return None  # a word the swap does not know: the brief's own wording is said instead
    return _elided(_capitalized(text))


def _swap_vous(match: re.Match) -> str:
    """"vous" as the subject of a vous-form verb ("vous fumez" -> "je fume"), or as the object
    of another verb after its subject ("cela vous inquiète" -> "cela me inquiète", elided later);
    anything else is left for first_person_french() to find unknown."""
    vous, space, negation, reflexive, clitics, word = match.groups()
    je_form = _je_form(word.lower())
    negation = negation or ""
    if je_form is None:
        before = re.findall(r"[\wàâéèêëîïôûùç]+|,", match.string[: match.start()])
        after_subject = bool(before) and before[-1] != "," and before[-1].lower() not in _CLAUSE_OPENERS
        if negation or reflexive or not after_subject:
            return match.group(0)  # "et vous aussi": no verb of vous's own, and no subject before it
        return f"me{space}{clitics}{word}"  # "votre médecin vous a dit"
    return f"je{space}{negation}{'me ' if reflexive else ''}{clitics}{_same_case(word, je_form)}"


def _je_form(verb: str) -> str | None:
    """The je form of a verb in the vous form, or None when the word is no such verb."""
    if verb in _JE_FORMS:
        return _JE_FORMS[verb]
    if verb in ("chez", "assez", "nez", "rez") or not verb.endswith("ez") or len(verb) < 4:
        return None
    if verb.endswith("iez"):  # imperfect and conditional: vous fumiez -> je fumais
        return verb[:-3] + "ais"
    if verb.endswith("erez"):  # future: vous fumerez -> je fumerai
        return verb[:-2] + "ai"
    if verb.endswith("issez"):  # vous finissez -> je finis
        return verb[:-5] + "is"
    stem = verb[:-2]
    if re.search(r"[nr]d$", stem):  # vous vendez, répondez, perdez -> je vends, réponds, perds
        return stem + "s"
    # vous préférez, levez -> je préfère, lève: an é or e before the last consonant opens
    opened = re.sub(r"[ée]((?:ch|gl|gr|tr|br|vr|cr|pl|bl|gn|[^aeiouyéèêëàâîïôûù]))$", r"è\1", stem)
    return opened + "e"


def _stressed(match: re.Match, text: str) -> str:
    """A "vous" left after the subject and object swaps: "moi" after a preposition or in
    "vous-même"; otherwise unknown (marked, so the sentence is left as the brief words it)."""
    before = re.findall(r"[\wàâéèêëîïôûùç']+", text[: match.start()])
    after = text[match.end(): match.end() + 6]
    if (before and before[-1].lower() in _PREPOSITIONS) or after.startswith("-même"):
        return _same_case(match.group(1), "moi")
    return "\0"


def _possessive(match: re.Match) -> str:
    """"votre" as "mon" or "ma" by the noun's gender; unknown gender: marked."""
    votre, space, noun = match.groups()
    if _VOWEL_START.match(noun):
        mine = "mon"
    elif noun.lower() in _FEMININE:
        mine = "ma"
    elif noun.lower() in _MASCULINE:
        mine = "mon"
    else:
        return "\0"
    return f"{_same_case(votre, mine)}{space}{noun}"


def _elided(text: str) -> str:
    """je, me, ne before a vowel or h as j', m', n' ("je ai" -> "j'ai", "me inquiète" -> "m'inquiète")."""
    return re.sub(r"(?<![\w-])([JjMm])e\s+(?=[aeiouyhàâéèêëîïôûù])", r"\1'", text)


# ---- Spanish ------------------------------------------------------------------------------

# A brief in the usted form names "usted" where it says who ("Usted es Lucía, dependienta.");
# its verbs are in the third person, so a sentence without "usted" is left as the brief words
# it (it may be about anyone). The yo form of the verbs after "usted": irregular ones here,
# regular ones from their ending (trabaja -> trabajo, vive -> vivo).
_YO_FORMS = {"es": "soy", "está": "estoy", "tiene": "tengo", "va": "voy", "hace": "hago", "puede": "puedo",
             "quiere": "quiero", "sabe": "sé", "dice": "digo", "viene": "vengo", "sale": "salgo", "pone": "pongo",
             "conoce": "conozco", "prefiere": "prefiero", "piensa": "pienso", "cree": "creo", "ha": "he",
             "da": "doy", "ve": "veo", "oye": "oigo", "siente": "siento", "duerme": "duermo", "vuelve": "vuelvo"}
_USTED = re.compile(r"\b([Uu])sted\s+(no\s+)?([a-záéíóúñ]+)\b")


def first_person_spanish(sentence: str) -> str | None:
    """A Spanish sentence in the usted form said in the first person ("Usted es Lucía." ->
    "Soy Lucía."), or None when an "usted" in it is not the subject of a verb the swap knows."""
    if not re.search(r"\busted\b", sentence, re.IGNORECASE):
        return sentence

    def swap(match: re.Match) -> str:
        initial, negation, verb = match.groups()
        yo = _YO_FORMS.get(verb) or (verb[:-1] + "o" if re.fullmatch(r"[a-záéíóúñ]{2,}[ae]", verb) else None)
        if yo is None:
            return match.group(0)
        said = f"{negation or ''}{yo}"
        return _same_case(initial, said)

    text = _USTED.sub(swap, sentence)
    text = re.sub(r"\bsus\b", "mis", re.sub(r"\bsu\b", "mi", text))
    return None if re.search(r"\busted\b", text, re.IGNORECASE) else text


# ---- all ----------------------------------------------------------------------------------

def first_person(sentence: str) -> str:
    """A sentence of a brief as the person says it: English swaps, then French or Spanish ones
    where that swap knows every word (a sentence has one language's words, not two)."""
    english = first_person_english(sentence)
    # Each returns the sentence unchanged when it has none of its language's second person.
    return next((said for said in (first_person_french(english), first_person_spanish(english))
                 if said is not None and said != english), english)


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _same_case(model: str, word: str) -> str:
    """word with model's initial case ("Vous" -> "Je")."""
    return word[:1].upper() + word[1:] if model[:1].isupper() else word
