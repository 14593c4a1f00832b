//! The state every router shares, built once per process (per cold start on Lambda).

use std::sync::Arc;

use paspor_domain::{
    Ports, Secrets,
    accounts::{Accounts, AccountsConfig},
    applications::Applications,
};

#[derive(Clone)]
pub struct AppState {
    pub ports: Ports,
    pub accounts: Arc<Accounts>,
    pub applications: Arc<Applications>,
}

impl AppState {
    pub fn new(ports: Ports, secrets: &Secrets) -> Self {
        Self {
            accounts: Arc::new(Accounts::new(
                ports.clone(),
                secrets,
                AccountsConfig::default(),
            )),
            applications: Arc::new(Applications::new(ports.clone(), secrets)),
            ports,
        }
    }
}
