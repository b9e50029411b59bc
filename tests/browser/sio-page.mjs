// The lab's Socket.IO page (/sio, chapter 16) in a real browser, with the Socket.IO client script
// the test gave the lab from npm (no CDN), chatting with a TCP member (this script, like nc).
//   node sio-page.mjs http://127.0.0.1:8080 127.0.0.1:7878
// Exits 0 and prints "ok" when the page joined its room, a line went each way (Hangul included),
// a peer's markup stayed text, and "leave this room" left the chat (its ack came back first).
import { launch, tcpMember } from "./support.mjs";

const [base, tcp] = process.argv.slice(2);
const fail = (why) => { console.error(`FAIL: ${why}`); process.exit(1); };
setTimeout(() => fail("took more than 60 s"), 60_000).unref();

const member = tcpMember(tcp, fail);
const memberSees = member.sees;
member.write("/nick nc-user\n/join games\n");
await memberSees("* you are now nc-user in games");

const browser = await launch();
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => fail(`the page threw: ${e.message}`));
  page.on("dialog", () => fail("a peer's markup ran in the page"));
  const chat = page.locator("#chat");
  const chatHas = (text) => page.waitForFunction(
    (wanted) => document.getElementById("chat").value.includes(wanted), text, { timeout: 10_000 });
  await page.goto(`${base}/sio?name=${encodeURIComponent("민지")}&room=games`);
  await chatHas("* in games: ");
  await memberSees("* 민지 has entered games");
  await page.locator("#text").fill("안녕, from the page 😀");
  await page.locator("#text").press("Enter");
  await memberSees("민지: 안녕, from the page 😀");
  member.write("반가워요 <img src=x onerror=alert(1)>\n");
  await chatHas("nc-user: 반가워요 <img src=x onerror=alert(1)>");
  await page.locator("#leave").click();
  await memberSees("* 민지 has left the chat");
  await page.locator("#enter").waitFor({ state: "visible", timeout: 10_000 });
  if ((await chat.inputValue()).includes("cannot join")) fail("the page could not join");
  console.log("ok");
} catch (e) {
  fail(e.message);
} finally {
  await browser.close();
  member.end();
}
