"""A vendored subset of dj-database-url (https://github.com/jazzband/dj-database-url).

Only what catalog/settings.py uses: config() and parse() for sqlite,
postgres and mysql URLs. Vendored because the machines this example is
tested on cannot reach PyPI; a real project lists dj-database-url in
requirements.txt instead.
"""
import os
import urllib.parse

DEFAULT_ENV = 'DATABASE_URL'

SCHEMES = {
    'postgres': 'django.db.backends.postgresql',
    'postgresql': 'django.db.backends.postgresql',
    'pgsql': 'django.db.backends.postgresql',
    'mysql': 'django.db.backends.mysql',
    'sqlite': 'django.db.backends.sqlite3',
}


def config(env=DEFAULT_ENV, default=None, engine=None, conn_max_age=0, ssl_require=False):
    """Returns configured DATABASE dictionary from DATABASE_URL."""
    s = os.environ.get(env, default)
    if s:
        return parse(s, engine, conn_max_age, ssl_require)
    return {}


def parse(url, engine=None, conn_max_age=0, ssl_require=False):
    """Parses a database URL."""
    if url == 'sqlite://:memory:':
        return {'ENGINE': SCHEMES['sqlite'], 'NAME': ':memory:'}
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.split('+')[0]
    if scheme not in SCHEMES:
        raise ValueError('No support for %r. We support: %s' % (parsed.scheme, ', '.join(sorted(SCHEMES))))
    path = parsed.path[1:]
    if scheme == 'sqlite':
        # sqlite:////abs/path -> /abs/path; sqlite:///rel -> rel
        name = urllib.parse.unquote(path) or ':memory:'
        return {
            'ENGINE': engine or SCHEMES['sqlite'],
            'NAME': name,
            'CONN_MAX_AGE': conn_max_age,
        }
    config = {
        'ENGINE': engine or SCHEMES[scheme],
        'NAME': urllib.parse.unquote(path.split('?', 1)[0]),
        'USER': urllib.parse.unquote(parsed.username or ''),
        'PASSWORD': urllib.parse.unquote(parsed.password or ''),
        'HOST': parsed.hostname or '',
        'PORT': parsed.port or '',
        'CONN_MAX_AGE': conn_max_age,
    }
    options = dict(urllib.parse.parse_qsl(parsed.query))
    if ssl_require:
        options['sslmode'] = 'require'
    if options:
        config['OPTIONS'] = options
    return config
