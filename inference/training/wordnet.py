"""WordNet, read straight from Debian's `wordnet-base` files: glosses, examples and words.

Two uses:

- **Everyday English to train on.** Each synset gives a definition sentence built from its
  gloss ("Paris is the capital and largest city of France.", "To run is to move fast by
  using one's feet.") and its example sentences ("They had a nice stay in Paris."). WordNet's
  data files list the synsets of one lexicographer file together (all locations, all
  animals, ...), and neighbouring synsets are usually about related things (Paris, then its
  districts, then other French cities), so a run of neighbours makes a short document
  whose sentences belong together: what BERT's next-sentence prediction learns from.
- **Dictionary words.** The evaluation counts how many words of a GPT continuation are real
  English words: WordNet's lemmas, their inflections, and the closed-class words (articles,
  pronouns, prepositions, ...) that WordNet doesn't list.

Only the files are read (no nltk, no network); `WORDNET_DIR` points elsewhere if needed.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path("/usr/share/wordnet")
DATA_FILES = (("n", "data.noun"), ("v", "data.verb"), ("a", "data.adj"), ("r", "data.adv"))
INSTALL_HINT = (
    "WordNet's files are missing ({path}). Install Debian's wordnet-base package "
    "(`make wordnet`, which `make run` and `make test` call; or `apt-get install "
    "wordnet-base`), or point WORDNET_DIR at a folder holding data.noun, data.verb, ..."
)

_QUOTED = re.compile(r'"([^"]+)"')
_LEMMA_MARK = re.compile(r"\([a-z]+\)$")  # adjective position markers: tired(p)
_DETERMINERS = frozenset(
    """
    a an the any one some all this that these those each every no its his her their
    something someone somebody anything anyone not being having
    """.split()  # noqa: SIM905 - a word list reads better as text
)

# Words WordNet leaves out on purpose (it lists only nouns, verbs, adjectives and adverbs).
CLOSED_CLASS = frozenset(
    """
    a an the this that these those some any each every either neither no none all both half
    several many much more most few fewer less least other another such what which whose
    whatever whichever i me my mine myself you your yours yourself yourselves he him his
    himself she her hers herself it its itself we us our ours ourselves they them their
    theirs themselves one ones someone somebody something anyone anybody anything everyone
    everybody everything nobody nothing who whom whoever and or but nor so yet for if
    unless because since while whereas although though whether than as when whenever where
    wherever after before until till once of to in on at by with from into onto upon about
    above across against along among around behind below beneath beside besides between
    beyond during except inside near off out outside over past through throughout toward
    towards under underneath unlike up via within without be am is are was were been being
    have has had having do does did done doing will would shall should can could may might
    must ought not n't 's 're 've 'd 'll 'm there here then now very too also just only
    """.split()  # noqa: SIM905 - a word list reads better as text
)


class WordNetMissing(RuntimeError):
    """The WordNet data files aren't installed."""


@dataclass(frozen=True)
class Synset:
    offset: str
    pos: str  # n v a r
    lexfile: int  # lexicographer file number: 15 = noun.location, 05 = noun.animal, ...
    lemmas: tuple[str, ...]
    definitions: tuple[str, ...]
    examples: tuple[str, ...]
    sense_keys: tuple[str, ...] = ()  # lemma%type:lexfile:lexid:: (not for satellite adjectives)
    frequency: int = 0  # times its senses were tagged in the SemCor corpus (cntlist.rev)


def wordnet_dir() -> Path:
    return Path(os.environ.get("WORDNET_DIR") or DEFAULT_DIR)


def require(directory: Path | None = None) -> Path:
    directory = directory or wordnet_dir()
    if not all((directory / name).is_file() for _, name in DATA_FILES):
        raise WordNetMissing(INSTALL_HINT.format(path=directory))
    return directory


_SS_TYPES = {"n": 1, "v": 2, "a": 3, "r": 4}


def parse_line(line: str, pos: str) -> Synset | None:
    """One line of a data.* file, or None for the licence header."""
    if line.startswith("  ") or " | " not in line:
        return None
    head, _sep, gloss = line.partition(" | ")
    fields = head.split()
    count = int(fields[3], 16)
    words, lex_ids = fields[4 : 4 + 2 * count : 2], fields[5 : 5 + 2 * count : 2]
    lemmas = tuple(_LEMMA_MARK.sub("", word).replace("_", " ") for word in words)
    lexfile = int(fields[1])
    keys = ()
    if fields[2] in _SS_TYPES:  # satellite adjectives ("s") have keys naming a head word
        keys = tuple(
            f"{_LEMMA_MARK.sub('', word).lower()}%{_SS_TYPES[fields[2]]}:{lexfile:02d}:"
            f"{int(lex_id, 16):02d}::"
            for word, lex_id in zip(words, lex_ids, strict=True)
        )
    examples = tuple(q.strip() for q in _QUOTED.findall(gloss) if q.strip())
    definitions = tuple(
        part.strip() for part in _QUOTED.sub("", gloss).split(";") if len(part.strip().split()) >= 2
    )
    return Synset(fields[0], pos, lexfile, lemmas, definitions, examples, keys)


def tag_counts(directory: Path | None = None) -> dict[str, int]:
    """Sense key -> how often that sense was tagged in SemCor (WordNet's cntlist.rev)."""
    path = require(directory) / "cntlist.rev"
    counts: dict[str, int] = {}
    if path.is_file():
        for line in path.read_text(encoding="latin-1").splitlines():
            parts = line.split()
            if len(parts) == 3:
                counts[parts[0]] = int(parts[2])
    return counts


def synsets(directory: Path | None = None) -> Iterator[Synset]:
    """Every synset, in the data files' order (nouns, verbs, adjectives, adverbs)."""
    directory = require(directory)
    counts = tag_counts(directory)
    for pos, name in DATA_FILES:
        with (directory / name).open(encoding="latin-1") as handle:
            for line in handle:
                synset = parse_line(line, pos)
                if synset is not None:
                    frequency = sum(counts.get(key, 0) for key in synset.sense_keys)
                    yield dataclasses.replace(synset, frequency=frequency)


# Lexicographer files: 5 noun.animal, 18 noun.person, 20 noun.plant (see WordNet's lexnames).
_TAXONOMY_FILES = {5, 20}
_TAXONOMY = re.compile(  # glosses that name a taxon: "type genus of the Canidae", "family of ..."
    r"^(a |an |the |any |type )?(genus|genera|family|subfamily|order|suborder|class|"
    r"subclass|phylum|division|species|subspecies|superfamily|tribe)\b"
)


def is_everyday(synset: Synset) -> bool:
    """False for senses a general reader never meets: the taxa of biology (genera, families,
    orders: capitalised names or glosses that start by naming a taxon) and named people of
    noun.person (mostly obscure historical figures). Animals and plants themselves ("A dog
    is a member of the genus Canis."), places, things, feelings and actions all stay."""
    if synset.pos != "n":
        return True
    if synset.lexfile in _TAXONOMY_FILES and (
        synset.lemmas[0][:1].isupper()
        or _TAXONOMY.match(synset.definitions[0] if synset.definitions else "")
    ):
        return False
    return not (synset.lexfile == 18 and synset.lemmas[0][:1].isupper())


def as_sentence(text: str) -> str:
    """Capitalise the first letter and end with a full stop."""
    text = " ".join(text.strip().strip(";:,").split())
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def definition_sentence(synset: Synset) -> str:
    """The synset's first definition, said as a sentence about its first lemma.

    nouns: "Paris is the capital ...", "A canopic jar is a jar used ...", "Water is a binary
    compound ..."; verbs: "To run is to move fast ..."; adjectives and adverbs: "Tired means
    depleted of strength or energy."
    """
    if not synset.definitions:
        return ""
    word, definition = synset.lemmas[0], synset.definitions[0]
    first = definition.split()[0]
    if synset.pos == "n":
        # "a member of ..." is about a countable thing: "A dog is a member of ...". A gloss
        # without an article gets one for the predicate only ("Water is a binary compound").
        countable = first in {"a", "an"}
        if first.lower() not in _DETERMINERS and not first.endswith(("ing", "s")):
            definition = f"{_article(first)} {definition}"
        subject = f"{_article(word)} {word}" if countable and word[:1].islower() else word
        return as_sentence(f"{subject} is {definition}")
    if synset.pos == "v":
        return as_sentence(f"to {word} is to {definition}")
    return as_sentence(f"{word} means {definition}")


def synonym_sentence(synset: Synset) -> str:
    """ "Paris is also called City of Light, French capital or capital of France." (nouns)"""
    others = [lemma for lemma in synset.lemmas[1:] if lemma.lower() != synset.lemmas[0].lower()]
    if synset.pos != "n" or not others:
        return ""
    names = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} or {others[-1]}"
    word = synset.lemmas[0]
    subject = word if word[:1].isupper() else f"{_article(word)} {word}"
    return as_sentence(f"{subject} is also called {names}")


_CAPITAL_GLOSS = re.compile(
    r"^(?:the )?((?:national )?capital(?: and (?:largest|chief|main) (?:city|port))?(?: city)?"
    r" of (?:the )?[A-Z][\w'.-]*(?: (?:of )?(?:the )?[A-Z][\w'.-]*)*)"
)
_LOCATION_FILE = 15  # noun.location


def capital_sentences(synset: Synset) -> list[str]:
    """A capital's gloss read the other way round: "Oslo is the capital and largest city of
    Norway." is in the corpus already; "The capital and largest city of Norway is Oslo." and
    "The capital of Norway is Oslo." teach the direction a question asks in ("The capital of
    France is [MASK]."). Masked language models learn a fact in the direction they read it."""
    if synset.pos != "n" or synset.lexfile != _LOCATION_FILE or not synset.definitions:
        return []
    match = _CAPITAL_GLOSS.match(synset.definitions[0])
    if not match:
        return []
    phrase, name = match.group(1), synset.lemmas[0]
    made = [as_sentence(f"the {phrase} is {name}")]
    short = re.sub(r"^(?:national )?capital and \w+ \w+ of ", "capital of ", phrase)
    if short != phrase:
        made.append(as_sentence(f"the {short} is {name}"))
    return made


# sentence kinds: next-sentence negatives match them; GPT learns from all but definitions
DEFINITION, EXAMPLE, QUOTE, PROSE = 0, 1, 2, 3  # PROSE: running text (corpus.prose_documents)


def synset_sentences(synset: Synset) -> list[tuple[str, int]]:
    """(sentence, kind): definition, synonyms, then the examples of three words or more."""
    made = [(definition_sentence(synset), DEFINITION), (synonym_sentence(synset), DEFINITION)]
    made += [(sentence, DEFINITION) for sentence in capital_sentences(synset)]
    made += [(as_sentence(ex), EXAMPLE) for ex in synset.examples if len(ex.split()) >= 3]
    return [(sentence, kind) for sentence, kind in made if sentence]


# --- dictionary words ---------------------------------------------------------------------------

_SUFFIXES = (  # WordNet's own detachment rules (morphy), plus adverbs and comparatives
    ("ies", "y"),
    ("es", "e"),
    ("es", ""),
    ("s", ""),
    ("ed", "e"),
    ("ed", ""),
    ("ing", "e"),
    ("ing", ""),
    ("er", ""),
    ("er", "e"),
    ("est", ""),
    ("est", "e"),
    ("ly", ""),
    ("ily", "y"),
    ("ied", "y"),
    ("'s", ""),
    ("s'", "s"),
)


@functools.lru_cache(maxsize=2)
def lemma_set(directory: Path | None = None) -> frozenset[str]:
    """Every single-word lemma (lower case), plus the irregular forms of the *.exc files."""
    directory = require(directory)
    words: set[str] = set()
    for name in ("index.noun", "index.verb", "index.adj", "index.adv"):
        with (directory / name).open(encoding="latin-1") as handle:
            for line in handle:
                if not line.startswith(" "):
                    lemma = line.split(" ", 1)[0]
                    if "_" not in lemma:
                        words.add(lemma.lower())
    for name in ("noun.exc", "verb.exc", "adj.exc", "adv.exc"):
        path = directory / name
        if path.is_file():
            for line in path.read_text(encoding="latin-1").splitlines():
                if line.split():
                    words.add(line.split()[0].lower())
    return frozenset(words)


def is_dictionary_word(word: str, lemmas: frozenset[str]) -> bool:
    """True for an English word: closed-class, a WordNet lemma, or an inflection of one."""
    word = word.lower().strip("'")
    if not word:
        return False
    if word in CLOSED_CLASS or word in lemmas or word in {"can't", "won't", "shan't"}:
        return True
    if word.endswith("n't"):  # doesn't, isn't, wouldn't
        return is_dictionary_word(word[:-3], lemmas)
    base, apostrophe, ending = word.partition("'")
    if apostrophe and ending in {"s", "re", "ve", "d", "ll", "m"}:  # she's, we're, dog's
        return is_dictionary_word(base, lemmas)
    for suffix, ending in _SUFFIXES:
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            stem = word[: -len(suffix)] + ending
            if stem in lemmas or stem in CLOSED_CLASS:
                return True
            doubled = len(stem) > 2 and stem[-1] == stem[-2]
            if suffix in {"ed", "ing", "er", "est"} and doubled and stem[:-1] in lemmas:
                return True  # stopped -> stop, bigger -> big
    return False
