#!/usr/bin/env python3
"""Stylize an image through the Restyle HTTP API with Python's standard library only.

    python3 examples/python_client.py IMAGE [STYLE] [OUT]
    python3 examples/python_client.py --list
    python3 examples/python_client.py --cancel JOB_ID

Queues a job (multipart POST /v1/jobs), follows its server-sent events, saves
every preview as OUT-<iteration>.png and the result as OUT (default
restyled.png). --list prints the jobs the server holds, newest first (GET
/v1/jobs); --cancel stops a job, or forgets a finished one (DELETE
/v1/jobs/JOB_ID). Environment: RESTYLE_URL (default http://127.0.0.1:8787),
RESTYLE_TOKEN (bearer token, if the server needs one), RESTYLE_OPTIONS (JSON).
"""
import json
import mimetypes
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

URL = os.environ.get("RESTYLE_URL", "http://127.0.0.1:8787").rstrip("/")
TOKEN = os.environ.get("RESTYLE_TOKEN")
OPTIONS = os.environ.get("RESTYLE_OPTIONS", '{"iterations": 20, "previewEvery": 5, "maxSize": 256}')


def request(path, data=None, headers=None, method=None):
    headers = dict(headers or {})
    if TOKEN:
        headers["Authorization"] = f"Bearer {TOKEN}"
    return urllib.request.urlopen(urllib.request.Request(URL + path, data, headers, method=method))


def multipart(fields, files):
    """Encodes text fields and (name, filename, bytes) files as multipart/form-data."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     f"{value}\r\n".encode())
    for name, filename, content in files:
        kind = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: {kind}\r\n\r\n'.encode() + content
                     + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def events(path):
    """Yields (event, data) pairs from a server-sent event stream until the server ends it."""
    with request(path, headers={"Accept": "text/event-stream"}) as stream:
        event, data = None, []
        for raw in stream:
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if event:
                    yield event, json.loads("\n".join(data))
                event, data = None, []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())


def refused(error):
    """Exits with the problem the server answered (application/problem+json)."""
    problem = json.load(error)
    sys.exit(f"refused ({problem['status']}): {problem['detail']}")


def list_jobs():
    """Prints one line per job: id, status, progress, when it was queued."""
    with request("/v1/jobs") as response:
        jobs = json.load(response)["jobs"]
    if not jobs:
        print("no jobs")
    for job in jobs:
        print(f"{job['id']}  {job['status']:<9}  {job['progress']:4.0%}  "
              f"{job['iteration']}/{job['iterations']}  queued {job['createdAt']}")


def cancel_job(job_id):
    """Cancels a waiting or running job (returns once it has stopped); forgets a finished one."""
    try:
        with request(f"/v1/jobs/{urllib.parse.quote(job_id)}", method="DELETE") as response:
            job = json.load(response)
    except urllib.error.HTTPError as error:
        refused(error)
    print(f"job {job['id']}: {job['status']} at iteration {job['iteration']}/{job['iterations']}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--list":
        return list_jobs()
    if sys.argv[1] == "--cancel":
        if len(sys.argv) != 3:
            sys.exit("usage: python3 examples/python_client.py --cancel JOB_ID")
        return cancel_job(sys.argv[2])
    image, style = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "starry-night"
    out = sys.argv[3] if len(sys.argv) > 3 else "restyled.png"
    with open(image, "rb") as f:
        body, content_type = multipart([("style", style), ("options", OPTIONS)],
                                       [("content", os.path.basename(image), f.read())])
    try:
        with request("/v1/jobs", body, {"Content-Type": content_type}) as response:
            job = json.load(response)
    except urllib.error.HTTPError as error:
        refused(error)
    print(f"job {job['id']} queued")
    stem = out[:-4] if out.endswith(".png") else out
    for event, data in events(job["links"]["events"]):
        if event in ("progress", "iteration"):
            print(f"iteration {data['iteration']}/{data['iterations']} "
                  f"loss {data['losses']['total']:.4g}")
        if event == "iteration":
            with request(data["url"]) as png, open(f"{stem}-{data['iteration']}.png", "wb") as f:
                f.write(png.read())
        elif event == "done":
            with request(data["url"]) as png, open(out, "wb") as f:
                f.write(png.read())
            print(f"done in {data['elapsedMs'] / 1000:.1f} s: saved {out}")
        elif event in ("error", "cancelled"):
            sys.exit(f"job {event}: {data.get('detail', '')}")


if __name__ == "__main__":
    main()
