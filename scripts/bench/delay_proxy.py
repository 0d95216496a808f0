#!/usr/bin/env python3
"""A TCP proxy on loopback that delays every chunk by DELAY_MS in each direction (from its arrival,
so chunks in flight overlap as on a real link): latency for
benchmarks where the kernel has no netem.   delay_proxy.py LISTEN_PORT TARGET_PORT DELAY_MS
Prints "ready". Stops when stdin closes (or after 1 hour). Loopback only."""
import asyncio
import sys


async def pipe(reader, writer, delay):
    """Each chunk leaves DELAY after it arrived, however many chunks are in flight: a link with
    propagation delay, not a queue that makes a response split in two pay the delay twice."""
    loop = asyncio.get_running_loop()
    chunks = asyncio.Queue()

    async def read():
        try:
            while data := await reader.read(65536):
                chunks.put_nowait((loop.time() + delay, data))
        except ConnectionError:
            pass
        finally:
            chunks.put_nowait((loop.time() + delay, b""))

    reading = asyncio.ensure_future(read())
    try:
        while True:
            due, data = await chunks.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        reading.cancel()
        writer.close()


async def main():
    listen, target, delay = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1000

    async def handle(r, w):
        try:
            tr, tw = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            w.close()
            return
        await asyncio.gather(pipe(r, tw, delay), pipe(tr, w, delay))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    await asyncio.wait([stdin_closed, asyncio.ensure_future(asyncio.sleep(3600))], return_when=asyncio.FIRST_COMPLETED)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
