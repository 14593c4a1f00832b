//! The table port on DynamoDB. One table, `pk`/`sk` strings; conditions become condition
//! expressions, transactions TransactWriteItems.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem,
        Update as DynamoUpdate,
    },
};
use paspor_domain::store::{
    Attrs, Cond, Item, Key, StoreError, Table, Update, Write, check_key, check_pk,
};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};

type AttrMap = HashMap<String, AttributeValue>;

#[derive(Clone, Debug)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>, table: String) -> Self {
        let mut conf = aws_sdk_dynamodb::config::Builder::from(sdk);
        if let Some(url) = endpoint {
            conf = conf.endpoint_url(url);
        }
        Self {
            client: Client::from_conf(conf.build()),
            table,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }
}

/// Maps an SDK error to the port's: a failed condition, a push-back worth retrying, or an
/// outage.
fn classify<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: SdkError<E, R>,
) -> StoreError {
    match err.code() {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed { index: None },
        Some(
            code @ ("ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "TransactionConflictException"
            | "TransactionInProgressException"),
        ) => StoreError::Busy(code.to_owned()),
        Some(code) => StoreError::Unavailable(format!("{code}: {}", err.message().unwrap_or(""))),
        None => StoreError::Unavailable(format!("{err:?}")),
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn key_map(key: &Key) -> AttrMap {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
        ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn item_map(item: &Item) -> Result<AttrMap, StoreError> {
    let mut map: AttrMap = to_item(&item.attrs).map_err(corrupt)?;
    map.extend(key_map(&item.key));
    Ok(map)
}

fn attrs_of(mut map: AttrMap) -> Result<Attrs, StoreError> {
    map.remove("pk");
    map.remove("sk");
    from_item(map).map_err(corrupt)
}

fn item_of(mut map: AttrMap) -> Result<Item, StoreError> {
    let string = |v: Option<AttributeValue>| match v {
        Some(AttributeValue::S(s)) => Ok(s),
        _ => Err(corrupt("item without a string key")),
    };
    let key = Key::new(string(map.remove("pk"))?, string(map.remove("sk"))?);
    Ok(Item {
        key,
        attrs: from_item(map).map_err(corrupt)?,
    })
}

/// Placeholders for an expression's names and values.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: AttrMap,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        let n = format!("#n{}", self.names.len());
        self.names.insert(n.clone(), attr.to_owned());
        n
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let n = format!(":v{}", self.values.len());
        self.values.insert(n.clone(), v);
        n
    }

    fn cond(&mut self, cond: &Cond) -> Result<String, StoreError> {
        Ok(match cond {
            Cond::Exists => "attribute_exists(pk)".to_owned(),
            Cond::NotExists => "attribute_not_exists(pk)".to_owned(),
            Cond::Eq(attr, v) => {
                let n = self.name(attr);
                let v = self.value(to_attribute_value(v).map_err(corrupt)?);
                format!("{n} = {v}")
            }
            Cond::LessThan(a, b) => {
                let (a, b) = (self.name(a), self.name(b));
                format!("{a} < {b}")
            }
            Cond::LessThanValue(a, v) => {
                let a = self.name(a);
                let v = self.value(AttributeValue::N(v.to_string()));
                format!("{a} < {v}")
            }
            Cond::All(conds) => {
                let parts = conds
                    .iter()
                    .map(|c| self.cond(c))
                    .collect::<Result<Vec<_>, _>>()?;
                if parts.is_empty() {
                    "attribute_exists(pk) OR attribute_not_exists(pk)".to_owned()
                } else {
                    format!("({})", parts.join(") AND ("))
                }
            }
            Cond::Any(conds) => {
                let parts = conds
                    .iter()
                    .map(|c| self.cond(c))
                    .collect::<Result<Vec<_>, _>>()?;
                if parts.is_empty() {
                    // Like `any` over nothing: never holds.
                    "attribute_exists(pk) AND attribute_not_exists(pk)".to_owned()
                } else {
                    format!("({})", parts.join(") OR ("))
                }
            }
        })
    }

    fn update(&mut self, update: &Update) -> Result<String, StoreError> {
        let mut clauses = Vec::new();
        if !update.set.is_empty() {
            let mut sets = Vec::new();
            for (k, v) in &update.set {
                let n = self.name(k);
                let v = self.value(to_attribute_value(v).map_err(corrupt)?);
                sets.push(format!("{n} = {v}"));
            }
            clauses.push(format!("SET {}", sets.join(", ")));
        }
        if !update.add.is_empty() {
            let adds: Vec<String> = update
                .add
                .iter()
                .map(|(k, by)| {
                    let n = self.name(k);
                    let v = self.value(AttributeValue::N(by.to_string()));
                    format!("{n} {v}")
                })
                .collect();
            clauses.push(format!("ADD {}", adds.join(", ")));
        }
        if !update.remove.is_empty() {
            let removes: Vec<String> = update.remove.iter().map(|k| self.name(k)).collect();
            clauses.push(format!("REMOVE {}", removes.join(", ")));
        }
        Ok(clauses.join(" "))
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<AttrMap> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("request: {e}"))
}

impl DynamoTable {
    fn transact_item(&self, write: &Write) -> Result<TransactWriteItem, StoreError> {
        let mut ex = Expr::default();
        Ok(match write {
            Write::Put { item, cond } => {
                let cond = cond.as_ref().map(|c| ex.cond(c)).transpose()?;
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item_map(item)?))
                    .set_condition_expression(cond)
                    .set_expression_attribute_names(ex.names())
                    .set_expression_attribute_values(ex.values())
                    .build()
                    .map_err(build_err)?;
                TransactWriteItem::builder().put(put).build()
            }
            Write::Update { key, update, cond } => {
                let expr = ex.update(update)?;
                let cond = cond.as_ref().map(|c| ex.cond(c)).transpose()?;
                let up = DynamoUpdate::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(key)))
                    .update_expression(expr)
                    .set_condition_expression(cond)
                    .set_expression_attribute_names(ex.names())
                    .set_expression_attribute_values(ex.values())
                    .build()
                    .map_err(build_err)?;
                TransactWriteItem::builder().update(up).build()
            }
            Write::Delete { key, cond } => {
                let cond = cond.as_ref().map(|c| ex.cond(c)).transpose()?;
                let del = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(key)))
                    .set_condition_expression(cond)
                    .set_expression_attribute_names(ex.names())
                    .set_expression_attribute_values(ex.values())
                    .build()
                    .map_err(build_err)?;
                TransactWriteItem::builder().delete(del).build()
            }
            Write::Check { key, cond } => {
                let cond = ex.cond(cond)?;
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(key)))
                    .condition_expression(cond)
                    .set_expression_attribute_names(ex.names())
                    .set_expression_attribute_values(ex.values())
                    .build()
                    .map_err(build_err)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        })
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        check_key(key)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        match out.item {
            Some(map) => Ok(Some(Item {
                key: key.clone(),
                attrs: attrs_of(map)?,
            })),
            None => Ok(None),
        }
    }

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        check_key(&item.key)?;
        let mut ex = Expr::default();
        let cond = cond.as_ref().map(|c| ex.cond(c)).transpose()?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_map(&item)?))
            .set_condition_expression(cond)
            .set_expression_attribute_names(ex.names())
            .set_expression_attribute_values(ex.values())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        cond: Option<Cond>,
    ) -> Result<Attrs, StoreError> {
        check_key(key)?;
        let mut ex = Expr::default();
        let expr = ex.update(&update)?;
        let cond = cond.as_ref().map(|c| ex.cond(c)).transpose()?;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .update_expression(expr)
            .set_condition_expression(cond)
            .set_expression_attribute_names(ex.names())
            .set_expression_attribute_values(ex.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(classify)?;
        attrs_of(out.attributes.unwrap_or_default())
    }

    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
        check_key(key)?;
        let mut ex = Expr::default();
        let cond = cond.as_ref().map(|c| ex.cond(c)).transpose()?;
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .set_condition_expression(cond)
            .set_expression_attribute_names(ex.names())
            .set_expression_attribute_values(ex.values())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        for w in &writes {
            check_key(match w {
                Write::Put { item, .. } => &item.key,
                Write::Update { key, .. }
                | Write::Delete { key, .. }
                | Write::Check { key, .. } => key,
            })?;
        }
        let items = writes
            .iter()
            .map(|w| self.transact_item(w))
            .collect::<Result<Vec<_>, _>>()?;
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            // The SDK's own retry of a call that committed but whose answer was lost then
            // succeeds again instead of failing its conditions (idempotent for 10 minutes).
            .client_request_token(ulid::Ulid::new().to_string())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => {
                if let SdkError::ServiceError(service) = &err
                    && let TransactWriteItemsError::TransactionCanceledException(cancel) =
                        service.err()
                {
                    let reasons = cancel.cancellation_reasons();
                    let code = |r: &aws_sdk_dynamodb::types::CancellationReason| {
                        r.code().unwrap_or("None").to_owned()
                    };
                    if let Some(i) = reasons
                        .iter()
                        .position(|r| code(r) == "ConditionalCheckFailed")
                    {
                        return Err(StoreError::ConditionFailed { index: Some(i) });
                    }
                    let busy = reasons.iter().map(code).find(|c| c != "None");
                    return Err(StoreError::Busy(
                        busy.unwrap_or_else(|| "TransactionCanceled".into()),
                    ));
                }
                Err(classify(err))
            }
        }
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<AttrMap> = after.map(key_map);
        loop {
            let remaining = i32::try_from(limit - items.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .limit(remaining.max(1))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            for map in out.items.unwrap_or_default() {
                items.push(item_of(map)?);
            }
            match out.last_evaluated_key {
                Some(k) if items.len() < limit => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    async fn query_from(
        &self,
        pk: &str,
        sk_prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        check_pk(pk)?;
        let mut items = Vec::new();
        // A page starts after a key, as DynamoDB's own pages do.
        let mut start: Option<AttrMap> =
            after.map(|sk| key_map(&Key::new(pk.to_owned(), sk.to_owned())));
        loop {
            let mut ex = Expr::default();
            let (pk_name, sk_name) = (ex.name("pk"), ex.name("sk"));
            let pk_value = ex.value(AttributeValue::S(pk.to_owned()));
            let key_cond = if sk_prefix.is_empty() {
                format!("{pk_name} = {pk_value}")
            } else {
                let p = ex.value(AttributeValue::S(sk_prefix.to_owned()));
                format!("{pk_name} = {pk_value} AND begins_with({sk_name}, {p})")
            };
            if sk_prefix.is_empty() {
                ex.names.remove(&sk_name);
            }
            let remaining = i32::try_from(limit - items.len()).unwrap_or(i32::MAX);
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression(key_cond)
                .set_expression_attribute_names(ex.names())
                .set_expression_attribute_values(ex.values())
                .consistent_read(true)
                .limit(remaining)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(classify)?;
            for map in out.items.unwrap_or_default() {
                items.push(item_of(map)?);
            }
            match out.last_evaluated_key {
                Some(k) if items.len() < limit => start = Some(k),
                _ => return Ok(items),
            }
        }
    }
}

impl DynamoTable {
    /// Creates the table as the SAM template declares it (pk/sk strings, on demand). For
    /// the stand-ins in tests; on AWS the template owns the table.
    pub async fn create(&self) -> Result<(), StoreError> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_err)
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_err)
        };
        self.client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
