"""Documents as users have them: PDF, HTML and Markdown read through LangChain's loaders, a mixed folder."""

from __future__ import annotations

import pytest

from posttrain.errors import DataError

PDF_FACT = "The Ondrel lighthouse keeper is Marisol Quenby."
HTML_FACT = "Tarn cheese is aged for nineteen weeks in salt caves."
MD_FACT = "The ferry to Skelliway leaves at dawn on Thursdays."


def write_pdf(path, lines: list[str]) -> None:
    """A one-page PDF with `lines` of text in Helvetica, written byte by byte (offsets in the xref)."""
    text = " ".join(f"({line}) Tj 0 -16 Td" for line in lines)
    stream = f"BT /F1 12 Tf 72 720 Td {text} ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    body, offsets = b"%PDF-1.4\n", []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(body)


@pytest.fixture
def mixed_folder(tmp_path):
    folder = tmp_path / "docs"
    (folder / "web").mkdir(parents=True)
    write_pdf(folder / "keepers.pdf", ["Lighthouses of Ondrel.", PDF_FACT])
    (folder / "web" / "cheese.html").write_text(
        "<html><head><title>Tarn cheese</title><script>var hidden = 1;</script></head>"
        f"<body><h1>Cheese</h1><p>{HTML_FACT}</p><p>It is sold in <b>wax</b> rounds.</p></body></html>",
        encoding="utf-8")
    (folder / "ferries.md").write_text(f"# Ferries\n\n## Skelliway\n\n{MD_FACT}\n\n## Orrin\n\nNo ferry runs.\n",
                                       encoding="utf-8")
    (folder / "ignored.docx").write_bytes(b"PK")       # not a supported type: skipped inside a folder
    return folder


def test_read_documents_loads_each_format_with_its_loader(mixed_folder):
    from rag_baseline import read_documents

    docs = read_documents(mixed_folder)
    by_format = {doc.metadata["format"]: doc for doc in docs}
    assert sorted(by_format) == ["html", "markdown", "pdf"] and len(docs) == 3
    assert PDF_FACT in by_format["pdf"].page_content and by_format["pdf"].metadata["page"] == 0
    html = by_format["html"]
    assert HTML_FACT in html.page_content and html.metadata["title"] == "Tarn cheese"
    assert "<p>" not in html.page_content and "Cheese" in html.page_content
    assert by_format["markdown"].page_content.startswith("# Ferries")
    assert all(doc.metadata["source"].startswith(str(mixed_folder)) for doc in docs)


def test_index_from_a_folder_holding_a_pdf_an_html_page_and_markdown(mixed_folder):
    from rag_baseline import RAGBaseline

    rag = RAGBaseline.from_files(mixed_folder, chunk_size=80, chunk_overlap=0)
    cases = {"Who keeps the Ondrel lighthouse?": ("keepers.pdf", "Marisol Quenby"),
             "How long is Tarn cheese aged?": ("cheese.html", "nineteen weeks"),
             "When does the ferry to Skelliway leave?": ("ferries.md", "at dawn on Thursdays")}
    hits = rag.retrieve_many(list(cases), k=1)
    for (question, (source, answer)), (top,) in zip(cases.items(), hits):
        assert top.metadata["source"].endswith(source), question
        assert answer in top.page_content, question


def test_markdown_is_split_at_headings_first(tmp_path):
    from rag_baseline.store import split_texts

    text = "# A\n\n" + "alpha words here. " * 3 + "\n\n## B\n\n" + "beta words here. " * 3
    chunks, metas = split_texts([text], [{"format": "markdown"}], chunk_size=80, chunk_overlap=0)
    assert [chunk.split("\n")[0] for chunk in chunks] == ["# A", "## B"]
    assert metas[1]["start_index"] == text.index("## B")
    plain, _ = split_texts([text], [{"format": "text"}], chunk_size=80, chunk_overlap=0)
    assert plain != chunks                  # the same text without the format: no heading-first split


@pytest.mark.parametrize("name, content, message", [
    ("broken.pdf", b"%PDF-1.4 not really", "could not be read as pdf"),
    ("empty.html", b"<html><body>   </body></html>", r"holds no text \(html\)"),
    ("latin.md", "caf\xe9".encode("latin-1"), "could not be read as markdown"),
])
def test_unreadable_files_are_errors_naming_the_file(tmp_path, name, content, message):
    from rag_baseline import read_documents

    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_documents(tmp_path / name)
    assert str(tmp_path / name) in str(caught.value)


def test_every_bad_file_in_a_folder_is_reported_at_once(tmp_path):
    from rag_baseline import read_documents

    (tmp_path / "a.pdf").write_bytes(b"junk")
    (tmp_path / "b.html").write_text("<p></p>")
    with pytest.raises(DataError, match="2 problems") as caught:
        read_documents(tmp_path)
    assert "a.pdf" in str(caught.value) and "b.html" in str(caught.value)
