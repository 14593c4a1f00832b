//! The state every router shares, built once per process (per cold start on Lambda).

use std::sync::Arc;

use paspor_domain::{
    Ports, Secrets,
    accounts::{Accounts, AccountsConfig},
};

#[derive(Clone)]
pub struct AppState {
    pub ports: Ports,
    pub accounts: Arc<Accounts>,
}

impl AppState {
    pub fn new(ports: Ports, secrets: &Secrets) -> Self {
        Self {
            accounts: Arc::new(Accounts::new(
                ports.clone(),
                secrets,
                AccountsConfig::default(),
            )),
            ports,
        }
    }
}
