"""The offline browser: corpus loading, BM25 search, open/find/scroll with cursors, links and citations."""
from __future__ import annotations

import json

import pytest

from gptoss_edu.agent.browser import Browser, Citation, browser_schemas, parse_citations, wrap_lines
from gptoss_edu.agent.corpus import Corpus, default_corpus, docstring_documents, load_folder, notebook_documents
from gptoss_edu.agent.functions import ToolCallError


@pytest.fixture()
def corpus(tmp_path):
    (tmp_path / "rope.md").write_text(
        "# Rotary embeddings\n\nRoPE rotates query and key pairs.\nYaRN stretches the rotary frequencies.\n\n"
        "See [the attention notes](attention.md) for where it is applied.\n", encoding="utf-8")
    (tmp_path / "attention.md").write_text(
        "# Attention\n\n" + "\n".join(f"line {i} about heads" for i in range(60)) + "\nSinks join the softmax.\n",
        encoding="utf-8")
    (tmp_path / "notes.txt").write_text("Plain text about experts and routers.\n", encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.md").write_text("# Hidden\nrope rope rope\n", encoding="utf-8")
    return Corpus(load_folder(tmp_path))


def test_load_folder_titles_and_skips_hidden_folders(corpus):
    assert sorted(corpus.documents) == ["attention.md", "notes.txt", "rope.md"]
    assert corpus.get("rope.md").title == "Rotary embeddings" and corpus.get("notes.txt").title == "notes.txt"


def test_search_ranks_by_bm25_and_shows_the_best_line(corpus):
    hits = corpus.search("rotary frequencies", topn=5)
    assert [hit.document.url for hit in hits] == ["rope.md"]
    assert hits[0].snippet == "YaRN stretches the rotary frequencies."
    assert corpus.search("nothing matches this") == []


def test_search_display_has_cursor_numbered_lines_and_links(corpus):
    browser = Browser(corpus)
    text = browser("search", json.dumps({"query": "softmax sinks"}))
    assert text.splitlines()[:4] == [
        "[0] Search results for `softmax sinks`", "(search:softmax sinks)", "**viewing lines [0 - 1] of 1**", ""]
    assert "L0: * 【0†Attention†attention.md】" in text and "L1:   Sinks join the softmax." in text


def test_open_follows_links_and_markdown_links_become_browser_links(corpus):
    browser = Browser(corpus)
    browser.search("rotary")
    page = browser.open(id=0)
    assert page.startswith("[1] Rotary embeddings\n(rope.md)")
    assert "L5: See 【0†the attention notes】 for where it is applied." in page
    followed = browser("open", json.dumps({"id": 0, "cursor": 1, "num_lines": 3}))
    assert followed.splitlines()[:3] == ["[2] Attention", "(attention.md)", "**viewing lines [0 - 2] of 62**"]


def test_open_by_url_scroll_and_view_source(corpus):
    browser = Browser(corpus, view_lines=5)
    browser.open(id="attention.md")
    scrolled = browser.open(loc=60)
    assert "**viewing lines [60 - 62] of 62**" in scrolled and "L62: Sinks join the softmax." in scrolled
    source = browser.open(id="rope.md", view_source=True, num_lines=10)
    assert "[the attention notes](attention.md)" in source


def test_find_lists_matches_as_links_into_the_page(corpus):
    browser = Browser(corpus)
    browser.open(id="attention.md")
    found = browser.find("SINKS")
    assert "L0: * 【0†match at L62】" in found and "L1:   Sinks join the softmax." in found
    jumped = browser.open(id=0)
    assert "**viewing lines [62 - 62] of 62**" in jumped
    assert "No matches for `dragons`." in browser.find("dragons", cursor=0)


def test_citations_round_trip_to_the_cited_lines(corpus):
    browser = Browser(corpus)
    browser.open(id="rope.md")
    answer = "RoPE rotates pairs 【0†L2】 and YaRN stretches them 【0†L2-L3】."
    citations = parse_citations(answer)
    assert citations == [Citation(0, 2, 2), Citation(0, 2, 3)]
    assert [str(c) for c in citations] == ["【0†L2】", "【0†L2-L3】"]
    assert browser.quote(citations[1]) == "RoPE rotates query and key pairs.\nYaRN stretches the rotary frequencies."
    with pytest.raises(ValueError, match="outside the lines L0-L5 shown at cursor 0"):
        browser.quote(Citation(0, 4, 9))


@pytest.mark.parametrize(("name", "payload", "message"), [
    ("open", '{"id": 3}', "no page is open yet"),
    ("search", '{"q": "x"}', "invalid arguments for browser.search: query: missing required argument"),
    ("search", '{"query": 5}', "query: expected string, got integer"),
    ("find", "{pattern", "invalid arguments for browser.find"),
    ("scroll", "{}", "unknown function browser.scroll"),
    ("open", '{"id": "missing.md"}', "no document at 'missing.md'"),
])
def test_bad_browser_calls_raise_tool_call_errors(corpus, name, payload, message):
    with pytest.raises(ToolCallError, match=message):
        Browser(corpus)(name, payload)


def test_bad_cursor_and_link_ids(corpus):
    browser = Browser(corpus)
    browser.open(id="rope.md")
    with pytest.raises(ToolCallError, match="valid cursors are 0 to 0"):
        browser.open(cursor=4)
    with pytest.raises(ToolCallError, match="display 0 has no link 7; it has 1 links"):
        browser.open(id=7, cursor=0)


def test_long_lines_are_wrapped_so_citations_stay_precise():
    lines = wrap_lines("word " * 50 + "\n\nshort", width=40)
    assert all(len(line) <= 40 for line in lines) and lines[-2:] == ["", "short"]


def test_default_corpus_is_the_course_itself():
    corpus = default_corpus()
    assert "gptoss_edu/agent/browser.py" in corpus.documents
    assert any(url.endswith(".md") for url in corpus.documents)
    assert corpus.search("offline browser citations")[0].document.url.startswith("gptoss_edu/agent/")


def test_docstring_and_notebook_documents(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""The package."""\n', encoding="utf-8")
    (package / "mod.py").write_text('"""Module doc."""\ndef public():\n    """Does a thing."""\ndef _private():\n'
                                    '    """Hidden."""\n', encoding="utf-8")
    documents = {document.url: document for document in docstring_documents(package)}
    assert documents["pkg/mod.py"].text == "# pkg.mod\n\nModule doc.\n\n## pkg.mod.public\n\nDoes a thing."
    assert documents["pkg/__init__.py"].title == "pkg"
    notebook = {"cells": [{"cell_type": "markdown", "source": ["# Title\n", "Intro"]},
                          {"cell_type": "code", "source": "x = 1"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "01_intro.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    [document] = notebook_documents(tmp_path)
    assert document.url == "notebooks/01_intro.ipynb" and document.title == "Title" and "x = 1" not in document.text


def test_browser_arguments_follow_harmonys_schemas_with_whole_numbers(corpus):
    schemas = browser_schemas()
    assert sorted(schemas) == ["find", "open", "search"] and schemas["search"]["required"] == ["query"]
    browser = Browser(corpus)
    browser.open(id="rope.md")
    with pytest.raises(ToolCallError, match="cursor: expected integer, got number"):
        browser("find", '{"pattern": "x", "cursor": 0.5}')
    with pytest.raises(ToolCallError, match="colour: unexpected argument"):
        browser("find", '{"pattern": "x", "colour": 1}')
    assert browser("open", '{"id": 0.0, "cursor": 0}').startswith("[1] Attention")
