// The scoreboard: the board comes as JSON over Server-Sent Events (/class/events), the whole
// board each time. Every name and every word a student's server sent is put into the page with
// textContent, never as markup: `<b>` in a nickname shows as `<b>`.
"use strict";

const KOREAN = (navigator.languages && navigator.languages[0] || navigator.language || "").toLowerCase().startsWith("ko");
const TEXT = KOREAN ? {
  title: (lesson) => `수업 점수판: ${lesson}`,
  student: "학생",
  gradeAll: "모두 채점",
  lab: "실습실",
  nick: "닉네임",
  addr: "포트 (또는 IP:포트)",
  enroll: "내 서버 등록",
  every: (s, n) => `${s}초마다 채점, 지금 ${n}개 채점 중`,
  offline: "연결이 끊겼습니다. 다시 연결하는 중...",
  empty: "아직 등록한 학생이 없습니다. 위의 양식이나 `cargo client check LESSON --enroll URL --nick NAME`으로 등록합니다.",
  changed: "바뀜",
  green: "처음 통과",
  queued: "채점 대기",
  grading: "채점 중",
  tap: "칸을 누르면 힌트가 보입니다.",
  sent: "보내는 중...",
} : {
  title: (lesson) => `Class scoreboard: ${lesson}`,
  student: "student",
  gradeAll: "Grade all",
  lab: "the lab",
  nick: "Nickname",
  addr: "Port (or IP:port)",
  enroll: "Enroll my server",
  every: (s, n) => `graded every ${s} s, ${n} grading now`,
  offline: "disconnected, reconnecting...",
  empty: "Nobody has enrolled yet. Use the form above, or `cargo client check LESSON --enroll URL --nick NAME`.",
  changed: "changed",
  green: "first green",
  queued: "queued",
  grading: "grading",
  tap: "Tap or hover a cell for its hint.",
  sent: "sending...",
};

const $ = (id) => document.getElementById(id);
const clock = (ms) => ms ? new Date(ms).toLocaleTimeString(KOREAN ? "ko-KR" : undefined, { hour12: false }) : "";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

document.documentElement.lang = KOREAN ? "ko" : "en";
$("grade-all").textContent = TEXT.gradeAll;
$("lab-link").textContent = TEXT.lab;
$("nick-label").textContent = TEXT.nick;
$("addr-label").textContent = TEXT.addr;
$("enroll-button").textContent = TEXT.enroll;
$("detail").textContent = TEXT.tap;

function render(board) {
  $("title").textContent = TEXT.title(board.lesson);
  document.title = TEXT.title(board.lesson);
  $("status").textContent = TEXT.every(board.every, board.grading);
  const head = $("head");
  head.replaceChildren(el("th", "who", TEXT.student));
  board.checks.forEach((name, i) => head.append(el("th", "", `${i + 1}. ${name}`)));
  const rows = board.students.map((student) => {
    const row = el("tr", student.stage);
    const who = el("td", "who");
    who.append(el("span", "nick", student.nick), el("span", "small", student.addr));
    const stage = student.stage === "done" ? "" : TEXT[student.stage] + " · ";
    who.append(el("span", "small", `${stage}${TEXT.changed} ${clock(student.changed)}`));
    row.append(who);
    if (student.error) {
      const cell = el("td", "error", student.error);
      cell.colSpan = board.checks.length;
      row.append(cell);
      return row;
    }
    student.cells.forEach((cell, i) => {
      const td = el("td", `cell ${cell.outcome || ""}`, cell.outcome || "·");
      if (cell.first_green) td.append(el("span", "small", `${TEXT.green} ${clock(cell.first_green)}`));
      const words = [cell.what, cell.hint].filter(Boolean).join(" — ");
      td.title = words;
      td.tabIndex = 0;
      const show = () => { $("detail").textContent = `${student.nick} · ${i + 1}. ${board.checks[i]}\n${cell.outcome || ""} ${words}`; };
      td.addEventListener("click", show);
      td.addEventListener("focus", show);
      row.append(td);
    });
    return row;
  });
  $("rows").replaceChildren(...rows);
  $("empty").textContent = board.students.length ? "" : TEXT.empty;
}

function listen() {
  const events = new EventSource("/class/events");
  events.onmessage = (event) => render(JSON.parse(event.data));
  events.onerror = () => { $("status").textContent = TEXT.offline; };
}

async function post(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return response.json().catch(() => ({ error: `${response.status}` }));
}

$("enroll").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("answer").textContent = TEXT.sent;
  const answer = await post("/class/enroll", { nick: $("nick").value.trim(), addr: $("addr").value.trim() });
  $("answer").textContent = answer.ok || answer.error;
  $("answer").className = answer.ok ? "" : "bad";
});

$("grade-all").addEventListener("click", async () => {
  const answer = await post("/class/grade", {});
  if (answer.error) $("detail").textContent = answer.error;
});

listen();
