//! A trigger's refusal as the API reports it: the one place a domain `Refusal` becomes an
//! HTTP status and error body (the codes and messages are the refusal's own).

use axum::http::StatusCode;
use ocpulse_core::trigger_plan;

use super::ApiError;
use crate::trigger_service::Refusal;

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let status = match &refusal {
            Refusal::UnknownStation(_) => StatusCode::NOT_FOUND,
            Refusal::NotConnected(_) => StatusCode::CONFLICT,
            Refusal::NotApplicable { .. } => StatusCode::BAD_REQUEST,
            Refusal::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let err = ApiError::new(status, refusal.code(), refusal.to_string());
        match refusal {
            // The version that cannot express it, and the values it can when that helps.
            Refusal::NotApplicable { protocol, code, .. } => {
                let err = err.with("protocol", protocol.subprotocol());
                if code == "unknown_requested_message" || code == "no_equivalent" {
                    err.with("validValues", trigger_plan::valid_messages(protocol))
                } else {
                    err
                }
            }
            _ => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_keeps_the_api_code_and_message_it_always_had() {
        let e = ApiError::from(Refusal::NotConnected("CP1".into()));
        assert_eq!(e.code(), "station_not_connected");
        assert_eq!(
            e.message(),
            r#"station "CP1" is known but not connected now; retry when it reconnects (see lastSeen on GET /api/v1/stations/CP1)"#
        );
        let e = ApiError::from(Refusal::UnknownStation("CP9".into()));
        assert_eq!(e.code(), "station_not_found");
        assert_eq!(
            e.message(),
            r#"no station with id "CP9" has ever connected; GET /api/v1/stations lists the known ones"#
        );
    }
}
