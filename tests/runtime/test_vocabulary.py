"""Queries far from what a model knows get a warning with suggestions (plugin.vocabulary); the bundle's
own vocabulary replaces the built-in list. Embeddings are faked: the test bundles' text encoders are random."""
import json
import shutil

import pytest

from conftest import fake_embed
from plugin.errors import BundleError
from plugin.query import parse
from plugin.vocabulary import DEFAULT_VOCABULARY, MIN_COSINE, Vocabulary, vocabulary_of


class Counting:
    def __init__(self):
        self.calls = 0

    def __call__(self, texts):
        self.calls += 1
        return fake_embed(texts)


def test_known_wordings_pass_without_running_the_encoder():
    embed = Counting()
    v = Vocabulary(DEFAULT_VOCABULARY, embed)
    for text in ("drums", "The Drums", "the violins", "a bass guitar"):
        assert v.check(text) is None
    assert embed.calls == 0


def test_a_typo_is_reported_with_the_wording_it_misspells_first():
    v = Vocabulary(DEFAULT_VOCABULARY, fake_embed)
    u = v.check("drmus")
    assert u is not None and u.cosine < MIN_COSINE
    assert u.suggestions[0] == "drums" and len(u.suggestions) == 3
    assert "“drmus” is far from every wording this model knows; did you mean “drums”" in u.message()
    assert v.check("snare drum") is None
    assert v.check("distorted snare drum") is None  # a known wording, described further, is near it
    assert v.check("my dog") is not None


def test_a_quoted_query_is_taken_as_meant_and_every_other_description_is_checked():
    v = Vocabulary(DEFAULT_VOCABULARY, fake_embed)
    assert [u.text for u in v.check_query(parse("drums, not the gutar"))] == ["the gutar"]
    assert [u.text for u in v.check_query(parse("everything but the drmus"))] == ["the drmus"]
    assert v.check_query(parse('"drmus"')) == []


def test_the_bundles_vocabulary_and_threshold_replace_the_defaults(text_bundle, tmp_path):
    from plugin import Separator
    from plugin.manifest import MANIFEST, write_manifest

    b = tmp_path / "b"
    shutil.copytree(text_bundle, b)
    m = json.loads((b / MANIFEST).read_text())
    m["vocabulary"] = ["tabla", "sarangi"]
    m["vocabulary_min_cosine"] = 0.5
    write_manifest(b, m)
    v = vocabulary_of(Separator.load(b))
    assert v.phrases == ["tabla", "sarangi"] and v.min_cosine == 0.5 and v.check("the tablas") is None
    assert vocabulary_of(Separator.load(text_bundle)).phrases == list(DEFAULT_VOCABULARY)
    for bad in ([], ["ok", ""], "tabla", [1]):
        m["vocabulary"] = bad
        write_manifest(b, m)
        with pytest.raises(BundleError, match="'vocabulary' must be a list"):
            Separator.load(b)
    m["vocabulary"], m["vocabulary_min_cosine"] = ["tabla"], 2
    write_manifest(b, m)
    with pytest.raises(BundleError, match="vocabulary_min_cosine"):
        Separator.load(b)


def test_a_model_without_text_encoder_has_no_vocabulary(embedding_bundle):
    from plugin import Separator

    assert vocabulary_of(Separator.load(embedding_bundle)) is None
