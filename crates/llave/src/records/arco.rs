//! ARCO rights (LGPDPPSO arts. 43–52: access, rectification, cancellation, opposition) over
//! the records an entity holds. A person files a request about one of their records from
//! their file; the holding entity sees it in its queue with the legal deadline (art. 51:
//! 20 business days, `records.arco_business_days`) and answers; the person sees the answer.
//!
//! | | scope |
//! |---|---|
//! | `GET /api/arco-requests[?status=pending]` the entity's queue, nearest deadline first | `records:read` |
//! | `POST /api/arco-requests/{id}/answer` `{"answer", "status": "answered"\|"rejected"}` | `records:write` |

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use time::Date;

use super::api::{bad_body, failure, json_body, no_store};
use super::{Failure, Outcome};
use crate::calendar::{Calendar, city_date, format_date, parse_date};
use crate::crypto::{now, random_id};
use crate::oidc::service::{api_error, client_with_scope};
use crate::store::arco::ArcoRequest;
use crate::store::entities::ClientRecord;
use crate::{AppState, Services};

/// Longest message a person may write, and answer an entity may give.
pub const MAX_MESSAGE_CHARS: usize = 2000;
const MAX_ANSWER_CHARS: usize = 4000;

/// The four rights, by the code stored and sent.
pub const RIGHTS: [&str; 4] = ["access", "rectification", "cancellation", "opposition"];

/// The last day to answer a request filed at `filed_at`: `days` business days after the
/// city's date that day (the day of filing does not count).
pub fn due_date(calendar: &Calendar, filed_at: i64, days: u32) -> Date {
    calendar.add_business_days(city_date(filed_at), days)
}

/// Business days left until `due` (0 on the due date, negative once overdue).
pub fn business_days_left(calendar: &Calendar, today: Date, due: Date) -> i64 {
    calendar.business_days_between(today, due)
}

fn calendar(app: &Services) -> Calendar {
    Calendar::new(&app.config.records.holidays)
}

/// Why a person's request was not filed.
#[derive(Debug, PartialEq, Eq)]
pub enum FilingError {
    /// No record with that id is about this person.
    NotYourRecord,
    UnknownRight,
    EmptyMessage,
    MessageTooLong,
}

/// Files a person's request about one of their own records.
pub async fn file_request(
    app: &Services,
    account_id: i64,
    record_id: &str,
    right: &str,
    message: &str,
) -> Result<Result<ArcoRequest, FilingError>, crate::store::StoreError> {
    let locator = app.store.record_locator(record_id.trim()).await?;
    let Some(locator) = locator.filter(|l| l.account_id == account_id) else {
        return Ok(Err(FilingError::NotYourRecord));
    };
    if !RIGHTS.contains(&right) {
        return Ok(Err(FilingError::UnknownRight));
    }
    let message = message.trim();
    if message.is_empty() {
        return Ok(Err(FilingError::EmptyMessage));
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Ok(Err(FilingError::MessageTooLong));
    }
    let filed_at = now();
    let request = ArcoRequest {
        id: random_id(),
        account_id,
        record_id: Some(locator.record_id.clone()),
        kind: locator.kind.clone(),
        entity_id: locator.entity_id,
        right: right.to_string(),
        message: message.to_string(),
        filed_at,
        due_date: format_date(due_date(&calendar(app), filed_at, app.config.records.arco_business_days)),
        status: "pending".into(),
        answer: None,
        answered_at: None,
        answered_by: None,
    };
    app.store.add_arco_request(&request).await?;
    Ok(Ok(request))
}

/// Business days left and whether a request is overdue, as of now; `None` once answered.
pub fn deadline(app: &Services, request: &ArcoRequest) -> Option<(i64, bool)> {
    if request.status != "pending" {
        return None;
    }
    let due = parse_date(&request.due_date)?;
    let today = city_date(now());
    Some((business_days_left(&calendar(app), today, due), today > due))
}

/// Answers a pending request about one of the calling entity's records.
pub async fn answer(app: &Services, client: &ClientRecord, id: &str, status: &str, text: &str) -> Outcome<ArcoRequest> {
    let not_found = || Failure::refused(StatusCode::NOT_FOUND, "not_found", "no request has that id");
    // Another entity's request is reported as unknown: its existence is not theirs to know.
    let request =
        app.store.arco_request(id).await?.filter(|r| Some(r.entity_id) == client.entity_id).ok_or_else(not_found)?;
    if !matches!(status, "answered" | "rejected") {
        return Err(Failure::refused(StatusCode::BAD_REQUEST, "invalid_request", "status is answered or rejected"));
    }
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_ANSWER_CHARS {
        return Err(Failure::refused(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("answer is required, at most {MAX_ANSWER_CHARS} characters"),
        ));
    }
    let already = || Failure::refused(StatusCode::CONFLICT, "already_answered", "the request was already answered");
    if request.status != "pending" {
        return Err(already());
    }
    if !app
        .store
        .answer_arco_request(id, super::calling_entity(client)?, status, text, &client.client_id, now())
        .await?
    {
        return Err(already());
    }
    app.store.arco_request(id).await?.ok_or_else(|| Failure::Internal("answered request vanished".into()))
}

// ----- the entities' API -----

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/arco-requests", get(list)).route("/api/arco-requests/{id}/answer", post(answer_api))
}

/// A request as the holding entity sees it: the person by the `sub` it knows them by.
fn request_json(app: &Services, client: &ClientRecord, r: &ArcoRequest) -> Value {
    let deadline = deadline(app, r);
    json!({
        "id": r.id,
        "record_id": r.record_id,
        "kind": r.kind,
        "right": r.right,
        "message": r.message,
        "filed_at": r.filed_at,
        "due_date": r.due_date,
        "business_days_left": deadline.map(|d| d.0),
        "overdue": deadline.is_some_and(|d| d.1),
        "status": r.status,
        "answer": r.answer,
        "answered_at": r.answered_at,
        "sub": crate::oidc::tokens::subject(app, client, r.account_id),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    status: Option<String>,
}

async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let client = match client_with_scope(&app, &headers, super::SCOPE_READ).await {
        Ok(client) => client,
        Err(denied) => return denied.into_response(),
    };
    let Ok(Query(query)) = query else {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "the query string does not fit: status");
    };
    let status = query.status.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if status.is_some_and(|s| !matches!(s, "pending" | "answered" | "rejected")) {
        return api_error(StatusCode::BAD_REQUEST, "invalid_request", "status is pending, answered or rejected");
    }
    let Some(entity_id) = client.entity_id else {
        return api_error(StatusCode::FORBIDDEN, "unauthorized_client", "the entity APIs are for entities' clients");
    };
    match app.store.arco_requests_for_entity(entity_id, status).await {
        Ok(requests) => no_store(
            Json(json!({
                "requests": requests.iter().map(|r| request_json(&app, &client, r)).collect::<Vec<_>>()
            }))
            .into_response(),
        ),
        Err(error) => failure(error.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerInput {
    answer: String,
    status: String,
}

async fn answer_api(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let client = match client_with_scope(&app, &headers, super::SCOPE_WRITE).await {
        Ok(client) => client,
        Err(denied) => return denied.into_response(),
    };
    let input: AnswerInput = match json_body(&body) {
        Ok(input) => input,
        Err(description) => return bad_body(&description),
    };
    match answer(&app, &client, &id, input.status.trim(), &input.answer).await {
        Ok(request) => no_store(Json(request_json(&app, &client, &request)).into_response()),
        Err(f) => failure(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_counts_business_days_after_filing() {
        let calendar = Calendar::new(&[]);
        // Friday 2025-01-31, 12:00 in the city (18:00 UTC); Monday 3 February is a holiday.
        let filed = time::macros::datetime!(2025-01-31 18:00 UTC).unix_timestamp();
        let due = due_date(&calendar, filed, 20);
        // Feb 4–7 (4), 10–14 (5), 17–21 (5), 24–28 (5), 3 March (1).
        assert_eq!(format_date(due), "2025-03-03");
        let today = parse_date("2025-02-28").unwrap();
        assert_eq!(business_days_left(&calendar, today, due), 1);
        assert_eq!(business_days_left(&calendar, due, due), 0);
        assert_eq!(business_days_left(&calendar, parse_date("2025-03-04").unwrap(), due), -1);
    }

    #[test]
    fn a_late_evening_filing_counts_from_the_city_date() {
        let calendar = Calendar::new(&[]);
        // 2025-03-07 02:00 UTC is still Thursday 6 March in the city.
        let filed = time::macros::datetime!(2025-03-07 02:00 UTC).unix_timestamp();
        assert_eq!(format_date(due_date(&calendar, filed, 1)), "2025-03-07");
        // Configured holidays are skipped too.
        let closed = Calendar::new(&["2025-03-07".to_string()]);
        assert_eq!(format_date(due_date(&closed, filed, 1)), "2025-03-10");
    }
}
