// The lab's page in a real browser (headless Chromium, driven by playwright-core), chatting
// with a TCP member (this script, like nc) over each of the page's four transports, then switching
// back to WebSocket and to the stream again.
//   node lab.mjs http://127.0.0.1:8080/ 127.0.0.1:7878
// Exits 0 and prints "ok" when every transport carried a message both ways (Hangul included), a
// line said while the page was switching arrived after the switch, no switch showed a line the
// page had shown before, the wire panel showed each transport's own request heads (and, for
// WebSocket, frame headers both ways) without running any markup a peer sent, and switching
// transport under one nickname was one presence (no leave and join, no second welcome), and the
// chat, the cost table and the wire panel all fit a laptop's window and a phone's screen.
import { launch, tcpMember } from "./support.mjs";

const [url, tcp] = process.argv.slice(2);
const fail = (why) => { console.error(`FAIL: ${why}`); process.exit(1); };
setTimeout(() => fail("took more than 60 s"), 60_000).unref();

// A TCP member of the chat.
const member = tcpMember(tcp, fail);
const memberSees = member.sees;
member.write("/nick nc-user\n");
await memberSees("* you are now nc-user in lobby");

const browser = await launch();
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => fail(`the page threw: ${e.message}`));
  await page.goto(url);
  // The panel's viewer is registered before the page's first request, which it must show.
  await page.locator("#wire-log pre", { hasText: "showing the connections" }).waitFor({ timeout: 10_000 });
  const shown = async () => (await page.locator("#log li").allTextContents());
  const steps = ["ws", "sse", "long-poll", "poll", "ws", "sse"];
  for (const [step, transport] of steps.entries()) {
    // A nickname per step: a transport used twice must not find the first visit's lines.
    const nick = `web-${transport}${step}`;
    // Said while the page is not connected: the next transport must bring it, once.
    const meanwhile = `said before step ${step}, 잠깐만요`;
    member.write(`${meanwhile}\n`);
    await memberSees(`nc-user: ${meanwhile}`);
    await page.fill("#nick", nick);
    await page.selectOption("#transport", transport);
    if (transport === "poll") await page.fill("#interval", "0.2");
    await page.click("#connect");
    if (transport === "ws") await page.locator("#log li", { hasText: `you are now ${nick} in lobby` }).waitFor({ timeout: 10_000 });
    // From the browser to everyone.
    await page.locator("#log li", { hasText: `nc-user: ${meanwhile}` }).first().waitFor({ timeout: 10_000 });
    const text = `hello from ${transport} (step ${step}), 안녕`;
    await page.fill("#text", text);
    await page.click("#send");
    await memberSees(`${nick}: ${text}`);
    await page.locator("#log li", { hasText: `[you] ${text}` }).waitFor({ timeout: 10_000 });
    // From everyone to the browser.
    const hangul = `tcp to ${transport} (step ${step}): 반갑습니다, 세계!`;
    member.write(`${hangul}\n`);
    await page.locator("#log li", { hasText: `nc-user: ${hangul}` }).first().waitFor({ timeout: 10_000 });
    // The wire panel: this transport's request as the server read it, its answer as written.
    const wireSees = (text) => page.locator("#wire-log pre", { hasText: text }).first().waitFor({ timeout: 10_000 });
    const target = { ws: `GET /ws?nick=${nick}&room=lobby&wire=`, sse: "GET /stream?room=lobby", "long-poll": "GET /long-poll?room=lobby", poll: "GET /poll?room=lobby" }[transport];
    await wireSees(target);
    if (transport === "ws") {
      await wireSees("HTTP/1.1 101 Switching Protocols");
      await wireSees(/ws +FIN=1 opcode=1 \(text\) MASK=1 key=/); // what the page sent
      await wireSees(/ws +FIN=1 opcode=1 \(text\) MASK=0 len=\d+ \(head 2 bytes\)/); // what it got
    } else {
      await wireSees("POST /send?wire=");
      await wireSees("HTTP/1.1 200 OK");
      // The body the page sent, as text: not quoted and escaped, Hangul whole.
      await wireSees(`body: {"room":"lobby","nick":"${nick}","text":"${text}"}`);
      // Polling's heads, the same each time: the second and later show what changed only.
      if (transport === "poll") await wireSees("header lines as in the last request");
    }
    const requests = await page.locator("#costs tr.active td").nth(1).textContent();
    if (!(Number(requests) >= 1)) fail(`${transport}: the page counted ${requests} requests`);
    await page.click("#connect"); // disconnect
    console.log(`${transport}: both ways, ${requests} request(s) so far`);
    // Every chat message is unique in this script: a line shown twice is a replay.
    const counts = new Map();
    for (const text of await shown()) {
      if (!text.startsWith("* ") && !text.startsWith("! ")) counts.set(text, (counts.get(text) ?? 0) + 1);
    }
    const repeated = [...counts].filter(([, n]) => n > 1).map(([text, n]) => `${n}x ${text}`);
    if (repeated.length) fail(`after switching to ${transport} (step ${step}) the page repeated: ${JSON.stringify(repeated)}`);
  }
  // Markup from a peer, over WebSocket: shown as text in the log and on the wire, never run.
  await page.fill("#nick", "web-markup");
  await page.selectOption("#transport", "ws");
  await page.click("#connect");
  await page.locator("#log li", { hasText: "you are now web-markup in lobby" }).waitFor({ timeout: 10_000 });
  const markup = `<img src=x onerror="window.pwned=1">`;
  member.write(`${markup}\n`);
  await page.locator("#wire-log pre", { hasText: "onerror" }).first().waitFor({ timeout: 10_000 });
  await page.locator("#log li", { hasText: "onerror" }).first().waitFor({ timeout: 10_000 });
  if (await page.evaluate(() => window.pwned) || await page.locator("img").count()) fail("a peer's markup ran");
  console.log("wire panel: heads and frames shown, markup stayed text");
  // Switching transport is one presence: WebSocket, polling, WebSocket again within a few
  // seconds under one nickname. The TCP member hears one arrival and no departure, and the page
  // shows one welcome and never says that she left.
  await page.click("#connect"); // disconnect web-markup
  await memberSees("* web-markup has left the chat"); // its grace passes: a real departure
  const before = member.lines.length;
  const shownBefore = (await shown()).length;
  await page.fill("#nick", "민지");
  for (const transport of ["ws", "poll", "ws"]) {
    await page.selectOption("#transport", transport);
    await page.click("#connect");
    if (transport === "ws") await page.locator("#log li", { hasText: "you are now 민지 in lobby" }).last().waitFor({ timeout: 10_000 });
    else await page.locator("#costs tr.active td").first().waitFor({ timeout: 10_000 });
    await page.click("#connect");
  }
  await page.selectOption("#transport", "ws");
  await page.click("#connect");
  member.write("/who\n");
  await memberSees("* in lobby: nc-user, 민지");
  const heard = member.lines.slice(before).filter((l) => l.includes("민지"));
  if (JSON.stringify(heard) !== JSON.stringify(["* 민지 has entered lobby", "* in lobby: nc-user, 민지"])) fail(`switching was not one presence for the others: ${JSON.stringify(heard)}`);
  const mine = (await shown()).slice(shownBefore).filter((t) => t.includes("welcome to") || t.includes("민지 has left"));
  if (mine.length !== 1) fail(`switching was not one presence on the page: ${JSON.stringify(mine)}`);
  console.log("switching transport: one presence");
  // The layout: at a laptop's 1280x800 and at a phone's 390x844 the chat, every row of the cost
  // table and the wire panel are all on screen, none covering another. The pictures are for a
  // person to look at (SCREENSHOTS names a folder).
  for (const [name, width, height] of [["laptop", 1280, 800], ["phone", 390, 844]]) {
    await page.setViewportSize({ width, height });
    await page.waitForTimeout(300);
    const where = `${name} ${width}x${height}`;
    const box = async (selector) => (await page.locator(selector).first().boundingBox()) ?? fail(`${where}: ${selector} is not shown`);
    const onScreen = (b, what) => {
      if (b.x < 0 || b.y < 0 || b.x + b.width > width + 1 || b.y + b.height > height + 1 || b.width < 100 || b.height < 60) fail(`${where}: ${what} is not wholly on screen: ${JSON.stringify(b)}`);
    };
    const [log, aside, wire] = [await box("#log"), await box("aside"), await box("#wire-log")];
    onScreen(log, "the chat");
    onScreen(aside, "the costs");
    onScreen(wire, "the wire panel");
    const overlap = (a, b) => a.x < b.x + b.width - 1 && b.x < a.x + a.width - 1 && a.y < b.y + b.height - 1 && b.y < a.y + a.height - 1;
    if (overlap(log, aside) || overlap(log, wire) || overlap(aside, wire)) fail(`${where}: the chat, the costs and the wire panel overlap`);
    for (const row of await page.locator("aside table tr").all()) {
      const b = await row.boundingBox();
      if (!b || b.y + b.height > aside.y + aside.height + 1 || b.x + b.width > aside.x + aside.width + 1) fail(`${where}: a row of the cost table is cut off: ${await row.textContent()}`);
    }
    if (process.env.SCREENSHOTS) await page.screenshot({ path: `${process.env.SCREENSHOTS}/lab-${name}.png` });
  }
  console.log("layout: chat, costs and wire fit at 1280x800 and 390x844");
  console.log("ok");
} catch (e) {
  fail(e.message);
} finally {
  await browser.close();
  member.end();
}
