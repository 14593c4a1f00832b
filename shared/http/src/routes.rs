//! A function's routes together with their list, so that the OpenAPI document and the SAM
//! template can be checked against what the routers really serve.

use axum::{
    Router,
    handler::Handler,
    routing::{MethodRouter, delete, get, post, put},
};
use http::Method;

use crate::AppState;

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
}
