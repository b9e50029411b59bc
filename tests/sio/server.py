"""A python-socketio 5 server with the article's chat events, for `cargo client sio`'s test.

    python server.py        prints the port it listens on (127.0.0.1, chosen by the system),
                            serves until its standard input closes

The events follow the article's Flask-SocketIO chat on namespace /chat: the client connects with
{name, room} as its auth payload; `joined` and `text` {msg} answer `status` and `message` {msg}
to the room. Python's own wsgiref serves it, one thread per connection: simple-websocket finds
the connection's socket under the key Werkzeug would give it. (wsgiref then writes an HTTP
response after the WebSocket has ended, which a client that has just closed must shrug off.)
"""

import os
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import socketio

NAMESPACE = "/chat"
sio = socketio.Server(async_mode="threading")
app = socketio.WSGIApp(sio)


@sio.on("connect", namespace=NAMESPACE)
def connect(sid, environ, auth):
    auth = auth or {}
    who = {"name": auth.get("name", "guest"), "room": auth.get("room", "lobby")}
    sio.save_session(sid, who, namespace=NAMESPACE)
    sio.enter_room(sid, who["room"], namespace=NAMESPACE)


@sio.on("joined", namespace=NAMESPACE)
def joined(sid, data):
    who = sio.get_session(sid, namespace=NAMESPACE)
    sio.emit("status", {"msg": who["name"] + " has entered the room."}, room=who["room"], namespace=NAMESPACE)


@sio.on("text", namespace=NAMESPACE)
def text(sid, data):
    who = sio.get_session(sid, namespace=NAMESPACE)
    sio.emit("message", {"msg": who["name"] + ":" + data["msg"]}, room=who["room"], namespace=NAMESPACE)


class Handler(WSGIRequestHandler):
    def get_environ(self):
        environ = super().get_environ()
        environ["werkzeug.socket"] = self.connection
        return environ

    def log_message(self, *args):
        pass


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def main():
    httpd = make_server("127.0.0.1", 0, app, server_class=Server, handler_class=Handler)
    print(httpd.server_port, flush=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    sys.stdin.read()  # the test is done when it closes our input
    os._exit(0)


if __name__ == "__main__":
    main()
