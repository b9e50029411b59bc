// Takes a picture of the lab page's wire panel for the book: a page polling, then on WebSocket,
// with a terminal member talking, so the panel shows polling's heads above WebSocket's frames:
//   node wire-screenshot.mjs http://127.0.0.1:8080/ 127.0.0.1:7878 ../../docs/src/wire-panel.png
//   node wire-screenshot.mjs http://127.0.0.1:8080/ 127.0.0.1:7878 ../../docs/po/ko-images/wire-panel.png ko-KR
import net from "node:net";
import { chromium } from "playwright-core";
const [url, tcp, out, locale = "en-US"] = process.argv.slice(2); // ko-KR: the Korean page
setTimeout(() => { console.error("FAIL: took more than 60 s"); process.exit(1); }, 60_000).unref();

const member = net.connect(Number(tcp.split(":").pop()), tcp.split(":")[0]);
member.setEncoding("utf8");
member.write("/nick bob\n");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const page = await browser.newPage({ locale, viewport: { width: 1100, height: 1700 } });
await page.goto(url);
// For the picture only: the chat gets a few lines, the wire panel the rest of a tall page, so the
// whole exchange, polling's heads and WebSocket's frames, fits without scrolling.
await page.addStyleTag({ content: "main { grid-template-rows: 11em minmax(0, 1fr) !important; }" });
const wireSees = (text) => page.locator("#wire-log pre", { hasText: text }).first().waitFor({ timeout: 10_000 });
await wireSees("showing the connections");
await page.click("#wire-clear");
await page.fill("#nick", "alice");
// One poll: a full head each way, for nothing new.
await page.selectOption("#transport", "poll");
await page.fill("#interval", "10");
await page.click("#connect");
await wireSees("HTTP/1.1 200 OK");
await page.click("#connect");
// Then WebSocket: one head each way, then frames with two-byte headers.
await page.selectOption("#transport", "ws");
await page.click("#connect");
await page.locator("#log li", { hasText: "you are now alice" }).waitFor();
member.write("hi alice\n");
await page.locator("#log li", { hasText: "bob: hi alice" }).waitFor();
await page.fill("#text", "hello bob");
await page.click("#send");
await page.locator("#log li", { hasText: "] hello bob" }).waitFor();
await wireSees(/MASK=1 key=.* "hello bob"/);
await page.waitForTimeout(500);
await page.screenshot({ path: out });
await browser.close();
member.end();
