//! `POST /{v}/{phone-number-id}/media`: Upload Media.
//!
//! REFERENCE.md has no section on media; the shape comes from Meta's Cloud API "Upload Media"
//! documentation: a multipart body with `messaging_product=whatsapp`, `type` (the file's MIME
//! type) and a `file` part, answered with `{"id":"<MEDIA_ID>"}` (a decimal id). The token is
//! authenticated as for `/messages` (with `appsecret_proof` when the app requires it).

use axum::http::StatusCode;
use rand::Rng;
use serde_json::{Value, json};

use super::encodings::RequestBody;
use super::envelope::{GraphError, GraphResponse};
use super::node_auth::authorize;
use super::request::GraphRequest;
use super::state::{SimHandle, UploadedMedia};

/// Answers an upload, recording it in the simulator's media log.
pub(crate) fn upload(
    sim: &SimHandle,
    request: &GraphRequest,
    phone_id: &str,
    now: i64,
) -> GraphResponse {
    GraphResponse::post_only(&request.method, "media", || {
        try_upload(sim, request, phone_id, now)
    })
}

fn try_upload(
    sim: &SimHandle,
    request: &GraphRequest,
    phone_id: &str,
    now: i64,
) -> Result<Value, GraphError> {
    authorize(sim, request, now)?;
    let files = match &request.body {
        RequestBody::Multipart { files, .. } => files,
        RequestBody::Invalid(why) => return Err(invalid(why.clone())),
        _ => {
            return Err(invalid(
                "media is uploaded as multipart/form-data with a file part".into(),
            ));
        }
    };
    match request.param("messaging_product") {
        None => return Err(required("messaging_product")),
        Some("whatsapp") => {}
        Some(_) => {
            return Err(invalid(
                "Parameter messaging_product must be \"whatsapp\"".into(),
            ));
        }
    }
    let mime_type = request
        .param("type")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| required("type"))?;
    let file = files
        .iter()
        .find(|file| file.name == "file")
        .ok_or_else(|| required("file"))?;
    let id = new_media_id();
    sim.lock().media.push(UploadedMedia {
        id: id.clone(),
        phone_number_id: phone_id.to_string(),
        mime_type: mime_type.to_string(),
        file_len: file.len,
        access_token: request.access_token().unwrap_or_default().to_string(),
    });
    Ok(json!({ "id": id }))
}

fn invalid(details: String) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, 100, "(#100) Invalid parameter")
        .with_data(json!({"messaging_product": "whatsapp", "details": details}))
}

fn required(name: &str) -> GraphError {
    let message = format!("(#100) The parameter {name} is required.");
    GraphError::new(StatusCode::BAD_REQUEST, 100, message.clone())
        .with_data(json!({"messaging_product": "whatsapp", "details": message}))
}

/// A media id: 16 decimal digits, not starting with 0, as Meta's are.
fn new_media_id() -> String {
    let mut rng = rand::rng();
    let first = rng.random_range(1..=9u8);
    let rest: String = (0..15)
        .map(|_| char::from(b'0' + rng.random_range(0..=9u8)))
        .collect();
    format!("{first}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::encodings::FilePart;
    use crate::sim::{SimConfig, TokenKind};

    fn upload_request(token: &str, fields: &[(&str, &str)], file: bool) -> GraphRequest {
        let mut params: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = RequestBody::Multipart {
            fields: params.clone(),
            files: file
                .then(|| FilePart {
                    name: "file".into(),
                    file_name: Some("a.png".into()),
                    content_type: Some("image/png".into()),
                    len: 42,
                })
                .into_iter()
                .collect(),
        };
        params.push(("access_token".into(), token.into()));
        GraphRequest {
            method: axum::http::Method::POST,
            path: "/v25.0/106540352242922/media".into(),
            params,
            bearer: None,
            body,
        }
    }

    #[test]
    fn an_upload_answers_a_decimal_id_and_is_logged() {
        let sim = SimHandle::new(SimConfig::default());
        let token = sim.mint_token(TokenKind::SystemUser, None).access_token;
        let fields = [("messaging_product", "whatsapp"), ("type", "image/png")];
        let answer = upload(
            &sim,
            &upload_request(&token, &fields, true),
            "106540352242922",
            0,
        );
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let body: Value = serde_json::from_str(&answer.body).unwrap();
        let id = body["id"].as_str().unwrap();
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit()),
            "{id}"
        );
        let logged = sim.uploaded_media();
        assert_eq!(logged.len(), 1);
        assert_eq!(logged[0].id, id);
        assert_eq!(logged[0].file_len, 42);
        assert_eq!(logged[0].mime_type, "image/png");
    }

    #[test]
    fn missing_fields_are_named() {
        let sim = SimHandle::new(SimConfig::default());
        let token = sim.mint_token(TokenKind::SystemUser, None).access_token;
        type Fields<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Fields, bool, &str); 3] = [
            (&[("type", "image/png")], true, "messaging_product"),
            (&[("messaging_product", "whatsapp")], true, "type"),
            (
                &[("messaging_product", "whatsapp"), ("type", "image/png")],
                false,
                "file",
            ),
        ];
        for (fields, file, missing) in cases {
            let answer = upload(&sim, &upload_request(&token, fields, file), "1", 0);
            assert_eq!(answer.status, StatusCode::BAD_REQUEST);
            assert!(answer.body.contains(missing), "{}", answer.body);
        }
        assert!(sim.uploaded_media().is_empty());
    }
}
