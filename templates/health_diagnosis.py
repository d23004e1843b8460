import logging, re, sys, traceback


def diagnose(path, host):
    """Requests path with Host: host, through Django's test client, prints what the app says."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger("django").addHandler(handler)
    from django.conf import settings
    from django.http.request import split_domain_port, validate_host
    from django.test import Client
    settings.DEBUG_PROPAGATE_EXCEPTIONS = True
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, allowed):
        print("ALLOWED_HOSTS = %r does not accept the Host %r: add %r" % (allowed, host, domain or host))
    try:
        response = Client(raise_request_exception=True).get(path, HTTP_HOST=host, secure=True)
        print("HTTP %d" % response.status_code)
        body = response.content[:2000].decode("utf-8", "replace")
        body = " ".join(re.sub(r"<[^>]*>", " ", re.sub(r"(?is)<(head|style|script)\b.*?</\1>", " ", body)).split())[:200]
        if body:
            print(body)
    except Exception as exc:
        # The app's frames, not Django's middleware stack nor this script.
        import django
        import os
        frames = traceback.extract_tb(exc.__traceback__)
        django_dir = os.path.dirname(django.__file__) + os.sep
        own = [f for f in frames if not f.filename.startswith(django_dir) and f.filename != "<string>"]
        print("Traceback (most recent call last; Django's own frames left out):")
        print("".join(traceback.format_list(own or frames[-5:])), end="")
        print("".join(traceback.format_exception_only(type(exc), exc)), end="")
