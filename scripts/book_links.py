"""Checks the links of the book, as built and as written (scripts/book runs it).

    python3 scripts/book_links.py docs/src docs/book

Built HTML, every edition under the folder (docs/book and the Korean docs/book/ko): every href
and src that does not leave the book (no scheme, no //host) must name a
file that exists, and its #fragment an id in that file. Markdown: every relative link between
chapters ([text](04-chat.md#the-hub) and ![alt](chat.svg)) must name a file in docs/src, and a
fragment must be a heading id that mdBook generated for that chapter. Exits 1 and lists every
broken link; prints one summary line otherwise.
"""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class Page(HTMLParser):
    """The ids a page defines and the (attribute, target) pairs it links to."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.links = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (name == "name" and tag == "a"):
                self.ids.add(value)
            if (name == "href" and tag in ("a", "link")) or (name == "src" and tag in ("img", "script")):
                self.links.append((tag, value))


def leaves_the_book(target):
    parts = urlsplit(target)
    return bool(parts.scheme) or target.startswith("//")


def parse(path, cache={}):
    if path not in cache:
        page = Page()
        page.feed(path.read_text(encoding="utf-8"))
        cache[path] = page
    return cache[path]


def check_html(book):
    broken, checked = [], 0
    for html in sorted(book.rglob("*.html")):
        # 404.html is served from the site's root (<base href="/">); its links are mdBook's own.
        if html.name == "404.html":
            continue
        for tag, target in parse(html).links:
            if leaves_the_book(target) or target.startswith("javascript:"):
                continue
            checked += 1
            parts = urlsplit(target)
            file = html if not parts.path else (html.parent / unquote(parts.path)).resolve()
            if file.is_dir():
                file = file / "index.html"
            where = f"{html.relative_to(book)}: <{tag}> {target}"
            if not file.exists():
                broken.append(f"{where}: no file {file}")
            elif parts.fragment and file.suffix == ".html" and unquote(parts.fragment) not in parse(file).ids:
                broken.append(f"{where}: no id {parts.fragment!r} in {file.name}")
    return broken, checked


# [text](target) and ![alt](target), outside code: fenced blocks and `inline code` are skipped.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def check_markdown(src, book):
    broken, checked = [], 0
    for md in sorted(src.glob("*.md")):
        fenced = False
        for number, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
                continue
            if fenced:
                continue
            for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
                if leaves_the_book(target):
                    continue
                checked += 1
                parts = urlsplit(target)
                where = f"{md.name}:{number}: {target}"
                file = (md.parent / unquote(parts.path)) if parts.path else md
                if not file.exists():
                    broken.append(f"{where}: no file docs/src/{parts.path}")
                    continue
                if parts.fragment:
                    built = book / file.relative_to(src).with_suffix(".html")
                    if file.suffix != ".md" or not built.exists():
                        broken.append(f"{where}: a #fragment on a file that is not a chapter")
                    elif unquote(parts.fragment) not in parse(built).ids:
                        broken.append(f"{where}: no heading with id {parts.fragment!r} in {file.name}")
    return broken, checked


def main():
    src, book = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    html_broken, html_checked = check_html(book)
    md_broken, md_checked = check_markdown(src, book)
    broken = list(dict.fromkeys(html_broken + md_broken))  # an image shown twice is one fault
    for line in broken:
        print(f"broken link: {line}")
    if broken:
        print(f"{len(broken)} broken link(s): fix the target, or the link")
        return 1
    print(f"book links ok: {html_checked} in the built HTML, {md_checked} between the Markdown chapters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
