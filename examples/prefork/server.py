# A non-Node server on drover's socket: systemd's convention (LISTEN_FDS, fd 3), no drover code involved.
import http.server, os, socket

assert os.environ.get("LISTEN_PID") == str(os.getpid()), "the sockets are not meant for this process"
sock = socket.socket(fileno=3)  # already bound and listening; the master never accepts on it

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"python {os.getpid()}\n".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = http.server.HTTPServer(sock.getsockname(), Handler, bind_and_activate=False)
server.socket = sock
server.serve_forever()
