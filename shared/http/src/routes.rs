//! A function's routes together with their list, so that the OpenAPI document and the SAM
//! template can be checked against what the routers really serve.

use std::collections::HashSet;

use axum::{
    Router,
    handler::Handler,
    routing::{MethodFilter, MethodRouter, delete, get, post, put},
};
use http::Method;

use crate::{ApiError, AppState};

/// The HTTP contract, which `tests/api/openapi.rs` holds equal to the routers.
const OPENAPI: &str = include_str!("../../../openapi.yaml");

/// Cloned to build the router again over a new state (secrets refreshed on Lambda).
#[derive(Default, Clone)]
pub struct Routes {
    router: Router<AppState>,
    list: Vec<(Method, &'static str)>,
}

macro_rules! verb {
    ($name:ident, $method:ident) => {
        pub fn $name<H: Handler<T, AppState>, T: 'static>(
            self,
            path: &'static str,
            handler: H,
        ) -> Self {
            self.add(Method::$method, path, $name(handler))
        }
    };
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    verb!(get, GET);
    verb!(post, POST);
    verb!(put, PUT);
    verb!(delete, DELETE);

    fn add(mut self, method: Method, path: &'static str, handler: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, handler);
        self.list.push((method, path));
        self
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.list.extend(other.list);
        self
    }

    /// Every (method, path) served, paths in the router's `{param}` form.
    pub fn list(&self) -> &[(Method, &'static str)] {
        &self.list
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }

    /// For the function behind API Gateway's `$default` route, which brings it every
    /// request no route matched: a path of the contract asked with a method it does not
    /// list answers 405 with `Allow`, as the one router of `paspor-local` does, and any
    /// other path 404. The paths this function serves itself keep their handlers.
    pub fn answering_unmatched(mut self) -> Self {
        let own: HashSet<&str> = self.list.iter().map(|(_, p)| *p).collect();
        for (path, methods) in contract() {
            if own.contains(path) {
                continue;
            }
            let mut route = MethodRouter::new();
            for method in methods {
                if let Ok(filter) = MethodFilter::try_from(method) {
                    route = route.on(filter, routed_elsewhere);
                }
            }
            self.router = self.router.route(path, route);
        }
        self
    }
}

/// A route of the contract that reached `$default`: the gateway's routes and the contract
/// disagree (or a `HEAD`, which API Gateway does not route to `GET`).
async fn routed_elsewhere(method: Method, uri: http::Uri) -> ApiError {
    tracing::warn!(%method, path = uri.path(), "a route of the contract reached $default");
    ApiError::not_found()
}

/// Every path of `openapi.yaml` with the methods it documents, in the document's order.
/// Read from its `paths:` block (a path at two spaces, its operations at four), without a
/// YAML parser in every function; `tests/api/openapi.rs` checks it against one.
pub fn contract() -> Vec<(&'static str, Vec<Method>)> {
    let mut paths: Vec<(&'static str, Vec<Method>)> = Vec::new();
    let mut in_paths = false;
    for line in OPENAPI.lines() {
        if !line.starts_with([' ', '#']) && !line.is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        let line = line.trim_end();
        if let Some(path) = line
            .strip_prefix("  ")
            .filter(|l| l.starts_with('/'))
            .and_then(|l| l.strip_suffix(':'))
        {
            paths.push((path, Vec::new()));
        } else if let Some(op) = line
            .strip_prefix("    ")
            .filter(|l| !l.starts_with(' '))
            .and_then(|l| l.strip_suffix(':'))
            && let Some((_, methods)) = paths.last_mut()
        {
            let method = match op {
                "get" => Method::GET,
                "put" => Method::PUT,
                "post" => Method::POST,
                "delete" => Method::DELETE,
                "patch" => Method::PATCH,
                _ => continue,
            };
            methods.push(method);
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_is_read_from_openapi() {
        let contract = contract();
        let offices = contract.iter().find(|(p, _)| *p == "/v1/offices");
        assert_eq!(offices, Some(&("/v1/offices", vec![Method::GET])));
        let booking = contract
            .iter()
            .find(|(p, _)| *p == "/v1/applications/{id}/booking")
            .map(|(_, m)| m.clone());
        assert_eq!(
            booking,
            Some(vec![Method::POST, Method::PUT, Method::DELETE])
        );
        assert!(contract.len() > 20, "{contract:?}");
    }
}
