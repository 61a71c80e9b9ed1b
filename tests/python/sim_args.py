"""Command-line arguments shared by the client scripts: where the simulator is and which tokens to use."""

import argparse
import hashlib
import hmac


def parse(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--base-url", required=True, help="simulator base URL, e.g. http://127.0.0.1:PORT")
    parser.add_argument("--phone-id", required=True, help="phone-number id to send from")
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--app-secret", required=True)
    parser.add_argument("--token", required=True, help="a valid system-user token")
    parser.add_argument("--expired-token", required=True, help="a token past its expiry")
    parser.add_argument("--api-version", default="25.0")
    return parser.parse_args()


def appsecret_proof(app_secret, token):
    """Meta's appsecret_proof: hex HMAC-SHA256 of the token keyed by the app secret."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def check(condition, what):
    if not condition:
        raise AssertionError(what)
