"""Sends one golden exchange's recorded request (a `.req` file: request line, headers, blank
line, body) to a running gateway with Python `requests`, and prints the answer's status.

    python3 replay.py http://127.0.0.1:8082 examples/dialects/viafix/001_form_login.req
"""
import sys

import requests


def main(base, path):
    raw = open(path, "rb").read()
    for separator in (b"\r\n\r\n", b"\n\n"):
        if separator in raw:
            head, body = raw.split(separator, 1)
            break
    else:
        head, body = raw, b""
    # One trailing newline of the file is not part of the body (fixtures/README.md).
    if body.endswith(b"\n"):
        body = body[:-1]
    lines = head.decode("utf-8").splitlines()
    method, target = lines[0].split(" ")[:2]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() not in ("host", "content-length"):
            headers[name.strip()] = value.strip()
    answer = requests.request(method, base + target, headers=headers, data=body, timeout=10)
    print(answer.status_code)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
