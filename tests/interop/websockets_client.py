"""An independent WebSocket client (Python's `websockets`, strict about RFC 6455) in the lab's
chat. Used by client/tests/interop.rs; the Rust side plays a TCP member of the same room.

    python websockets_client.py ws://127.0.0.1:8080/ws
"""

import sys

from websockets.sync.client import connect


def main():
    url = sys.argv[1]
    with connect(url, open_timeout=5, close_timeout=5) as ws:

        def until(wanted):
            seen = []
            for _ in range(50):
                message = ws.recv(timeout=5)
                if message == wanted:
                    return
                seen.append(message)
            sys.exit(f"{wanted!r} never came; got {seen}")

        until("* welcome to the socket-steps chat! /help lists the commands")
        ws.send("/nick py")
        until("* you are now py in lobby")
        until("nc-user: hello python")
        ws.send("hello from python websockets, 안녕")
        until("py: hello from python websockets, 안녕")
        # A ping must come back as a pong with the same data.
        ws.ping(b"are you there").wait(5)
    # Leaving the `with` block closes with 1000 and waits for the server's close frame.
    print(f"closed cleanly: {ws.close_code}")


if __name__ == "__main__":
    main()
