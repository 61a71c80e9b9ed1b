"""An application that takes its WhatsApp webhooks with pywa, behind tokentop's relay.

It listens on 127.0.0.1 (a free port, printed as `PORT <n>`), checks every POST's
X-Hub-Signature-256 with pywa's own validator and the app secret from the environment
(TOKENTOP_TEST_APP_SECRET, never argv), hands valid bodies to pywa's update handler, and
prints one JSON line per event: {"status": ..., "id": ...} for each message status,
{"account_update": EVENT} for an account update, {"rejected": CODE} for a refused POST.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pywa import WhatsApp, utils

APP_SECRET = os.environ["TOKENTOP_TEST_APP_SECRET"]

wa = WhatsApp(
    phone_id="106540352242922",
    token="unused-by-the-webhook-side",
    server=None,
    verify_token="unused",
    app_secret=APP_SECRET,
    validate_updates=True,
    # Statuses of every number the relay forwards, not only this phone_id.
    filter_updates=False,
    # Meta retries arrive again: this app wants to see each one the relay hands over.
    skip_duplicate_updates=False,
)


def say(event):
    print(json.dumps(event), flush=True)


@wa.on_raw_update()
def on_raw(_client, update: dict):
    # Raw: pywa 4.5's typed MessageStatus wants a `contacts` list that Meta's captured status
    # batches do not carry; what matters here is that pywa accepted the signature.
    for entry in update.get("entry", []):
        for change in entry.get("changes", []):
            value = change.get("value", {})
            for status in value.get("statuses", []):
                say({"status": status.get("status"), "id": status.get("id")})
            if "account_update" in (change.get("field"), value.get("field")):
                say({"account_update": value.get("event")})


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        refused = wa.webhook_update_validator(body, self.headers.get(utils.HUB_SIG))
        if refused:
            message, code = refused
            say({"rejected": code})
        else:
            message, code = wa.webhook_update_handler(body)
        self.send_response(code)
        self.end_headers()
        self.wfile.write(str(message).encode())

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
print(f"PORT {server.server_address[1]}", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    sys.exit(0)
