// The lab's page in Korean (issue 25). The server answers GET / with <html lang="ko"> when the
// browser's Accept-Language prefers Korean to English, or when the page's switch asked for it
// (?lang=ko; ?lang=en for English), and this file, loaded after the page's own script, puts the
// page's words into Korean: its labels at once, and what the page writes later (the status, the
// buttons, the cost table's names, its own notices in the log) as it writes them, by watching
// those elements. So index.html keeps its English and needs no change to say something new; a
// string missing here simply stays English.
//
// What the chat's server says ("* you are now alice in lobby", "! ...") is the chat's protocol,
// the same lines a terminal member reads, and stays as sent: the book teaches those lines.
(function () {
  "use strict";
  const korean = document.documentElement.lang === "ko";

  // The switch, in the header: the other language's name links to this page in it.
  const header = document.querySelector("header");
  if (header) {
    const other = korean ? { lang: "en", name: "English" } : { lang: "ko", name: "한국어" };
    const here = korean ? "한국어" : "English";
    const span = document.createElement("span");
    span.id = "language";
    span.style.marginLeft = "auto";
    const link = document.createElement("a");
    link.href = `?lang=${other.lang}`;
    link.lang = other.lang;
    link.hreflang = other.lang;
    link.textContent = other.name;
    span.append(`${here} · `, link);
    (header.querySelector("form") || header).append(span);
  }
  if (!korean) return;

  // Hangul has no italic (a browser slants it by force): the page's notices are grey instead.
  const style = document.createElement("style");
  style.textContent = "#log li.notice, #wire-log .notice { font-style: normal; }";
  document.head.append(style);

  // Exactly these texts, as index.html writes them.
  const words = {
    "socket-steps lab": "socket-steps 실습실",
    nickname: "닉네임",
    room: "방",
    transport: "전송 방식",
    every: "간격",
    s: "초",
    connect: "연결",
    disconnect: "연결 끊기",
    "not connected": "연결 안 됨",
    WebSocket: "웹소켓",
    "Server-Sent Events": "Server-Sent Events(SSE)",
    "SSE stream": "SSE 스트림",
    "long polling": "롱 폴링",
    polling: "폴링",
    "What it costs": "드는 비용",
    "Counted by this page since it opened, per transport: requests made, answers with nothing new, kilobytes received (headers included where the browser reports them), messages, and the average delay of your own messages from send to seeing them come back.":
      "이 페이지가 열린 뒤로 전송 방식마다 센 값입니다. 보낸 요청 수, 새것 없이 돌아온 빈 응답 수, 받은 킬로바이트(브라우저가 알려 주는 경우 헤더 포함), 메시지 수, 그리고 내 메시지를 보낸 때부터 다시 돌아와 보이기까지 걸린 평균 지연입니다.",
    requests: "요청",
    empty: "빈 응답",
    "KB in": "받은 KB",
    msgs: "메시지",
    "delay ms": "지연\u00a0ms", // &nbsp; is white space to the lookup
    Wire: "회선",
    "what the server read (<<) from and wrote (>>) to this page's own connections, as it happens":
      "서버가 이 페이지의 연결에서 읽은 것(<<)과 쓴 것(>>)을 오가는 그대로 보여 줍니다",
    watch: "지켜보기",
    clear: "지우기",
    connecting: "연결 중",
    off: "꺼짐",
    watching: "지켜보는 중",
    "the server refused the panel (too many open?): untick and tick watch to try again":
      "서버가 패널을 거절했습니다(너무 많이 열려 있을까요?). 지켜보기를 껐다가 다시 켜 보세요",
    "lost the wire stream, retrying": "회선 스트림이 끊겨 다시 연결하는 중",
    "type a message (or /help)": "메시지를 입력하세요(/help도 됩니다)",
    send: "보내기",
    "! commands (/nick, /join ...) need the WebSocket transport": "! 명령(/nick, /join ...)은 웹소켓 전송 방식에서만 쓸 수 있습니다",
    "! not connected yet: try again in a moment": "! 아직 연결되지 않았습니다. 잠시 뒤에 다시 해 보세요",
    "* the server closed the stream": "* 서버가 스트림을 닫았습니다",
    "* some lines of the room were said while away and are no longer kept": "* 자리를 비운 사이에 오간 줄 가운데 일부는 서버에 더 남아 있지 않습니다",
  };
  const transport = "(WebSocket|SSE stream|long polling|polling)";
  // Texts with a part that varies; the page's own, never a peer's line ("nick: text").
  const patterns = [
    [new RegExp(`^${transport}: (\\S+) in (\\S+)$`), (_, t, nick, room) => `${words[t]}: ${room} 방의 ${nick}`],
    [/^\[you\] /, () => "[나] "],
    [/^\* disconnected \((.*)\)$/, (_, why) => `* 연결이 끊겼습니다(${why})`],
    [/^! could not catch up: /, () => "! 밀린 줄을 받아 오지 못했습니다: "],
    [/^\* (\d+) events dropped: this panel fell behind \(the chat did not wait for it\)$/,
      (_, n) => `* 이벤트 ${n}개를 버렸습니다. 이 패널이 뒤처졌습니다(채팅은 패널을 기다리지 않습니다)`],
  ];
  const translate = (text) => {
    const key = text.replace(/\s+/g, " ").trim();
    if (!key) return text;
    if (Object.hasOwn(words, key)) return text.replace(text.trim(), () => words[key]);
    for (const [pattern, to] of patterns) if (pattern.test(text)) return text.replace(pattern, to);
    return text;
  };

  // The text nodes under `root` (not the chat's and the panel's own lines: see below).
  function translateTree(root) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest("#log, #wire-log, #language, script, style")) continue;
      const to = translate(node.textContent);
      if (to !== node.textContent) node.textContent = to;
    }
  }
  document.title = translate(document.title);
  translateTree(document.body);
  for (const input of document.querySelectorAll("[placeholder]")) input.placeholder = translate(input.placeholder);

  // What the page writes later. A line of the log or the panel is translated only when it is
  // one of the page's own texts above: a peer's "nick: text" never matches them.
  const watch = (selector, whole) => {
    const root = document.querySelector(selector);
    if (!root) return;
    new MutationObserver((changes) => {
      for (const change of changes) {
        for (const node of change.addedNodes) {
          if (whole && node.nodeType === Node.ELEMENT_NODE) {
            const to = translate(node.textContent);
            if (to !== node.textContent) node.textContent = to;
          } else if (!whole) translateTree(node.nodeType === Node.TEXT_NODE ? node.parentNode : node);
        }
      }
    }).observe(root, { childList: true, subtree: !whole });
  };
  watch("#log", true);
  watch("#wire-log", true);
  for (const selector of ["#status", "#connect", "#wire-status", "#costs"]) watch(selector, false);
})();
