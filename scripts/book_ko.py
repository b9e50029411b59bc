"""The Korean edition's frame and search, after mdBook built it (scripts/book runs it).

    python3 scripts/book_ko.py docs/book/ko

mdBook 0.5.4 writes its own words in English whatever book.language says: the search box, the
previous/next arrows' labels, the keyboard help, the 404 page, the search's result line. And its
search index has no Korean at all: its trimmer strips every non-ASCII character from the ends of a
word, so a Hangul word is indexed as nothing. This script, on the built Korean edition:

1. swaps mdBook's English UI strings for Korean (UI below), failing when a string is no longer
   found (a new mdBook renamed it: update the table, do not let English come back silently);
2. adds the Hangul words of every section to the search index, cut as docs/theme/search-ko.js
   cuts a query (that file explains why words and their prefixes, not syllable n-grams);
3. draws the figures in Korean: each <text> and <title> of docs/src/*.svg gets its Korean from
   docs/po/figures-ko.po (the figure's name as msgctxt), over the English copy mdBook made;
4. puts the screenshots of the Korean lab page (docs/po/ko-images/, taken by
   tests/browser/screenshot.mjs and wire-screenshot.mjs with ko-KR) over the English ones.

scripts/book_search.mjs then searches the result for every term of the term table.
"""

import json
import math
import re
import shutil
import sys
from pathlib import Path

# (files, English as mdBook writes it, Korean). Every pair must occur in at least one file.
UI = [
    ("*.html", 'placeholder="Search this book ..."', 'placeholder="이 책에서 찾기 ..."'),
    ("*.html", 'title="Search (`/`)"', 'title="찾기 (`/`)"'),
    ("*.html", 'aria-label="Toggle Searchbar"', 'aria-label="검색창 열고 닫기"'),
    ("*.html", 'aria-label="Table of contents"', 'aria-label="차례"'),
    ("*.html", 'title="Toggle Table of Contents" aria-label="Toggle Table of Contents"',
     'title="차례 열고 닫기" aria-label="차례 열고 닫기"'),
    ("*.html", 'title="Change theme" aria-label="Change theme"', 'title="테마 바꾸기" aria-label="테마 바꾸기"'),
    ("*.html", 'aria-label="Themes"', 'aria-label="테마"'),
    ("*.html", ">Auto</button>", ">자동</button>"),
    ("*.html", ">Light</button>", ">밝게</button>"),
    ("*.html", 'title="Print this book" aria-label="Print this book"', 'title="이 책 인쇄" aria-label="이 책 인쇄"'),
    ("*.html", 'aria-label="Page navigation"', 'aria-label="쪽 이동"'),
    ("*.html", 'title="Previous chapter" aria-label="Previous chapter"', 'title="이전 장" aria-label="이전 장"'),
    ("*.html", 'title="Next chapter" aria-label="Next chapter"', 'title="다음 장" aria-label="다음 장"'),
    ("*.html", ">Keyboard shortcuts</h2>", ">단축키</h2>"),
    ("*.html", "<p>Press <kbd>←</kbd> or <kbd>→</kbd> to navigate between chapters</p>",
     "<p><kbd>←</kbd>, <kbd>→</kbd>: 이전 장, 다음 장</p>"),
    ("*.html", "<p>Press <kbd>S</kbd> or <kbd>/</kbd> to search in the book</p>",
     "<p><kbd>S</kbd> 또는 <kbd>/</kbd>: 이 책에서 찾기</p>"),
    ("*.html", "<p>Press <kbd>?</kbd> to show this help</p>", "<p><kbd>?</kbd>: 이 도움말 보기</p>"),
    ("*.html", "<p>Press <kbd>Esc</kbd> to hide this help</p>", "<p><kbd>Esc</kbd>: 이 도움말 닫기</p>"),
    ("404.html", "<title>Page not found", "<title>페이지를 찾을 수 없습니다"),
    ("404.html", ">Document not found (404)</a></h1>", ">페이지를 찾을 수 없습니다(404)</a></h1>"),
    ("404.html", "<p>This URL is invalid, sorry. Please use the navigation bar or search to continue.</p>",
     "<p>이 주소에는 페이지가 없습니다. 왼쪽 차례나 위쪽의 찾기로 원하는 장을 찾아보세요.</p>"),
    ("searcher-*.js", "return count + ' search result for \\'' + searchterm + '\\':';",
     "return '\\'' + searchterm + '\\' 검색 결과 ' + count + '건:';"),
    ("searcher-*.js", "return 'No search results for \\'' + searchterm + '\\'.';",
     "return '\\'' + searchterm + '\\' 검색 결과가 없습니다.';"),
    ("searcher-*.js", "return count + ' search results for \\'' + searchterm + '\\':';",
     "return '\\'' + searchterm + '\\' 검색 결과 ' + count + '건:';"),
    ("searcher-*.js", "aria-label=\"Search Result Teaser\"", "aria-label=\"검색 결과 미리보기\""),
    ("book-*.js", "'Copy to clipboard'", "'클립보드에 복사'"),
    ("book-*.js", "'Copied!'", "'복사했습니다'"),
]

HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
SEPARATOR = re.compile(r"[\s\-]+")  # elasticlunr's tokenizer.seperator
WORD = re.compile(r"[^\W]+")  # letters, digits and _ in every script, like \p{L}\p{N}_ in the JS


def hangul_words(text):
    """The Hangul words of a text, as search-ko.js cuts a query: the English ones are indexed
    by mdBook already."""
    for token in SEPARATOR.split(text.lower()):
        if HANGUL.search(token):
            yield from (w for w in WORD.findall(token) if HANGUL.search(w))


def translate_ui(book):
    missing = []
    for pattern, english, korean in UI:
        found = False
        for path in book.glob(pattern):
            text = path.read_text(encoding="utf-8")
            if english in text:
                path.write_text(text.replace(english, korean), encoding="utf-8")
                found = True
        if not found:
            missing.append(f"{pattern}: {english}")
    return missing


def load_index(path):
    """searchindex-*.js is JSON in a JavaScript string: JSON.parse('...') with \\ and ' escaped."""
    text = path.read_text(encoding="utf-8")
    head, tail = "JSON.parse('", "'));"
    start, end = text.index(head) + len(head), text.rindex(tail)
    raw = re.sub(r"\\(.)", r"\1", text[start:end], flags=re.S)
    return text[:start], json.loads(raw), text[end:]


def save_index(path, before, data, after):
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    path.write_text(before + raw.replace("\\", "\\\\").replace("'", "\\'") + after, encoding="utf-8")


def index_hangul(book):
    """Adds each section's Hangul words to the elasticlunr index, as elasticlunr's addDoc does:
    a word's tf is the square root of its count in the field, df the number of sections."""
    [path] = book.glob("searchindex-*.js")
    before, data, after = load_index(path)
    index = data["index"]
    store = index["documentStore"]
    added = 0
    for ref, doc in store["docs"].items():
        for field in index["fields"]:
            counts = {}
            for word in hangul_words(doc.get(field) or ""):
                counts[word] = counts.get(word, 0) + 1
            for word, count in counts.items():
                node = index["index"][field]["root"]
                for ch in word:
                    node = node.setdefault(ch, {"docs": {}, "df": 0})
                node["docs"][ref] = {"tf": math.sqrt(count)}
                node["df"] = len(node["docs"])
                added += 1
            store["docInfo"][ref][field] = store["docInfo"][ref].get(field, 0) + sum(counts.values())
    save_index(path, before, data, after)
    return added


def po_messages(path):
    """(msgctxt, msgid) -> msgstr of a PO file (gettext's escapes, strings over several lines)."""
    messages, entry, field = {}, {}, None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if entry.get("msgid"):
                messages[(entry.get("msgctxt", ""), entry["msgid"])] = entry.get("msgstr", "")
            entry, field = {}, None
        elif line.startswith(("msgctxt ", "msgid ", "msgstr ")):
            field, rest = line.split(" ", 1)
            entry[field] = json.loads(rest)
        elif line.startswith('"') and field:
            entry[field] += json.loads(line)
    return messages


def wordless(text):
    """A figure's text with nothing to translate: numbers, "0.61 ms", "⋮"."""
    return not re.search("[A-Za-z]", re.sub(r"\b\d[\d.,]*\s*ms\b", "", text))


FIGURE_TEXT = re.compile(r"(<(title|text)\b[^>]*>)(.*?)(</\2>)", re.S)


def draw_figures(src, book, po):
    """Writes each figure of `src` into `book` with its texts in Korean; returns what is missing."""
    korean, missing = po_messages(po), []
    for figure in sorted(src.glob("*.svg")):
        def swap(match):
            english = re.sub(r"\s+", " ", match.group(3)).strip()
            text = korean.get((figure.name, english))
            if not text and wordless(english):
                return match.group(0)
            if not text:
                missing.append(f"{figure.name}: {english}")
                return match.group(0)
            return match.group(1) + text + match.group(4)
        drawn = FIGURE_TEXT.sub(swap, figure.read_text(encoding="utf-8"))
        (book / figure.name).write_text(drawn, encoding="utf-8")
    return missing


def korean_screenshots(src, book, images):
    """Copies each Korean screenshot over the English one of the same name; returns the stale."""
    stale = []
    for image in sorted(images.glob("*.png")):
        if not (src / image.name).exists():
            stale.append(f"{image}: docs/src has no {image.name} any more")
            continue
        shutil.copyfile(image, book / image.name)
    return stale


def main():
    book = Path(sys.argv[1])
    missing = translate_ui(book)
    if missing:
        print("mdBook's UI strings not found in the Korean build (did mdBook change them? update "
              "UI in scripts/book_ko.py):\n  " + "\n  ".join(missing))
        sys.exit(1)
    missing = draw_figures(Path("docs/src"), book, Path("docs/po/figures-ko.po"))
    if missing:
        print("figure texts without Korean in docs/po/figures-ko.po (cargo test -p book-i18n lists "
              "them too):\n  " + "\n  ".join(missing))
        sys.exit(1)
    stale = korean_screenshots(Path("docs/src"), book, Path("docs/po/ko-images"))
    if stale:
        print("Korean screenshots without an English one:\n  " + "\n  ".join(stale))
        sys.exit(1)
    added = index_hangul(book)
    if added == 0:
        print(f"no Hangul word found in {book}'s search index: is this the Korean edition?")
        sys.exit(1)
    print(f"Korean edition: {len(UI)} UI strings, the figures and the screenshots in Korean, {added} Hangul words added to the search index")


if __name__ == "__main__":
    main()
