// Takes a picture of the lab's page after a short chat, for the book:
//   node screenshot.mjs http://127.0.0.1:8080/ ../../docs/src/lab.png
import { chromium } from "playwright-core";
const [url, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const page = await browser.newPage({ viewport: { width: 1000, height: 520 } });
await page.goto(url);
await page.fill("#nick", "alice");
await page.click("#connect");
await page.locator("#log li", { hasText: "you are now alice" }).waitFor();
await page.fill("#text", "hello from the browser");
await page.click("#send");
await page.locator("#log li", { hasText: "[you] hello from the browser" }).waitFor();
await page.waitForTimeout(2500);
await page.screenshot({ path: out });
await browser.close();
