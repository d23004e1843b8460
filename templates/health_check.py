import re, socket, sys, time
sock_path, path, host, expected, retries, interval = sys.argv[1:7]
low, _, high = expected.partition("-")
low, high, retries, interval = int(low), int(high or low), int(retries), float(interval)
request = ("GET %s HTTP/1.0\r\nHost: %s\r\nX-Forwarded-Proto: https\r\n\r\n" % (path, host)).encode("latin-1")
deadline = time.monotonic() + max(retries * interval, 1.0)
last, status, attempt = "no answer", None, 0
while True:
    attempt += 1
    status = None
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(max(1.0, min(10.0, deadline - time.monotonic())))
        try:
            s.connect(sock_path)
            s.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < 2000:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        head, _, body = data.partition(b"\r\n\r\n")
        words = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(words) < 2 or not words[0].startswith("HTTP/") or not words[1].isdigit():
            raise OSError("not an HTTP answer: %r" % data[:80])
        status = int(words[1])
        if low <= status <= high:
            print("HTTP %d after %d tries" % (status, attempt))
            sys.exit(0)
        text = body[:2000].decode("utf-8", "replace")
        text = " ".join(re.sub(r"<[^>]*>", " ", re.sub(r"(?is)<(head|style|script)\b.*?</\1>", " ", text)).split())[:200]
        last = "HTTP %d" % status + (" (%s)" % text if text else "")
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            if 300 <= status < 400 and name.strip().lower() == "location":
                last = "HTTP %d to %s" % (status, value.strip())
    except OSError as err:
        last = "no HTTP answer (%s)" % (err or type(err).__name__)
    if status is not None and status not in (502, 503, 504):
        break
    if attempt >= retries or time.monotonic() >= deadline:
        break
    time.sleep(interval)
want = "HTTP %d" % low if low == high else "HTTP %d-%d" % (low, high)
print("GET %s with Host: %s answered %s after %d tr%s, expected %s" % (path, host, last, attempt, "y" if attempt == 1 else "ies", want), file=sys.stderr)
sys.exit(1 if status is not None else 2)
