// Takes a picture of the lab's page after a short chat with a terminal member, for the book:
//   node screenshot.mjs http://127.0.0.1:8080/ 127.0.0.1:7878 ../../docs/src/lab.png
//   node screenshot.mjs http://127.0.0.1:8080/ 127.0.0.1:7878 ../../docs/po/ko-images/lab.png ko-KR
// The terminal member (like `cargo client chat --nick 철수`) speaks Korean, so the picture shows
// whether the page's fonts have Hangul (.ci/run installs fonts-noto-cjk for Chromium).
import net from "node:net";
import { chromium } from "playwright-core";
const [url, tcp, out, locale = "en-US"] = process.argv.slice(2); // ko-KR: the Korean page
setTimeout(() => { console.error("FAIL: took more than 60 s"); process.exit(1); }, 60_000).unref();

const member = net.connect(Number(tcp.split(":").pop()), tcp.split(":")[0]);
member.setEncoding("utf8");
member.write("/nick 철수\n");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const page = await browser.newPage({ locale, viewport: { width: 1000, height: 520 } });
await page.goto(url);
await page.fill("#nick", "alice");
await page.click("#connect");
await page.locator("#log li", { hasText: "you are now alice" }).waitFor();
member.write("안녕하세요, alice! 반가워요\n");
await page.locator("#log li", { hasText: "철수: 안녕하세요" }).waitFor();
await page.fill("#text", "hello from the browser, 안녕 철수!");
await page.click("#send");
await page.locator("#log li", { hasText: "] hello from the browser" }).waitFor();
await page.waitForTimeout(2500);
await page.screenshot({ path: out });
await browser.close();
member.end();
