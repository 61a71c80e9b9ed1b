"""Arguments shared by the client scripts: where the simulator is (argv) and the credentials
to use (environment: SIM_APP_SECRET, SIM_TOKEN, SIM_EXPIRED_TOKEN, kept out of argv)."""

import argparse
import hashlib
import hmac
import os
import sys


def parse(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--base-url", required=True, help="simulator base URL, e.g. http://127.0.0.1:PORT")
    parser.add_argument("--phone-id", required=True, help="phone-number id to send from")
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--api-version", default="25.0")
    args = parser.parse_args()
    for name, variable in (
        ("app_secret", "SIM_APP_SECRET"),
        ("token", "SIM_TOKEN"),  # a valid system-user token
        ("expired_token", "SIM_EXPIRED_TOKEN"),  # a token past its expiry
    ):
        value = os.environ.get(variable)
        if not value:
            parser.error(f"environment variable {variable} is required")
        setattr(args, name, value)
    return args


def appsecret_proof(app_secret, token):
    """Meta's appsecret_proof: hex HMAC-SHA256 of the token keyed by the app secret."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def run(main, name):
    """Runs `main`; any failure becomes one line on stderr and exit 1, for the Rust test."""
    try:
        main()
    except Exception as error:
        print(f"{name} failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
