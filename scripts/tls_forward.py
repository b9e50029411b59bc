"""A TLS forwarder for scripts/autobahn --tls: kosoku has no TLS (its build says "TLS support not
compiled in"), so it connects in plain to this forwarder, which opens a TLS connection (Python's
ssl, trusting CAFILE for the name localhost) to the server for each one and copies bytes both
ways. The WebSocket conversation is kosoku's; the TLS under it is Python's against ours.

One event loop (asyncio) drives every connection: an OpenSSL connection must not be read and
written from two threads at once (the very problem chapter 15 solves on the Rust side).

    python3 scripts/tls_forward.py LISTEN_ADDR_FILE SERVER_HOST:PORT CAFILE
"""
import asyncio
import ssl
import sys


async def copy(src, dst, rename=None):
    try:
        while data := await src.read(65536):
            if rename:  # the upgrade request names the forwarder; the server checks its own name
                data, rename = data.replace(rename[0], rename[1], 1), None
            dst.write(data)
            await dst.drain()
    except (ConnectionError, ssl.SSLError) as e:
        print(f"forwarder: {e!r}", file=sys.stderr)
    finally:
        try:
            if dst.can_write_eof():
                dst.write_eof()
            else:
                dst.close()
        except (ConnectionError, ssl.SSLError, RuntimeError):
            pass


async def main():
    addr_file, target, cafile = sys.argv[1:4]
    host, port = target.rsplit(":", 1)
    context = ssl.create_default_context(cafile=cafile)
    rename = None

    async def forward(plain_in, plain_out):
        try:
            sealed_in, sealed_out = await asyncio.open_connection(
                host, int(port), ssl=context, server_hostname="localhost"
            )
        except (OSError, ssl.SSLError) as e:
            print(f"forwarder: cannot reach {target}: {e!r}", file=sys.stderr)
            plain_out.close()
            return
        await asyncio.gather(copy(plain_in, sealed_out, rename), copy(sealed_in, plain_out))
        plain_out.close()
        sealed_out.close()

    server = await asyncio.start_server(forward, "127.0.0.1", 0)
    listening = server.sockets[0].getsockname()
    rename = (f"127.0.0.1:{listening[1]}".encode(), f"localhost:{port}".encode())
    with open(addr_file, "w") as f:
        f.write(f"127.0.0.1:{listening[1]}\n")
    async with server:
        await server.serve_forever()


asyncio.run(main())
