"""A TLS forwarder for scripts/autobahn --tls: kosoku has no TLS (its build says "TLS support not
compiled in"), so it connects in plain to this forwarder, which opens a TLS connection (Python's
ssl, trusting CAFILE for the name localhost) to the server for each one and copies bytes both
ways. The WebSocket conversation is kosoku's; the TLS under it is Python's against ours.

    python3 scripts/tls_forward.py LISTEN_PORT_FILE SERVER_HOST:PORT CAFILE
"""
import socket
import ssl
import sys
import threading


def pipe(src, dst, host=None):
    try:
        while data := src.recv(65536):
            if host:  # the upgrade request names the forwarder; the server checks its own name
                data, host = data.replace(host[0], host[1], 1), None
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass


def main():
    port_file, target, cafile = sys.argv[1:4]
    host, port = target.rsplit(":", 1)
    context = ssl.create_default_context(cafile=cafile)
    listener = socket.create_server(("127.0.0.1", 0))
    rename = (f"127.0.0.1:{listener.getsockname()[1]}".encode(), f"localhost:{port}".encode())
    with open(port_file, "w") as f:
        f.write(f"127.0.0.1:{listener.getsockname()[1]}\n")
    while True:
        plain, _ = listener.accept()
        sealed = context.wrap_socket(socket.create_connection((host, int(port))), server_hostname="localhost")
        threading.Thread(target=pipe, args=(plain, sealed, rename), daemon=True).start()
        threading.Thread(target=pipe, args=(sealed, plain), daemon=True).start()


main()
