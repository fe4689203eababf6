//! The REST API's error: a status code and a plain-text message saying what
//! is wrong, as nwaku answers.

use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::p2p::PublishError;
use crate::waku::json::MessageJsonError;

/// An error answered to a REST client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// 401 with `message`: a credential is missing or wrong.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::UNAUTHORIZED, message: message.into() }
    }

    /// 403 with `message`: refused whatever the credential.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::FORBIDDEN, message: message.into() }
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::NOT_FOUND, message: message.into() }
    }

    /// 507 with `message`: the store could not keep it (for example: disk full).
    pub fn insufficient_storage(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::INSUFFICIENT_STORAGE, message: message.into() }
    }

    /// 412 with `message`: the request needs a service peer that is not configured.
    pub fn precondition_failed(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::PRECONDITION_FAILED, message: message.into() }
    }

    /// 429 with `message`.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::TOO_MANY_REQUESTS, message: message.into() }
    }

    /// 503 with `message`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, message: message.into() }
    }
}

/// Why a JSON body was refused; one over the body limit is worded as nwaku's size error.
pub fn body_rejection(e: &JsonRejection) -> String {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let max = crate::waku::MAX_MESSAGE_SIZE;
        return format!("Message size exceeded maximum of {max} bytes: the request body is over the REST limit");
    }
    e.body_text()
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        let status = match &e {
            PublishError::Invalid(_) | PublishError::NotSubscribed(_) => StatusCode::BAD_REQUEST,
            PublishError::Duplicate => StatusCode::CONFLICT,
            PublishError::QueuesFull(_) => StatusCode::TOO_MANY_REQUESTS,
            PublishError::NoPeers(_) | PublishError::Relay(_) | PublishError::Shutdown => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        ApiError { status, message: format!("Failed to publish: {e}") }
    }
}

impl From<MessageJsonError> for ApiError {
    fn from(e: MessageJsonError) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, self.message).into_response()
    }
}
