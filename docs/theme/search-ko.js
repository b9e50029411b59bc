// Korean search (issue 25), on the Korean edition only. mdBook's search (elasticlunr) cuts a query
// at spaces and hyphens, then its trimmer strips every character that is not an ASCII letter or
// digit from both ends of each word: a Hangul word becomes nothing, and "소켓" found 0 results.
// scripts/book_ko.py adds the Hangul words of every section to the Korean edition's index, cut
// the way hangulWords cuts them here; this file makes the query side cut the same way:
// - a query word holding Hangul is split at anything that is not a letter, digit or "_", so
//   "소켓(socket)은" asks for 소켓, socket and 은;
// - the trimmer keeps letters of every script, not only ASCII.
// mdBook's search expands each word to the indexed words it begins ("expand": true), so 소켓
// finds 소켓은, 소켓을 and 소켓이: Korean particles follow the noun, and a noun is the start of
// the written word. scripts/book_search.mjs checks every term of the term table (ko-glossary.md).
(function () {
    "use strict";
    if (document.documentElement.lang !== "ko" || typeof elasticlunr === "undefined") return;

    const hangul = /[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]/;
    const hangulWords = (word) => (hangul.test(word) ? word.match(/[\p{L}\p{N}_]+/gu) || [] : [word]);

    const tokenizer = elasticlunr.tokenizer;
    const korean = function () {
        return tokenizer.apply(this, arguments).flatMap(hangulWords);
    };
    Object.assign(korean, tokenizer);
    elasticlunr.tokenizer = korean;

    // The index names its pipeline's functions ("trimmer", ...) and finds them by name when the
    // search first opens, after this file ran.
    const trimmer = (token) => token.replace(/^[^\p{L}\p{N}_]+/u, "").replace(/[^\p{L}\p{N}_]+$/u, "");
    elasticlunr.Pipeline.registeredFunctions.trimmer = trimmer;
    trimmer.label = "trimmer";
})();
