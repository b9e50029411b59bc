// The reference: an echo server on Node's `ws` package, what many people would pick.
//   node node-ws-echo-server.mjs PORT
import { WebSocketServer } from "ws";

const port = Number(process.argv[2] ?? 9101);
const server = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false, maxPayload: 16 << 20 });
server.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
server.on("listening", () => console.error(`node ws echo server on ws://127.0.0.1:${port}/`));
process.on("SIGINT", () => process.exit(0));
