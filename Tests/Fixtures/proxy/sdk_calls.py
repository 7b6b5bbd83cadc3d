#!/usr/bin/env python3
"""Calls `rrlog proxy` through the official openai and anthropic SDKs, unchanged but for their
base URL, and prints what each call received as one JSON document: the parsed result, every byte
of the answer and when each server-sent event arrived. RRLogProxyTests.SDKTests runs it once
while recording and once while replaying, and compares the two.

    sdk_calls.py --base http://127.0.0.1:PORT --key API_KEY [--changed]

--changed makes one call whose prompt was never recorded and prints the proxy's answer to it.
"""
import argparse
import base64
import json
import queue
import sys
import threading
import time

import anthropic
import httpx2
import openai


class Capture(httpx2.HTTPTransport):
    """An HTTP transport that notes every chunk of every answer and when it arrived. A thread
    reads each answer as it comes, so the times are the network's, not those at which the SDK got
    round to asking for the next bytes (its first use of a response type can take 100 ms)."""

    def __init__(self):
        super().__init__()
        self.exchanges = []

    def handle_request(self, request):
        started = time.monotonic()
        response = super().handle_request(request)
        note = {"path": request.url.path, "status": response.status_code, "chunks": []}
        self.exchanges.append(note)
        inner = response.stream
        arrived = queue.Queue()

        def pump():
            try:
                for chunk in inner:
                    note["chunks"].append((time.monotonic() - started, bytes(chunk)))
                    arrived.put(chunk)
                arrived.put(None)
            except Exception as error:  # handed to the reader below
                arrived.put(error)

        threading.Thread(target=pump, daemon=True).start()

        class Noted(httpx2.SyncByteStream):
            def __iter__(self):
                while True:
                    item = arrived.get()
                    if item is None:
                        return
                    if isinstance(item, Exception):
                        raise item
                    yield item

            def close(self):
                inner.close()

        return httpx2.Response(
            response.status_code, headers=response.headers, stream=Noted(), extensions=response.extensions, request=request)


def event_offsets(chunks):
    """The second at which each complete server-sent event (ended by a blank line) arrived."""
    offsets, pending = [], b""
    for at, chunk in chunks:
        pending += chunk
        while b"\n\n" in pending:
            _, pending = pending.split(b"\n\n", 1)
            offsets.append(at)
    return offsets


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--changed", action="store_true")
    args = parser.parse_args()
    capture = Capture()
    http = httpx2.Client(transport=capture, timeout=30)
    oai = openai.OpenAI(base_url=args.base + "/v1", api_key=args.key, max_retries=0, http_client=http)
    claude = anthropic.Anthropic(base_url=args.base, api_key=args.key, max_retries=0, http_client=http)
    user = [{"role": "user", "content": "hello from python"}]

    if args.changed:
        try:
            oai.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "a prompt never recorded"}])
            print(json.dumps({"status": 200}))
        except openai.APIStatusError as error:
            print(json.dumps({"status": error.status_code, "body": error.response.json()}))
        return

    def chat():
        return oai.chat.completions.create(model="gpt-test", messages=user).choices[0].message.content

    def chat_stream():
        stream = oai.chat.completions.create(model="gpt-test", messages=user, stream=True)
        return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    def responses():
        return oai.responses.create(model="gpt-test", input="what is rrlog").output_text

    def responses_stream():
        stream = oai.responses.create(model="gpt-test", input="what is rrlog", stream=True)
        return "".join(event.delta for event in stream if event.type == "response.output_text.delta")

    def messages():
        return claude.messages.create(model="claude-test", max_tokens=64, messages=user).content[0].text

    def messages_stream():
        stream = claude.messages.create(model="claude-test", max_tokens=64, messages=user, stream=True)
        return "".join(event.delta.text for event in stream if event.type == "content_block_delta")

    def messages_helper():
        with claude.messages.stream(model="claude-test", max_tokens=64, messages=user) as stream:
            return "".join(stream.text_stream)

    calls = [
        ("chat", chat), ("chat_stream", chat_stream), ("responses", responses), ("responses_stream", responses_stream),
        ("messages", messages), ("messages_stream", messages_stream), ("messages_helper", messages_helper), ("chat_again", chat),
    ]
    results = []
    for name, call in calls:
        before = len(capture.exchanges)
        result = call()
        notes = capture.exchanges[before:]
        assert len(notes) == 1, f"{name}: {len(notes)} HTTP exchanges"
        note = notes[0]
        body = b"".join(chunk for _, chunk in note["chunks"])
        results.append({
            "name": name, "result": result, "status": note["status"], "path": note["path"],
            "body_base64": base64.b64encode(body).decode(), "events": event_offsets(note["chunks"]),
        })
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
