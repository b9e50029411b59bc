// Chapter 14's lab on one thread in a real browser: the loop's web port serves the page (GET /)
// and /ws, and a browser member chats there with a TCP member (like nc) and with `cargo client
// ws`, every one of them served by the same thread.
//   node one-thread.mjs http://127.0.0.1:8080/ 127.0.0.1:7878 path/to/client
// Exits 0 and prints "ok" when every member heard the other two, Hangul included.
import { spawn } from "node:child_process";
import { launch, lineReader, tcpMember } from "./support.mjs";

const [url, tcp, clientBinary] = process.argv.slice(2);
const fail = (why) => { console.error(`FAIL: ${why}`); process.exit(1); };
setTimeout(() => fail("took more than 60 s"), 60_000).unref();

const nc = tcpMember(tcp, fail);
nc.write("/nick nc-user\n");
await nc.sees("* you are now nc-user in lobby");

// `cargo client ws`, as a reader runs it in a terminal; it shows the room on its standard output.
const cli = spawn(clientBinary, ["ws", "--addr", new URL(url).host, "--nick", "cli-user"], { stdio: ["pipe", "pipe", "inherit"] });
cli.on("exit", (code) => fail(`cargo client ws exited early (${code})`));
const cliShows = lineReader(cli.stdout, "cargo client ws");
await cliShows.sees("* you are now cli-user in lobby");

const browser = await launch();
let page = null;
try {
  page = await browser.newPage();
  page.on("pageerror", (e) => fail(`the page threw: ${e.message}`));
  const sockets = [];
  page.on("websocket", (ws) => sockets.push(ws.url()));
  await page.goto(url);
  const pageShows = (text) => page.locator("#log li", { hasText: text }).first().waitFor({ timeout: 10_000 });
  await page.fill("#nick", "web-user");
  await page.selectOption("#transport", "ws");
  await page.click("#connect");
  await pageShows("you are now web-user in lobby");
  if (!sockets.some((u) => u.startsWith(`ws://${new URL(url).host}/ws`))) fail(`the page's WebSocket went elsewhere: ${sockets}`);

  const fromPage = "안녕하세요, from the page on the loop";
  await page.fill("#text", fromPage);
  await page.click("#send");
  await nc.sees(`web-user: ${fromPage}`);
  await cliShows.sees(`web-user: ${fromPage}`);

  const fromNc = "반갑습니다, from nc";
  nc.write(`${fromNc}\n`);
  await pageShows(`nc-user: ${fromNc}`);
  await cliShows.sees(`nc-user: ${fromNc}`);

  const fromCli = "hello from cargo client ws, 세계";
  cli.stdin.write(`${fromCli}\n`);
  await pageShows(`cli-user: ${fromCli}`);
  await nc.sees(`cli-user: ${fromCli}`);
} catch (e) {
  const shown = page ? await page.locator("#log li").allTextContents() : [];
  fail(`${e.message}\nthe page showed: ${JSON.stringify(shown)}`);
} finally {
  cli.removeAllListeners("exit");
  cli.kill();
  nc.end();
  await browser.close();
}
console.log("ok");
