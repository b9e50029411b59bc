// The lab's page for a Korean reader, in headless Chromium (client/tests/interop.rs runs it):
//   node korean.mjs http://127.0.0.1:8080/ 127.0.0.1:7878
// 1. A browser whose Accept-Language prefers Korean gets <html lang="ko"> and Korean labels and
//    notices; one that prefers English gets the English page; the page's switch goes between them.
// 2. Typing Hangul through an input method (the DevTools protocol's Input.imeSetComposition, then
//    Input.insertText to commit, as a Korean IME does): Enter pressed while the last syllable is
//    still being composed (안녕하세 + 요) sends 안녕하세요 once, when the syllable is done, and
//    leaves nothing behind, so the next message goes out as itself (not as 요next).
// Exits 0 and prints "ok" when all of it held.
import { launch, tcpMember } from "./support.mjs";

const [url, tcp] = process.argv.slice(2);
const fail = (why) => { console.error(`FAIL: ${why}`); process.exit(1); };
setTimeout(() => fail("took more than 60 s"), 60_000).unref();

// A TCP member of the chat, which sees exactly what the page sent.
const member = tcpMember(tcp, fail);
const { lines } = member;
const memberSees = member.sees;
member.write("/nick 철수\n");
await memberSees("* you are now 철수 in lobby");

const browser = await launch();
try {
  // The English browser: the page as it always was.
  const english = await browser.newPage({ locale: "en-US" });
  await english.goto(url);
  if (await english.getAttribute("html", "lang") !== "en") fail("an English browser did not get lang=en");
  if (await english.textContent("#connect") !== "connect") fail("an English browser did not get the English labels");
  await english.close();

  const context = await browser.newContext({ locale: "ko-KR" });
  const page = await context.newPage();
  page.on("pageerror", (e) => fail(`the page threw: ${e.message}`));
  await page.goto(url);
  if (await page.getAttribute("html", "lang") !== "ko") fail("a Korean browser did not get lang=ko");
  for (const [selector, korean] of [["#connect", "연결"], ["#status", "연결 안 됨"], ["#send", "보내기"]]) {
    const shown = await page.textContent(selector);
    if (shown !== korean) fail(`${selector} says ${JSON.stringify(shown)} to a Korean browser, not ${korean}`);
  }
  if (await page.getAttribute("#text", "placeholder") === "type a message (or /help)") fail("the message box's placeholder is English");

  await page.fill("#nick", "영희");
  await page.selectOption("#transport", "ws");
  await page.click("#connect");
  await page.locator("#log li", { hasText: "you are now 영희 in lobby" }).waitFor({ timeout: 10_000 });
  if (await page.textContent("#connect") !== "연결 끊기") fail(`connected, the button says ${await page.textContent("#connect")}`);
  if (!(await page.textContent("#status")).includes("lobby 방의 영희")) fail(`the status says ${await page.textContent("#status")}`);
  console.log("Korean page: lang=ko, labels and status in Korean");

  // The input method: 안녕하세 committed, 요 still composing, then Enter.
  const ime = await context.newCDPSession(page);
  await page.focus("#text");
  await ime.send("Input.insertText", { text: "안녕하세" });
  await ime.send("Input.imeSetComposition", { text: "요", selectionStart: 1, selectionEnd: 1 });
  await page.keyboard.press("Enter");
  await ime.send("Input.insertText", { text: "요" }); // the input method commits the syllable
  await memberSees("영희: 안녕하세요");
  const left = await page.inputValue("#text");
  if (left !== "") fail(`after sending, the box still holds ${JSON.stringify(left)}`);
  await page.keyboard.type("next");
  await page.keyboard.press("Enter");
  await memberSees("영희: next");
  const sent = lines.filter((l) => l.startsWith("영희: "));
  if (JSON.stringify(sent) !== JSON.stringify(["영희: 안녕하세요", "영희: next"])) fail(`the page sent ${JSON.stringify(sent)}`);
  console.log(`input method: Enter while composing sent ${JSON.stringify(sent)}`);

  // The switch: to English and back.
  await page.click("#language a");
  await page.waitForFunction(() => document.documentElement.lang === "en");
  if (await page.textContent("#connect") !== "connect") fail("the switch to English kept Korean labels");
  await page.click("#language a");
  await page.waitForFunction(() => document.documentElement.lang === "ko");
  console.log("switch: English and back to Korean");
  console.log("ok");
} catch (e) {
  fail(e.message);
} finally {
  await browser.close();
  member.end();
}
