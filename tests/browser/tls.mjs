// The lab's page over https:// in headless Chromium, trusting the lab's self-made certificate by
// the hash of its public key (--ignore-certificate-errors-spki-list), not by ignoring certificate
// errors: the page must choose wss:// and chat with a member on the lab's sealed TCP port.
//   node tls.mjs https://127.0.0.1:8443/ 127.0.0.1:7878 /path/to/cert.pem SPKI-BASE64
// Exits 0 and prints "ok" when a line went both ways over wss:// and the same page, launched
// without the hash, was refused for its certificate.
import fs from "node:fs";
import tls from "node:tls";
import { chromium } from "playwright-core";
import { lineReader } from "./support.mjs";

const [url, tcp, certFile, spki] = process.argv.slice(2);
const fail = (why) => { console.error(`FAIL: ${why}`); process.exit(1); };
setTimeout(() => fail("took more than 60 s"), 60_000).unref();
if (!spki) fail("usage: node tls.mjs URL TCP-ADDR CERT-PEM SPKI-BASE64");

// The same flags as support.mjs's launch, with or without the certificate's hash: no blanket
// --ignore-certificate-errors anywhere.
const launch = (extra) => chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--disable-quic", ...extra],
});

// A member on the lab's TCP port, which speaks TLS too: it trusts the certificate file.
const [host, port] = [tcp.slice(0, tcp.lastIndexOf(":")), Number(tcp.slice(tcp.lastIndexOf(":") + 1))];
const socket = tls.connect({ host, port, ca: fs.readFileSync(certFile), servername: "localhost" });
socket.on("error", (e) => fail(`tls member: ${e.message}`));
const member = lineReader(socket, "the TLS member");
socket.write("/nick tls-member\n");
await member.sees("* you are now tls-member in lobby");

// Without the hash, Chromium refuses the page: the trust below comes from the flag.
const untrusting = await launch([]);
try {
  const page = await untrusting.newPage();
  const refused = await page.goto(url, { timeout: 10_000 }).then(() => null, (e) => e.message);
  if (!refused) fail("Chromium loaded the page without the certificate's hash");
  if (!refused.includes("ERR_CERT")) fail(`the page failed, but not for its certificate: ${refused}`);
  console.log(`without the hash: ${refused.split("\n")[0]}`);
} finally {
  await untrusting.close();
}

const browser = await launch([`--ignore-certificate-errors-spki-list=${spki}`]);
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => fail(`the page threw: ${e.message}`));
  const sockets = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));
  const response = await page.goto(url, { timeout: 10_000 });
  if (!response || response.status() !== 200) fail(`the page answered ${response?.status()}`);
  if (!page.url().startsWith("https://")) fail(`the page is at ${page.url()}`);
  await page.fill("#nick", "web-tls");
  await page.selectOption("#transport", "ws");
  await page.click("#connect");
  await page.locator("#log li", { hasText: "you are now web-tls in lobby" }).waitFor({ timeout: 10_000 });
  const ws = sockets.find((u) => u.includes("/ws"));
  if (!ws || !ws.startsWith("wss://")) fail(`the page's WebSocket went to ${JSON.stringify(sockets)}`);
  console.log(`the page's WebSocket: ${ws.split("?")[0]}`);
  // From the browser to the member.
  const text = "안녕하세요 TLS";
  await page.fill("#text", text);
  await page.click("#send");
  await member.sees(`web-tls: ${text}`);
  // From the member to the browser.
  const back = "반갑습니다, wss://에서 만나요";
  socket.write(`${back}\n`);
  await page.locator("#log li", { hasText: `tls-member: ${back}` }).first().waitFor({ timeout: 10_000 });
  console.log("both ways over https:// and wss://, trusted by the hash");
  console.log("ok");
} catch (e) {
  fail(e.message);
} finally {
  await browser.close();
  socket.end();
}
