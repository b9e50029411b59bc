// What the browser tests share: a TCP member of the chat (like nc) that collects the lines it
// reads, and headless Chromium launched the way this machine and CI can run it.
import net from "node:net";
import { chromium } from "playwright-core";

// Lines as they arrive on a stream, split at "\n": `lines` holds every one so far, and
// `sees(line)` waits (10 s at most) until one of them is `line`. `who` names the reader in the
// error.
export function lineReader(stream, who) {
  const lines = [];
  let waiter = null;
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (data) => {
    buffered += data;
    let end;
    while ((end = buffered.indexOf("\n")) >= 0) {
      lines.push(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
    }
    if (waiter) waiter();
  });
  const sees = (wanted) => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${who} never saw ${JSON.stringify(wanted)}; saw ${JSON.stringify(lines.slice(-8))}`)), 10_000);
    waiter = () => { if (lines.includes(wanted)) { clearTimeout(timer); waiter = null; resolve(); } };
    waiter();
  });
  return { lines, sees };
}

// A member at `tcp` ("127.0.0.1:7878"); `fail` ends the test when its connection breaks.
// `lines` holds every line it read; `sees(line)` waits (10 s at most) until one of them is `line`.
export function tcpMember(tcp, fail) {
  const socket = net.connect(Number(tcp.split(":")[1]), tcp.split(":")[0]);
  const { lines, sees } = lineReader(socket, "the TCP member");
  socket.on("error", (e) => fail(`tcp member: ${e.message}`));
  return { lines, sees, write: (text) => socket.write(text), end: () => socket.end() };
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}
