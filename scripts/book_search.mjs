// Searches the built Korean edition as a reader's browser does (scripts/book runs it):
//   node scripts/book_search.mjs docs/book/ko docs/src/ko-glossary.md
// Loads the edition's own elasticlunr, docs/theme/search-ko.js and its search index, then looks
// up every Korean term of the term table. Each must find every section that uses the term as a
// word or the start of one (소켓은, 롱 폴링을), and "socket" still finds the English word.
// Exits 1 listing each term that misses a section; prints one summary line otherwise.
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";

const [book, glossary] = process.argv.slice(2);
const fail = (why) => { console.error(why); process.exit(1); };
const one = (prefix) => {
  const found = fs.readdirSync(book, { recursive: true }).filter((f) => path.basename(f).startsWith(prefix) && f.endsWith(".js"));
  if (found.length !== 1) fail(`expected one ${prefix}*.js in ${book}, found ${JSON.stringify(found)}`);
  return fs.readFileSync(path.join(book, found[0]), "utf8");
};

// A page's globals, enough for the three scripts.
const page = { document: { documentElement: { lang: "ko" } }, console };
page.window = page;
page.window.search = {};
vm.createContext(page);
vm.runInContext(one("elasticlunr"), page);
vm.runInContext(one("search-ko"), page);
vm.runInContext(one("searchindex"), page);
const config = page.window.search;
const index = vm.runInContext("elasticlunr.Index.load(window.search.index)", page);
const docs = config.index.documentStore.docs;

// The table's Korean column: "읽기 스레드, 쓰기 스레드" is two terms, "강 (1강, 3강)" is 강.
const terms = fs.readFileSync(glossary, "utf8").split("\n")
  .filter((row) => /^\| \*/.test(row))
  .flatMap((row) => row.split("|")[2].replace(/\(.*\)/, "").split(","))
  .map((term) => term.trim()).filter(Boolean);
if (terms.length < 40) fail(`only ${terms.length} terms read from ${glossary}: has its table changed?`);

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const misses = [];
for (const term of terms) {
  const uses = new RegExp(`(^|[^\\p{L}\\p{N}_])${escape(term.toLowerCase())}`, "u");
  const wanted = Object.keys(docs).filter((ref) => ["title", "body", "breadcrumbs"].some((f) => uses.test((docs[ref][f] || "").toLowerCase())));
  const found = new Set(index.search(term, config.search_options).map((r) => r.ref));
  const missed = wanted.filter((ref) => !found.has(ref));
  if (wanted.length === 0) misses.push(`${term}: no section uses it (is the term table's spelling the book's?)`);
  else if (missed.length) misses.push(`${term}: found ${wanted.length - missed.length} of the ${wanted.length} sections that use it; missed ${missed.slice(0, 3).map((r) => config.doc_urls[r]).join(", ")}`);
}
const english = index.search("socket", config.search_options).length;
if (english < 10) misses.push(`socket: only ${english} results (the English words must stay searchable)`);
if (misses.length) fail(`Korean search misses:\n  ${misses.join("\n  ")}`);
console.log(`Korean search ok: ${terms.length} terms of the term table each find every section that uses them; socket finds ${english}`);
