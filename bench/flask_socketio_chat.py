"""The reference for bench/sio-fanout: the article's chat on Flask-SocketIO 5, reduced to what
the benchmark uses (namespace /chat, the room from the auth payload, `text` answered with
`message` {msg, nick, text} to the room, as the lab answers).

    python flask_socketio_chat.py threading|gevent PORT

Runs until killed. Needs flask-socketio and simple-websocket (and gevent for `gevent`).
"""

import sys

MODE, PORT = sys.argv[1], int(sys.argv[2])
if MODE == "gevent":
    from gevent import monkey

    monkey.patch_all()

from flask import Flask, request  # noqa: E402
from flask_socketio import SocketIO, emit, join_room  # noqa: E402

app = Flask(__name__)
socketio = SocketIO(app, async_mode=MODE)
members = {}


@socketio.on("connect", namespace="/chat")
def connect(auth):
    auth = auth or {}
    who = (auth.get("name", "guest"), auth.get("room", "lobby"))
    members[request.sid] = who
    join_room(who[1])


@socketio.on("disconnect", namespace="/chat")
def disconnect(*_):
    members.pop(request.sid, None)


@socketio.on("text", namespace="/chat")
def text(data):
    name, room = members.get(request.sid, ("guest", "lobby"))
    emit("message", {"msg": name + ": " + data["msg"], "nick": name, "text": data["msg"]}, to=room)


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=PORT, allow_unsafe_werkzeug=True, log_output=False)
