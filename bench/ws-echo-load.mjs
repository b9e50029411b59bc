// A WebSocket echo load driver, written against the `ws` package (an independent client).
//   node ws-echo-load.mjs URL CONNECTIONS SECONDS [SIZE] [WINDOW]
// Opens CONNECTIONS clients; each keeps WINDOW small text messages of SIZE bytes in flight and
// sends a new one for every echo. After a 1 s warm-up it counts echoes for SECONDS and prints
// one JSON line: {"connections":..,"msgs_per_s":..}. Every echo is checked against what was sent.
import WebSocket from "ws";

const [url, connections = "1", seconds = "5", size = "16", window = "1"] = process.argv.slice(2);
if (!url) {
  console.error("usage: node ws-echo-load.mjs URL CONNECTIONS SECONDS [SIZE] [WINDOW]");
  process.exit(2);
}
const n = Number(connections), payload = "x".repeat(Number(size)), inFlight = Number(window);
let counted = 0, counting = false, open = 0, bad = 0;
const sockets = [];

for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  sockets.push(ws);
  ws.on("open", () => {
    open++;
    for (let k = 0; k < inFlight; k++) ws.send(payload);
  });
  ws.on("message", (data) => {
    if (data.length !== payload.length) bad++;
    if (counting) counted++;
    ws.send(payload);
  });
  ws.on("error", (e) => {
    console.error(`connection ${i}: ${e.message}`);
    process.exit(1);
  });
}

setTimeout(() => {
  if (open !== n) {
    console.error(`only ${open} of ${n} connections opened`);
    process.exit(1);
  }
  counting = true;
  const started = process.hrtime.bigint();
  setTimeout(() => {
    counting = false;
    const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(JSON.stringify({ connections: n, size: Number(size), window: inFlight, msgs_per_s: Math.round(counted / elapsed), bad }));
    sockets.forEach((ws) => ws.terminate());
    process.exit(bad ? 1 : 0);
  }, Number(seconds) * 1000);
}, 1000);
