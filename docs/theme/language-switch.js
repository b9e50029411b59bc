// The language switch in the menu bar: "English · 한국어", each a link to this same page in that
// edition. scripts/book builds the English book into book/ and the Korean one into book/ko/,
// page for page, so the other edition's page is the same path under the other root.
(function () {
    "use strict";
    const editions = [
        { lang: "en", name: "English", root: "" },
        { lang: "ko", name: "한국어", root: "ko/" },
    ];
    const here = editions.find((e) => e.lang === document.documentElement.lang) || editions[0];
    // mdBook sets path_to_root ("", "../", ...) on every page; the Korean root is one deeper.
    const depth = (path_to_root.match(/\.\.\//g) || []).length;
    const segments = window.location.pathname.split("/");
    const page = segments.slice(segments.length - 1 - depth).join("/") || "index.html";
    const bookRoot = path_to_root + here.root.replace(/[^/]+\//g, "../");

    const bar = document.createElement("span");
    bar.className = "language-switch";
    editions.forEach((edition, i) => {
        if (i > 0) bar.append(" · ");
        const item = document.createElement(edition === here ? "strong" : "a");
        item.lang = edition.lang;
        item.textContent = edition.name;
        if (edition !== here) {
            item.href = bookRoot + edition.root + page + window.location.hash;
            item.hreflang = edition.lang;
        }
        bar.append(item);
    });
    const buttons = document.querySelector(".right-buttons");
    if (buttons) buttons.prepend(bar);
})();
