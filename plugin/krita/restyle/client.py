"""The few calls of Restyle's HTTP API (v1) the Krita plug-in makes.

Standard library only (urllib), so it runs on a worker thread and in any
Python Krita bundles. Every failure becomes a `RestyleError` whose text is
meant for the user as it is.
"""

import json
import os
import urllib.error
import urllib.request
import uuid

DEFAULT_URL = "http://127.0.0.1:8787"


class RestyleError(Exception):
    """A failure to show the user as it is: never a traceback."""


def server_url(configured=""):
    """The server URL: the docker's setting, else $RESTYLE_URL, else the default."""
    url = (configured or "").strip() or os.environ.get("RESTYLE_URL", "").strip()
    return (url or DEFAULT_URL).rstrip("/")


def server_token(configured=""):
    """The bearer token: the docker's setting, else $RESTYLE_TOKEN, else none."""
    return (configured or "").strip() or os.environ.get("RESTYLE_TOKEN", "").strip()


def unreachable_message(base, reason):
    return (
        "Cannot reach the Restyle server at %s (%s).\n"
        "Start it in the Restyle folder with:  deno task serve\n"
        "or set the server URL in the Restyle docker (or the RESTYLE_URL environment "
        "variable) to where it runs." % (base, reason)
    )


def http_error_message(code, reason, body):
    """An HTTP error as one sentence, from the server's problem+json when there is one."""
    try:
        problem = json.loads(body.decode("utf-8"))
        text = problem.get("title") or reason
        if problem.get("detail"):
            text = "%s: %s" % (text, problem["detail"])
    except (ValueError, AttributeError, UnicodeDecodeError):
        text = reason
    if code == 401:
        text += " (set the token in the Restyle docker's Server section, or RESTYLE_TOKEN)"
    return "The Restyle server answered %d: %s" % (code, text)


def problem_text(problem):
    """The text of a job's error: a problem object, a string, or nothing useful."""
    if isinstance(problem, dict):
        return problem.get("detail") or problem.get("title") or json.dumps(problem)
    return str(problem or "unknown error")


def form_data(fields, files):
    """A multipart/form-data body from [(name, text)] and [(name, filename, bytes)]."""
    boundary = "restyle-krita-" + uuid.uuid4().hex
    chunks = []
    for name, value in fields:
        chunks += [
            b"--" + boundary.encode() + b"\r\n",
            ('Content-Disposition: form-data; name="%s"\r\n\r\n' % name).encode(),
            value.encode("utf-8"),
            b"\r\n",
        ]
    for name, filename, data in files:
        chunks += [
            b"--" + boundary.encode() + b"\r\n",
            ('Content-Disposition: form-data; name="%s"; filename="%s"\r\n' % (name, filename))
            .encode("utf-8"),
            b"Content-Type: application/octet-stream\r\n\r\n",
            data,
            b"\r\n",
        ]
    chunks.append(b"--" + boundary.encode() + b"--\r\n")
    return b"".join(chunks), "multipart/form-data; boundary=" + boundary


def read_events(lines):
    """(event, data) pairs of a text/event-stream, from an iterable of byte lines."""
    name, data = "message", []
    for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line == "":
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue  # a comment (the server's keep-alive)
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if data:
        yield name, "\n".join(data)


class Client:
    """Restyle's HTTP API at `base`, with an optional bearer token."""

    def __init__(self, base, token=""):
        self.base = base.rstrip("/")
        self.token = token
        # No proxies: a proxy setting must never route the local server elsewhere.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _url(self, path):
        return path if "://" in path else self.base + "/" + path.lstrip("/")

    def request(self, path, data=None, headers=None, method=None, timeout=30):
        """An open response; raises RestyleError with a message for the user."""
        req = urllib.request.Request(self._url(path), data=data, method=method)
        for key, value in (headers or {}).items():
            req.add_header(key, value)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            return self._opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise RestyleError(http_error_message(error.code, error.reason, error.read())) from None
        except (urllib.error.URLError, OSError) as error:
            raise RestyleError(
                unreachable_message(self.base, getattr(error, "reason", error))) from None

    def get_json(self, path, timeout=30):
        with self.request(path, headers={"Accept": "application/json"}, timeout=timeout) as r:
            return json.loads(r.read().decode("utf-8"))

    def styles(self, timeout=5):
        """The server's styles: [{id, title, artist, year, ...}]."""
        return self.get_json("/v1/styles", timeout=timeout).get("styles", [])

    def submit(self, fields, files):
        """POST /v1/jobs; the created job ({id, links, ...})."""
        body, content_type = form_data(fields, files)
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        with self.request("/v1/jobs", data=body, headers=headers, method="POST",
                          timeout=120) as response:
            job = json.loads(response.read().decode("utf-8"))
        if not job.get("id"):
            raise RestyleError("The Restyle server did not return a job id: %r" % (job,))
        return job

    def events(self, job):
        """The job's event stream as (event, data) pairs, until the server ends it."""
        path = (job.get("links") or {}).get("events") or "/v1/jobs/%s/events" % job["id"]
        response = self.request(path, headers={"Accept": "text/event-stream"}, timeout=600)
        with response:
            for pair in read_events(response):
                yield pair

    def job(self, job_id):
        return self.get_json("/v1/jobs/" + job_id)

    def image(self, url):
        """The PNG bytes of a preview."""
        with self.request(url, headers={"Accept": "image/png"}, timeout=120) as response:
            return response.read()

    def cancel(self, job_id):
        """Asks the server to stop a job; a failure to ask is not an error."""
        try:
            self.request("/v1/jobs/" + job_id, method="DELETE", timeout=10).close()
        except RestyleError:
            pass
