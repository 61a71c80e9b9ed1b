"""pywa through tokentop's Graph API proxy, holding no token of its own.

pywa insists on a token and sends it as `Authorization: Bearer`; it gets a dummy one, which
the proxy strips before adding the account's. Its httpx client connects to the proxy instead of
graph.facebook.com (pywa sets the base URL itself, so a transport rewrites scheme, host and
port); nothing else changes. Prints {"text_id": wamid, "media_id": id} as JSON.
"""

import argparse
import json

import httpx
from pywa import WhatsApp

import sim_args

# Not a token: pywa requires a non-empty one; the proxy drops the Authorization header.
DUMMY_TOKEN = "no-token-the-proxy-adds-it"


class ToProxy(httpx.HTTPTransport):
    """Sends every request to the proxy instead of graph.facebook.com: scheme, host and port only."""

    def __init__(self, proxy_url):
        super().__init__()
        self._base = httpx.URL(proxy_url)

    def handle_request(self, request):
        request.url = request.url.copy_with(
            scheme=self._base.scheme, host=self._base.host, port=self._base.port
        )
        return super().handle_request(request)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--proxy-url", required=True, help="the proxy, e.g. http://127.0.0.1:PORT")
    parser.add_argument("--phone-id", required=True)
    parser.add_argument("--text", required=True, help="the text message to send")
    parser.add_argument("--api-version", default="25.0")
    args = parser.parse_args()

    session = httpx.Client(transport=ToProxy(args.proxy_url), timeout=10)
    wa = WhatsApp(
        phone_id=args.phone_id, token=DUMMY_TOKEN, session=session, api_version=args.api_version
    )
    sent = wa.send_message(to="15551234567", text=args.text)
    sim_args.check(sent.id.startswith("wamid."), f"text id {sent.id!r}")
    media = wa.upload_media(media=bytes(range(256)) * 8, mime_type="image/png", filename="logo.png")
    sim_args.check(media.id.isdigit(), f"media id {media.id!r}")
    print(json.dumps({"text_id": sent.id, "media_id": media.id}))


if __name__ == "__main__":
    sim_args.run(main, "pywa_proxy")
