"""pywa against the simulator: only the Graph host changes (an httpx transport rewrites it).

The proof goes in the httpx client's default query parameters, the way a pywa user whose app
has "Require App Secret" on sends it; pywa itself has no appsecret_proof option.
"""

import json

import httpx
from pywa import WhatsApp
from pywa.errors import ExpiredAccessToken
from pywa.types.templates import TemplateLanguage

import sim_args


class ToSimulator(httpx.HTTPTransport):
    """Sends every request to the simulator instead of graph.facebook.com: scheme, host and port only."""

    def __init__(self, base_url):
        super().__init__()
        self._base = httpx.URL(base_url)

    def handle_request(self, request):
        request.url = request.url.copy_with(
            scheme=self._base.scheme, host=self._base.host, port=self._base.port
        )
        return super().handle_request(request)


def client(args, token):
    session = httpx.Client(
        transport=ToSimulator(args.base_url),
        params={"appsecret_proof": sim_args.appsecret_proof(args.app_secret, token)},
        timeout=10,
    )
    return WhatsApp(
        phone_id=args.phone_id, token=token, session=session, api_version=args.api_version
    )


def main():
    args = sim_args.parse(__doc__)
    wa = client(args, args.token)
    report = {}

    template = wa.send_template(
        to="15551234567", name="hello_world", language=TemplateLanguage.ENGLISH_US
    )
    sim_args.check(template.id.startswith("wamid."), f"template id {template.id!r}")
    report["template_id"] = template.id

    text = wa.send_message(to="15551234567", text="tokentop test")
    sim_args.check(text.id.startswith("wamid."), f"text id {text.id!r}")
    report["text_id"] = text.id

    sim_args.check(bool(wa.mark_message_as_read(message_id=text.id)), "mark as read")
    sim_args.check(bool(wa.indicate_typing(message_id=text.id)), "typing indicator")
    report["marked_read"] = True

    phone = wa.get_business_phone_number()
    sim_args.check(phone.id == args.phone_id, f"phone id {phone.id!r}")
    sim_args.check(phone.platform_type == "CLOUD_API", f"platform_type {phone.platform_type!r}")
    sim_args.check(phone.quality_rating in ("GREEN", "YELLOW", "RED", "NA"), "quality_rating")
    sim_args.check(phone.throughput == {"level": "STANDARD"}, f"throughput {phone.throughput!r}")
    report["phone"] = {
        "display_phone_number": phone.display_phone_number,
        "code_verification_status": phone.code_verification_status,
        "account_mode": phone.account_mode,
        "messaging_limit": phone.whatsapp_business_manager_messaging_limit,
    }

    expired = client(args, args.expired_token)
    try:
        expired.send_message(to="15551234567", text="never sent")
    except ExpiredAccessToken as error:
        sim_args.check(error.code == 190, f"error code {error.code!r}")
        report["expired_error"] = {"class": type(error).__name__, "code": error.code}
    else:
        raise AssertionError("an expired token was accepted")

    print(json.dumps(report))


if __name__ == "__main__":
    sim_args.run(main, "pywa_client")
