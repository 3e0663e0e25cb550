//! One request through the simulator: faults, bounds, the token check before the body is read
//! (as the NBI's `default()` does), routing, and the request log.

use super::*;

fn take_fault(shared: &Shared, method: &Method, path: &str) -> Option<FaultAction> {
    let mut faults = shared.faults.lock().expect("sim faults lock");
    let f = faults.iter_mut().find(|f| {
        f.remaining > 0
            && f.method.as_ref().is_none_or(|m| m == method)
            && path.contains(f.path_contains.as_str())
    })?;
    f.remaining -= 1;
    Some(f.action.clone())
}

fn header_bytes(headers: &HeaderMap) -> u64 {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
        .sum()
}

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    Extension(ConnectionId(conn)): Extension<ConnectionId>,
    Extension(PeerAddr(peer)): Extension<PeerAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response<Body> {
    let path = uri.path().to_owned();
    // The control endpoint beside the NBI: not an NBI request, so never logged or faulted.
    if let Some(rest) = path.strip_prefix("/sim/v1/") {
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let reply = match axum::body::to_bytes(body, CONTROL_BODY_LIMIT).await {
            Ok(body) => control::handle(&shared, &method, &segments, &body),
            Err(_) => too_large(),
        };
        return http::render(reply, "application/json");
    }
    let segments: Vec<String> = path
        .strip_prefix("/osm/")
        .unwrap_or_default()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // Nothing of a body is read before the request is known to be worth it (see body_limit).
    let limit = routes::body_limit(&shared, &method, &segments, &headers);
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let body = match limit {
        0 => Ok(bytes::Bytes::new()),
        _ if declared > limit as u64 => Err(too_large()),
        _ => axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| too_large()),
    };
    let query_str = uri.query().unwrap_or("").to_owned();
    let request_bytes = (method.as_str().len() + uri.to_string().len() + 11) as u64
        + header_bytes(&headers)
        + body
            .as_ref()
            .map_or(declared, |b| (b.len() as u64).max(declared));
    let fault = take_fault(&shared, &method, &path);
    if let Some(FaultAction::Latency(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let accept = headers
        .get("accept")
        .and_then(|a| a.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let reply = match (&fault, body) {
        (_, Err(refused)) => refused,
        (Some(FaultAction::Drop), _) => {
            record(
                &shared,
                &method,
                &path,
                &query_str,
                0,
                request_bytes,
                0,
                conn,
            );
            let mut r = Response::new(Body::empty());
            r.extensions_mut().insert(DropConnection);
            return r;
        }
        (Some(FaultAction::Status(code)), _) => Reply::error(
            Status::from_u16(*code).unwrap_or(Status::INTERNAL_SERVER_ERROR),
            format!("injected fault: {code}"),
        ),
        (_, Ok(body)) => match path.strip_prefix("/osm/") {
            Some(_) => {
                let query = form_urlencoded::parse(query_str.as_bytes())
                    .into_owned()
                    .collect();
                routes::dispatch(
                    &shared,
                    http::Request {
                        method: method.clone(),
                        segments,
                        query,
                        headers,
                        body,
                        peer: Some(peer),
                    },
                )
                .await
            }
            None => Reply::error(
                Status::METHOD_NOT_ALLOWED,
                format!("Unexpected URL item {path}"),
            ),
        },
    };
    let mut response = http::render(reply, &accept);
    let body_len = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let response_bytes = 17 + header_bytes(response.headers()) + body_len;
    record(
        &shared,
        &method,
        &path,
        &query_str,
        response.status().as_u16(),
        request_bytes,
        response_bytes,
        conn,
    );
    if fault == Some(FaultAction::DropAfterProcessing) {
        response.extensions_mut().insert(DropConnection);
    }
    response
}

#[allow(clippy::too_many_arguments)]
fn record(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    status: u16,
    req: u64,
    resp: u64,
    conn: u64,
) {
    shared.log.lock().expect("sim log lock").push(LogEntry {
        method: method.to_string(),
        path: path.to_owned(),
        query: query.to_owned(),
        status,
        request_bytes: req,
        response_bytes: resp,
        connection: conn,
    });
}
