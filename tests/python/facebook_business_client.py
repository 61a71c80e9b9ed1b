"""Meta's facebook-business SDK against the simulator: only FacebookSession.GRAPH (the host) changes.

The SDK sends access_token and appsecret_proof in the query and every POST body as a form with
nested values (template, text, typing_indicator) JSON-encoded.
"""

import json

from facebook_business.api import FacebookAdsApi, FacebookSession
from facebook_business.exceptions import FacebookRequestError

import sim_args


def api(args, token):
    session = FacebookSession(app_id=args.app_id, app_secret=args.app_secret, access_token=token)
    session.GRAPH = args.base_url
    return FacebookAdsApi(session, api_version=f"v{args.api_version}")


def post_message(graph, phone_id, params):
    return graph.call("POST", (phone_id, "messages"), params=params).json()


def main():
    args = sim_args.parse(__doc__)
    graph = api(args, args.token)
    report = {}

    template = post_message(graph, args.phone_id, {
        "messaging_product": "whatsapp",
        "to": "15551234567",
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
    })
    template_id = template["messages"][0]["id"]
    sim_args.check(template_id.startswith("wamid."), f"template answer {template!r}")
    report["template_id"] = template_id

    text = post_message(graph, args.phone_id, {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "15551234567",
        "type": "text",
        "text": {"body": "tokentop test"},
    })
    text_id = text["messages"][0]["id"]
    sim_args.check(text_id.startswith("wamid."), f"text answer {text!r}")
    report["text_id"] = text_id

    for extra in ({}, {"typing_indicator": {"type": "text"}}):
        read = post_message(graph, args.phone_id, {
            "messaging_product": "whatsapp", "status": "read", "message_id": text_id, **extra,
        })
        sim_args.check(read == {"success": True}, f"mark as read answer {read!r}")
    report["marked_read"] = True

    fields = "verified_name,display_phone_number,quality_rating,status,throughput,health_status," \
        "whatsapp_business_manager_messaging_limit,platform_type,code_verification_status"
    phone = graph.call("GET", (args.phone_id,), params={"fields": fields}).json()
    sim_args.check(phone["id"] == args.phone_id, f"phone {phone!r}")
    for field in fields.split(","):
        sim_args.check(field in phone, f"{field} missing from {phone!r}")
    default = graph.call("GET", (args.phone_id,)).json()
    sim_args.check("platform_type" in default and "webhook_configuration" in default,
                   f"default fields {sorted(default)!r}")
    report["phone"] = {name: phone[name] for name in ("quality_rating", "status", "platform_type")}

    try:
        post_message(api(args, args.expired_token), args.phone_id, {
            "messaging_product": "whatsapp", "to": "15551234567",
            "type": "text", "text": {"body": "never sent"},
        })
    except FacebookRequestError as error:
        sim_args.check(error.api_error_code() == 190, f"error code {error.api_error_code()!r}")
        report["expired_error"] = {
            "class": type(error).__name__,
            "code": error.api_error_code(),
            "message": error.api_error_message(),
        }
    else:
        raise AssertionError("an expired token was accepted")

    print(json.dumps(report))


if __name__ == "__main__":
    sim_args.run(main, "facebook_business_client")
