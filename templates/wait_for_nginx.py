import http.client, sys, time
port, host, want, tries = sys.argv[1:5]
last = "no answer"
for _ in range(int(tries)):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=5)
        conn.request("GET", "/", headers={"Host": host})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        if (resp.status == 503) == (want == "1"):
            sys.exit(0)
        last = "HTTP %d" % resp.status
    except OSError as err:
        last = str(err)
    time.sleep(0.1)
print("nginx on port %s answered %s" % (port, last), file=sys.stderr)
sys.exit(1)
