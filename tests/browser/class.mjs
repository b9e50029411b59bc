// The class scoreboard in a real browser (headless Chromium, driven by playwright-core):
//   node class.mjs http://127.0.0.1:8080/class STUDENT_PORT [SCREENSHOT.png]
// Enrolls a student's (wrong) server through the page's form, waits for its FAIL, prints
// "saw FAIL" (the test then fixes the server and clicks nothing: the teacher's "grade all" comes
// from the test), waits for the row to turn green live, and checks that a nickname and a
// server's words with markup show as text, that the board fits 1280x800 and a phone's width, and
// that a Korean browser gets the Korean page. Prints "ok" when all held.
import { chromium } from "playwright-core";

const [url, port, shot] = process.argv.slice(2);
const fail = (why) => { console.error(`FAIL: ${why}`); process.exit(1); };
setTimeout(() => fail("took more than 80 s"), 80_000).unref();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-US" });
const page = await context.newPage();
page.on("dialog", () => fail("a dialog opened: markup ran"));
await page.goto(url);

// A nickname with markup: refused, and the refusal shows the name as text.
await page.fill("#nick", "<b>x</b>");
await page.fill("#addr", port);
await page.click("#enroll-button");
await page.locator("#answer", { hasText: "a nickname may hold" }).waitFor();
if (await page.locator("#answer b").count()) fail("the refusal rendered <b> as markup");

await page.fill("#nick", "민지");
await page.click("#enroll-button");
const row = page.locator("#rows tr", { hasText: "민지" });
await row.locator("td.FAIL").waitFor({ timeout: 20_000 });
// The server's words (an <img> with an onerror) are a title and a line of text, not an image.
const title = await row.locator("td.FAIL").getAttribute("title");
if (!title.includes("<img")) fail(`the hint lost the server's words: ${title}`);
await row.locator("td.FAIL").click();
if (!(await page.locator("#detail").textContent()).includes("<img")) fail("the detail does not show the words");
if (await page.locator("main img").count()) fail("a server's markup became an element");
if (await page.evaluate(() => window.pwned)) fail("a server's script ran");
console.log("saw FAIL");

await row.locator("td.PASS").nth(1).waitFor({ timeout: 30_000 });
const greens = await row.locator("td.PASS .small").count();
if (greens !== 2) fail(`expected both checks' first-green times, got ${greens}`);
const wide = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]);
if (wide[0] > 1280) fail(`the board is wider than 1280: ${wide}`);
if (shot) await page.screenshot({ path: shot });

await page.setViewportSize({ width: 390, height: 844 });
const narrow = await page.evaluate(() => document.documentElement.scrollWidth);
if (narrow > 390) fail(`on a phone the page is ${narrow} px wide`);

const korean = await browser.newContext({ locale: "ko-KR" });
const ko = await korean.newPage();
await ko.goto(url);
await ko.locator("#title", { hasText: "수업 점수판" }).waitFor();
if ((await ko.locator("#grade-all").textContent()) !== "모두 채점") fail("the Korean page's button is not Korean");
await browser.close();
console.log("ok");
