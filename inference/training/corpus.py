"""The English corpus the demo models are pre-trained on, built offline from installed files.

Why this corpus: the build must run on any machine that installed requirements.txt, with no
network (the Hugging Face Hub and dataset mirrors are unreachable). The largest body of real,
edited English prose already on such a machine is the documentation that ships with Python
and the pinned packages:

- ``pydoc_data.topics`` from the standard library: the Python Language Reference as plain text
  (what ``help("assert")`` prints), written as careful expository prose;
- docstrings of the standard library's modules, classes and functions (parsed with ``ast``,
  never imported);
- docstrings of a fixed list of well-documented pinned packages (``DOCSTRING_PACKAGES``):
  projects whose docstrings are narrative sentences rather than argument tables;
- package READMEs: the long description in every ``*.dist-info/METADATA``.

So the models learn the English of software documentation ("Return the value of the key.",
"If the file does not exist, an error is raised."). That domain is narrow, but it is genuine
English, learnable in minutes, and the site's sample sentences are written in it.

Only prose survives the filters: paragraphs that contain code blocks, doctest lines, argument
lists, tables, headings or indented structure are dropped whole; sentences must look like
English sentences (capitalised, ending in ``.``/``!``/``?``, mostly lowercase words, a
function word, few identifiers, no URLs, almost no non-ASCII characters, no licence
boilerplate). Sentences are de-duplicated across the whole corpus. Files are read in sorted
order of their path relative to the source root, so two machines with the same pinned
requirements build byte-identical corpora (``Corpus.fingerprint`` proves it).

A document is one docstring, one reference topic or one README; its sentences stay in order,
which is what BERT's next-sentence prediction needs. About 2% of documents (chosen by a stable
hash of the document id) are held out for evaluation.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import multiprocessing as mp
import os
import re
import sysconfig
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# Packages whose docstrings are mostly narrative prose, measured by prose kept per byte of
# source parsed (transformers and pygments were left out: under 1% of their source survives
# the filters, and parsing their 58 MB cost a third of the corpus stage).
DOCSTRING_PACKAGES: tuple[str, ...] = (
    "django",
    "celery",
    "kombu",
    "click",
    "jinja2",
    "markdown",
    "sqlparse",
    "numpy",
    "scipy",
    "sklearn",
    "networkx",
    "matplotlib",
    "sympy",
    "joblib",
    "pydantic",
    "hypothesis",
    "_pytest",
    "redis",
    "setuptools",
    "pip",
    "anyio",
    "prompt_toolkit",
    "fsspec",
    "huggingface_hub",
    "torch",
)
# Standard library folders that are tests, tools or non-English data.
STDLIB_SKIP = {"site-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo", "encodings"}
HOLDOUT_PERCENT = 2

_UNDERLINE = re.compile(r"^\s*([=\-~^*#\"+`'.:_])\1{2,}\s*$")
_BULLET = re.compile(r"^([-*+\u2022]|\d{1,2}[.)]|[a-z][.)])\s+(\S.*)$")
_STRUCTURED_START = re.compile(r"^(>>>|\.\.\.|\.\. |:\w|\||\$ |#|%|@|\{|\}|\[\d|<|>|\w+\s*=)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_URL = re.compile(r"(https?://|www\.|\w@\w|\.com\b|\.org\b|\.io\b|\.html?\b)", re.I)
_ROLE = re.compile(r":[\w:+.-]+:`~?!?([^`<]*?)(?:\s*<[^`>]*>)?`")
_LITERAL = re.compile(r"``([^`]+)``")
_BACKTICK = re.compile(r"`([^`]+)`_{0,2}")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPH = re.compile(r"(\*{1,2}|_{2})(\S(?:.*?\S)?)\1")
_HYPHEN_BREAK = re.compile(r"([a-z])- ([a-z])")
_RST_REF = re.compile(r"\b([A-Za-z]\w*?)_(?=[\s.,;:)]|$)")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_CODEISH = re.compile(r"[_(){}\[\]=<>|\\/#@$%^~*]|\w\.\w|->|::")
_SPLIT = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(]?[A-Z])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "Mr.", "Mrs.", "Dr.", "No.", "approx.")
_FUNCTION_WORDS = frozenset(
    {
        *("the", "a", "an", "is", "are", "was", "be", "been", "of", "to", "in", "on", "for"),
        *("and", "or", "that", "this", "it", "with", "as", "by", "from", "not", "if", "when"),
        *("which", "can", "will", "may", "should", "must", "has", "have"),
    }
)
_BOILERPLATE = re.compile(
    r"(copyright|licen[cs]e|warrant|liabilit|all rights reserved|redistribut|"
    r"provided \"?as is|permission is hereby|merchantab|deprecated since|todo\b|xxx\b)",
    re.I,
)


@dataclass(frozen=True)
class Document:
    """One docstring, reference topic or README, as its prose sentences in order."""

    doc_id: str
    source: str
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass
class Corpus:
    documents: list[Document]
    sources: dict[str, dict] = field(default_factory=dict)

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
            "fingerprint": self.fingerprint(),
        }

    # --- persistence (the build caches the corpus under .work/ so a resume skips parsing) ---
    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps({"sources": self.sources}) + "\n")
            for doc in self.documents:
                fh.write(json.dumps([doc.doc_id, doc.source, list(doc.sentences)]) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> Corpus:
        with path.open(encoding="utf-8") as fh:
            header = json.loads(fh.readline())
            docs = [Document(i, s, tuple(sents)) for i, s, sents in map(json.loads, fh)]
        return cls(documents=docs, sources=header["sources"])


# --- pure text functions ---------------------------------------------------------------------


def prose_paragraphs(text: str) -> list[str]:
    """Paragraphs of running prose in a docstring/README, each joined onto one line.

    Anything with structure is dropped whole: indented blocks (code, argument descriptions),
    headings (underlined or ``#``), doctest and directive lines, tables, fenced code.
    Bullet items count as paragraphs of their own.
    """
    paragraphs: list[str] = []
    current: list[str] = []
    bad = False
    bullet_indent = 0
    in_fence = False

    def flush() -> None:
        nonlocal current, bad, bullet_indent
        if current and not bad:
            joined = " ".join(part.strip() for part in current)
            paragraphs.append(_HYPHEN_BREAK.sub(r"\1-\2", joined))
        current, bad, bullet_indent = [], False, 0

    for raw in text.expandtabs(4).splitlines():
        if _FENCE.match(raw):
            flush()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        line = raw.rstrip()
        if not line.strip():
            flush()
            continue
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if _UNDERLINE.match(line):
            bad = True  # the heading above it is dropped with it
            continue
        bullet = _BULLET.match(stripped) if indent == 0 else None
        if bullet:
            flush()
            current = [bullet.group(2)]
            bullet_indent = len(stripped) - len(bullet.group(2))
            continue
        if indent:
            if current and bullet_indent and indent <= bullet_indent + 1:
                current.append(stripped)  # continuation of a bullet item
            else:
                bad = True
            continue
        if bullet_indent:  # an unindented line after a bullet item starts a new paragraph
            flush()
        if _STRUCTURED_START.match(stripped):
            bad = True
        current.append(stripped)
    flush()
    return paragraphs


def clean_markup(text: str) -> str:
    """Strip reStructuredText/Markdown inline markup, keeping the words."""
    text = _ROLE.sub(r"\1", text)
    text = _LITERAL.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _BACKTICK.sub(r"\1", text)
    text = _EMPH.sub(r"\2", text)
    text = _RST_REF.sub(r"\1", text)
    text = text.replace("::", ":").replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2014", " - ")
    return re.sub(r"\s+", " ", text).strip()


def split_sentences(paragraph: str) -> list[str]:
    protected = paragraph
    for i, abbr in enumerate(_ABBREVIATIONS):
        protected = protected.replace(abbr, f"\x00{i}\x00")
    parts = _SPLIT.split(protected)
    out = []
    for part in parts:
        for i, abbr in enumerate(_ABBREVIATIONS):
            part = part.replace(f"\x00{i}\x00", abbr)
        if part.strip():
            out.append(part.strip())
    return out


def is_prose_sentence(sentence: str) -> bool:
    """True for a sentence of ordinary English (not code, not a URL, not boilerplate)."""
    if not 20 <= len(sentence) <= 320:
        return False
    if not (sentence[0].isupper() or sentence[0] in "\"'") or sentence[-1] not in ".!?":
        return False
    if sentence.endswith("...") or _URL.search(sentence) or _BOILERPLATE.search(sentence):
        return False
    non_ascii = sum(1 for ch in sentence if ord(ch) > 127)
    if non_ascii > 1:
        return False
    tokens = sentence.split()
    if not 4 <= len(tokens) <= 60:
        return False
    codeish = sum(1 for tok in tokens if _CODEISH.search(tok.rstrip(".,;:!?")))
    if codeish / len(tokens) > 0.1:
        return False
    words = [tok.strip("\"'(),.;:!?") for tok in tokens]
    plain = sum(1 for w in words if w and _WORD.fullmatch(w) and (w.islower() or w.istitle()))
    if plain / len(tokens) < 0.85:
        return False
    digits = sum(ch.isdigit() for ch in sentence)
    if digits > 6:
        return False
    lowered = {w.lower() for w in words}
    return bool(lowered & _FUNCTION_WORDS)


def prose_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for paragraph in prose_paragraphs(text):
        for sentence in split_sentences(clean_markup(paragraph)):
            if is_prose_sentence(sentence):
                sentences.append(sentence)
    return sentences


def python_docstrings(source: bytes) -> Iterator[tuple[str, str]]:
    """(qualified name, cleaned docstring) for the module and every class/function, in order."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return

    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, str]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                doc = ast.get_docstring(child, clean=True)
                if doc:
                    yield name, doc
                yield from walk(child, name + ".")

    doc = ast.get_docstring(tree, clean=True) if isinstance(tree, ast.Module) else None
    if doc:
        yield "<module>", doc
    yield from walk(tree, "")


def metadata_description(text: str) -> str:
    """The long description (README) of a METADATA file: the body after the headers."""
    _headers, _sep, body = text.partition("\n\n")
    return body


# --- gathering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawDocument:
    doc_id: str
    source: str
    text: str


def _stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _site_packages_dir() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def _python_files(root: Path, *, skip_top: set[str] | None = None) -> list[Path]:
    files = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if skip_top and rel.parts[0] in skip_top:
            continue
        if any(part in {"tests", "test", "testing", "__pycache__"} for part in rel.parts[:-1]):
            continue
        files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _reference_topics(topics_file: Path) -> list[tuple[str, str]]:
    """(topic, text) pairs of pydoc_data/topics.py, read with ast (never imported)."""
    tree = ast.parse(topics_file.read_bytes())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            return sorted(
                (k.value, v.value)
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
            )
    return []


def raw_documents(
    *,
    stdlib_dir: Path | None = None,
    site_packages: Path | None = None,
    packages: Iterable[str] = DOCSTRING_PACKAGES,
    max_files_per_source: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Iterator[RawDocument]:
    """Every candidate document, in a fixed order (topics, stdlib, packages, READMEs).

    `on_progress(fraction)` is called as files are read (the fraction of files done).
    """
    stdlib_dir = stdlib_dir or _stdlib_dir()
    site_packages = site_packages or _site_packages_dir()
    limit = max_files_per_source

    jobs: list[tuple[str, Path, str]] = []  # (kind, file, source label)
    topics_file = stdlib_dir / "pydoc_data" / "topics.py"
    if topics_file.exists():
        jobs.append(("reference", topics_file, "python-reference"))
    for path in _python_files(stdlib_dir, skip_top=STDLIB_SKIP)[:limit]:
        jobs.append(("python", path, "python-stdlib"))
    for package in packages:
        if (site_packages / package).is_dir():
            for path in _python_files(site_packages / package)[:limit]:
                jobs.append(("python", path, f"docstrings:{package}"))
    for path in sorted(site_packages.glob("*.dist-info/METADATA"))[:limit]:
        jobs.append(("readme", path, "readmes"))

    python_paths = [path for kind, path, _ in jobs if kind == "python"]
    with _parser_pool(len(python_paths)) as pool:
        # an ordered map: results come back in job order whatever the workers' timing
        if pool is None:
            parsed = map(_file_docstrings, python_paths)
        else:
            parsed = pool.map(_file_docstrings, python_paths, chunksize=16)
        yield from _documents_from_jobs(
            jobs, iter(parsed), stdlib_dir, site_packages, limit, on_progress
        )
    if on_progress:
        on_progress(1.0)


def _file_docstrings(path: Path) -> list[tuple[str, str]]:
    return list(python_docstrings(path.read_bytes()))


@contextlib.contextmanager
def _parser_pool(files: int) -> Iterator[ProcessPoolExecutor | None]:
    """Parse files on every core; a handful of files isn't worth starting processes for."""
    workers = min(os.cpu_count() or 1, 4)
    if workers < 2 or files < 200:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def _documents_from_jobs(jobs, parsed, stdlib_dir, site_packages, limit, on_progress):
    for done, (kind, path, source) in enumerate(jobs):
        if on_progress and done % 200 == 0:
            on_progress(done / len(jobs))
        if kind == "reference":
            for key, value in _reference_topics(path)[:limit]:
                yield RawDocument(f"reference:{key}", source, value)
        elif kind == "python":
            is_stdlib = source == "python-stdlib"
            prefix, root = ("stdlib", stdlib_dir) if is_stdlib else ("pkg", site_packages)
            rel = path.relative_to(root).as_posix()
            for name, doc in next(parsed):
                yield RawDocument(f"{prefix}:{rel}:{name}", source, doc)
        else:
            dist = path.parent.name.removesuffix(".dist-info")
            text = path.read_text(encoding="utf-8", errors="replace")
            yield RawDocument(f"readme:{dist}", source, metadata_description(text))


def build_corpus(
    *,
    stdlib_dir: Path | None = None,
    site_packages: Path | None = None,
    packages: Iterable[str] = DOCSTRING_PACKAGES,
    max_files_per_source: int | None = None,
    max_chars: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Corpus:
    """Gather, filter and de-duplicate. Deterministic for a given set of installed files."""
    seen: set[str] = set()
    documents: list[Document] = []
    sources: dict[str, dict] = {}
    total = 0
    for raw in raw_documents(
        stdlib_dir=stdlib_dir,
        site_packages=site_packages,
        packages=packages,
        max_files_per_source=max_files_per_source,
        on_progress=on_progress,
    ):
        info = sources.setdefault(raw.source, {"documents": 0, "sentences": 0, "chars": 0})
        info.setdefault("raw_chars", 0)
        info["raw_chars"] += len(raw.text)
        kept = []
        for sentence in prose_sentences(raw.text):
            key = re.sub(r"\W+", " ", sentence.lower()).strip()
            if key in seen:
                continue
            seen.add(key)
            kept.append(sentence)
        if not kept:
            continue
        doc = Document(raw.doc_id, raw.source, tuple(kept))
        documents.append(doc)
        info["documents"] += 1
        info["sentences"] += len(kept)
        info["chars"] += len(doc.text)
        total += len(doc.text)
        if max_chars is not None and total >= max_chars:
            break
    return Corpus(documents=documents, sources=sources)
