// The load driver of bench/sio-fanout: MEMBERS socket.io-client 4 members (WebSocket only) in one
// room of a Socket.IO server's /chat, one more that says MESSAGES lines INTERVAL ms apart; then
// a member alone in a room of its own, saying a line and waiting for it back, for two seconds.
//   node fanout.js URL MEMBERS MESSAGES INTERVAL_MS
// Prints one JSON line: how long connecting took, how many lines reached every member, the last
// member's delay p50/p95/p99 in ms, and echo round trips per second.
"use strict";

const io = require("sio4");

const [url, members, messages, interval] = [process.argv[2], ...process.argv.slice(3).map(Number)];
const now = () => performance.timeOrigin + performance.now();
const fail = (why) => { console.error(`FAIL: ${why}`); process.exit(1); };
setTimeout(() => fail("took more than 120 s"), 120_000).unref();

const join = (name, room = "fanout") => new Promise((resolve, reject) => {
  const socket = io(`${url}/chat`, {
    transports: ["websocket"], forceNew: true, reconnection: false, auth: { name, room },
  });
  socket.on("connect", () => resolve(socket));
  socket.on("connect_error", (e) => reject(new Error(`${name}: ${e.message}`)));
});

// The text of a line, from the lab's {nick, text} or a bare {msg: "nick: text"}.
const textOf = (data) => data.text ?? String(data.msg).split(": ").slice(1).join(": ");

(async () => {
  const started = now();
  const sockets = [];
  for (let i = 0; i < members; i += 1) sockets.push(await join(`m${i}`));
  const connectMs = now() - started;
  // seq -> [how many members heard it, the latest arrival]
  const heard = new Map();
  for (const socket of sockets) {
    socket.on("message", (data) => {
      const [tag, seq, sent] = textOf(data).split(" ");
      if (tag !== "m") return;
      const entry = heard.get(seq) ?? [0, 0];
      entry[0] += 1;
      entry[1] = Math.max(entry[1], now() - Number(sent));
      heard.set(seq, entry);
    });
  }
  const sender = await join("sender");
  for (let seq = 0; seq < messages; seq += 1) {
    sender.emit("text", { msg: `m ${seq} ${now()}` });
    await new Promise((r) => setTimeout(r, interval));
  }
  const deadline = now() + 5000;
  while (now() < deadline && [...heard.values()].filter(([n]) => n === members).length < messages) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const last = [...heard.values()].filter(([n]) => n === members).map(([, ms]) => ms).sort((a, b) => a - b);
  const pct = (p) => last.length ? Number(last[Math.min(last.length - 1, Math.floor(p * last.length))].toFixed(2)) : null;
  // Echo: a member alone in its room says a line and waits for it to come back, for 2 s.
  const echoer = await join("echoer", "echo");
  let echoes = 0;
  const echoEnd = now() + 2000;
  while (now() < echoEnd) {
    await new Promise((resolve) => {
      const mine = `e ${echoes}`;
      const back = (data) => { if (textOf(data) === mine) { echoer.off("message", back); resolve(); } };
      echoer.on("message", back);
      echoer.emit("text", { msg: mine });
    });
    echoes += 1;
  }
  console.log(JSON.stringify({
    members, messages, connect_ms: Math.round(connectMs), complete: last.length,
    p50_ms: pct(0.5), p95_ms: pct(0.95), p99_ms: pct(0.99), echo_per_s: echoes / 2,
  }));
  process.exit(0);
})().catch((e) => fail(e.message));
