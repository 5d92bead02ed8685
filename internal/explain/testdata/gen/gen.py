import sys, socket, traceback, ssl, urllib.parse
mode, url = sys.argv[1], sys.argv[2]
u = urllib.parse.urlsplit(url)
port = u.port or (443 if u.scheme in ('https', 'wss') else 80)
try:
    if mode == 'socket':
        socket.create_connection((u.hostname, port), timeout=3)
    elif mode == 'socketsrc':
        socket.create_connection((u.hostname, port), timeout=3, source_address=('192.0.2.1', 0))
    elif mode == 'requests':
        import requests
        requests.get(url, timeout=3, verify=sys.argv[3] if len(sys.argv) > 3 else True)
    elif mode == 'urllib':
        import urllib.request
        urllib.request.urlopen(url, timeout=3)
    elif mode == 'asyncio':
        import asyncio
        asyncio.run(asyncio.wait_for(asyncio.open_connection(u.hostname, port), 3))
    elif mode == 'ssl':
        ctx = ssl.create_default_context()
        s = socket.create_connection((u.hostname, port), timeout=3)
        ctx.wrap_socket(s, server_hostname=u.hostname)
    elif mode == 'websockets':
        import asyncio, websockets
        async def m():
            async with websockets.connect(url, open_timeout=3):
                pass
        asyncio.run(m())
    print('OK')
except BaseException:
    traceback.print_exc()
