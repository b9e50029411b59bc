// A chat member on a real Socket.IO client, driven line by line (server/tests/sio_clients.rs).
//
//   node chat.js URL 4|2 TRANSPORTS NAME ROOM
//
// TRANSPORTS is socket.io-client's list: `polling,websocket` (the default: polling, then the
// upgrade), `websocket` or `polling`. It connects to the namespace /chat as the article's page
// does, emits `joined`, then reads commands on stdin: `text MSG` emits `text` {msg}, `left`
// emits `left`, `close` disconnects. Everything it hears goes to stdout, one JSON object a line.
"use strict";

const readline = require("readline");

const [url, version, transports, name, room] = process.argv.slice(2);
const out = (object) => process.stdout.write(JSON.stringify(object) + "\n");
const options = { transports: transports.split(","), reconnection: false, forceNew: true };

let socket;
if (version === "2") {
  // socket.io-client 2.x has no auth payload: the room and name travel in the namespace's query.
  const io = require("sio2");
  const query = `room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}`;
  socket = io(`${url}/chat?${query}`, options);
} else {
  const io = require("sio4");
  socket = io(`${url}/chat`, { ...options, auth: { room, name } });
}

const engine = () => socket.io.engine;
socket.io.on("open", () => {
  const transport = engine().transport.name;
  out({ event: "open", transport });
  engine().on("upgrade", (t) => out({ event: "upgrade", transport: t.name }));
});
socket.on("connect", () => {
  out({ event: "connect", transport: engine().transport.name });
  socket.emit("joined", {});
});
socket.on("status", (data) => out({ event: "status", ...data }));
socket.on("message", (data) => out({ event: "message", ...data }));
socket.on("connect_error", (e) => out({ event: "connect_error", message: String(e && e.message) }));
socket.on("error", (e) => out({ event: "error", message: String(e) }));
socket.on("disconnect", (reason) => {
  out({ event: "disconnect", reason });
  process.exit(0);
});

const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
  if (line.startsWith("text ")) socket.emit("text", { msg: line.slice(5) });
  else if (line === "left") socket.emit("left", {});
  else if (line === "close") socket.close();
});
// The test ending (stdin closed) ends this member too.
input.on("close", () => {
  socket.close();
  setTimeout(() => process.exit(0), 200);
});
