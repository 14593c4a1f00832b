//! Email through SES (v2): plain text, UTF-8.

use async_trait::async_trait;
use aws_sdk_sesv2::{
    Client,
    types::{Body, Content, Destination, EmailContent, Message},
};
use paspor_domain::mail::{Email, MailError, Mailer};

#[derive(Clone, Debug)]
pub struct SesMailer {
    client: Client,
    from: String,
}

impl SesMailer {
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>, from: String) -> Self {
        let mut conf = aws_sdk_sesv2::config::Builder::from(sdk);
        if let Some(e) = endpoint {
            conf = conf.endpoint_url(e);
        }
        Self {
            client: Client::from_conf(conf.build()),
            from,
        }
    }
}

fn content(text: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().text(content(&email.text)?).build())
            .build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| {
                MailError(format!(
                    "SendEmail: {}",
                    aws_sdk_sesv2::error::DisplayErrorContext(e)
                ))
            })?;
        Ok(())
    }
}
