// Takes a picture of the class scoreboard for the book, once every student has been graded:
//   node class-screenshot.mjs http://127.0.0.1:8080/class NICK ../../docs/src/class.png
// NICK's first FAIL is clicked, so that the picture shows a hint. (Chapter 11 says how the
// class in the picture was made; .ci/run installs fonts-noto-cjk, so Hangul names show.)
import { chromium } from "playwright-core";
const [url, nick, out] = process.argv.slice(2);
setTimeout(() => { console.error("FAIL: took more than 60 s"); process.exit(1); }, 60_000).unref();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: "en-US" });
await page.goto(url);
await page.locator("#rows tr").first().waitFor();
await page.waitForFunction(() => !document.querySelector("#rows tr.queued, #rows tr.grading"));
await page.locator("#rows tr", { hasText: nick }).locator("td.FAIL").first().click();
await page.screenshot({ path: out });
await browser.close();
