//! The table port on DynamoDB. One table, `pk`/`sk` strings; conditions become condition
//! expressions, transactions TransactWriteItems.
//!
//! Time to live (`store`'s rule): DynamoDB deletes an expired item days late at worst, so
//! every call here treats one as absent itself. Reads leave expired items out; every
//! condition is wrapped so that an expired item counts as none; an update is sent with a
//! "not expired" condition, and when that is what failed, the update's result on no item
//! replaces the stale item whole (an `add` must not count on a stale value).

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    operation::{transact_write_items::TransactWriteItemsError, update_item::UpdateItemError},
    types::{
        AttributeValue, CancellationReason, ConditionCheck, Delete, Put, ReturnValue,
        ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update as DynamoUpdate,
    },
};
use paspor_domain::{
    clock::{Clock, SystemClock},
    store::{
        Attrs, Cond, Item, Key, StoreError, TTL_ATTR, Table, Update, Write, apply_update,
        check_key, check_pk, expired, holds,
    },
};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_attribute_value, to_item};

type AttrMap = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
    /// What "now" is for expiry: the services' clock (the wall clock on AWS).
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for DynamoTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoTable")
            .field("table", &self.table)
            .finish_non_exhaustive()
    }
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
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads expiry against `clock` instead of the wall clock: the one the services read.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn now(&self) -> i64 {
        self.clock.now().timestamp()
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

/// Whether a failed update met an expired item while `cond` holds on no item: then the
/// update belongs on no item, and is written as a put of its result (see the module).
/// `old` is the item as the failed condition saw it.
fn starts_over(cond: Option<&Cond>, old: Option<&AttrMap>, now: i64) -> Result<bool, StoreError> {
    match old {
        Some(map) if cond.is_none_or(|c| holds(c, None)) => {
            Ok(expired(&attrs_of(map.clone())?, now))
        }
        _ => Ok(false),
    }
}

/// Whether an update's failed condition could be the item's expiry (see [`starts_over`]):
/// only then is the old item asked for.
fn may_start_over(cond: Option<&Cond>) -> Option<ReturnValuesOnConditionCheckFailure> {
    cond.is_none_or(|c| holds(c, None))
        .then_some(ReturnValuesOnConditionCheckFailure::AllOld)
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
            Cond::AtLeastValue(a, v) => {
                let a = self.name(a);
                let v = self.value(AttributeValue::N(v.to_string()));
                format!("{a} >= {v}")
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

    /// The item has expired. DynamoDB compares a number only with a number, so a `ttl` that
    /// is not one never matches, as in `store::expired`.
    fn expired(&mut self, now: i64) -> String {
        let n = self.name(TTL_ATTR);
        let v = self.value(AttributeValue::N(now.to_string()));
        format!("{n} <= {v}")
    }

    /// `cond` as the port means it, an expired item counting as none: where `cond` holds
    /// on no item it holds on an expired one, elsewhere it needs a live item.
    fn live_cond(&mut self, cond: &Cond, now: i64) -> Result<String, StoreError> {
        let c = group(self.cond(cond)?);
        let gone = self.expired(now);
        Ok(if holds(cond, None) {
            format!("{c} OR ({gone})")
        } else {
            format!("{c} AND NOT ({gone})")
        })
    }

    /// An update's condition: `cond` (if any) on an item that is live or absent, so that
    /// DynamoDB never applies an update to an expired item's stale attributes.
    fn update_cond(&mut self, cond: Option<&Cond>, now: i64) -> Result<String, StoreError> {
        let c = cond.map(|c| self.cond(c)).transpose()?;
        let gone = self.expired(now);
        Ok(match c {
            Some(c) => format!("{} AND NOT ({gone})", group(c)),
            None => format!("NOT ({gone})"),
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

/// `expr` in parentheses, unless it already is in one pair: DynamoDB refuses `((…))` as
/// "redundant parentheses".
fn group(expr: String) -> String {
    // Whether the opening parenthesis is closed by the last character.
    let enclosed = expr.starts_with('(') && {
        let mut depth = 0usize;
        let mut first_closes_at = None;
        for (i, ch) in expr.char_indices() {
            match ch {
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        first_closes_at = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        first_closes_at == Some(expr.len() - 1)
    };
    if enclosed { expr } else { format!("({expr})") }
}

fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("request: {e}"))
}

impl DynamoTable {
    /// One write of a transaction at `now`; `fresh`: the update is on an expired item, and
    /// is sent as a put of its result on no item, while that item is still expired.
    fn transact_item(
        &self,
        write: &Write,
        fresh: bool,
        now: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut ex = Expr::default();
        Ok(match write {
            Write::Update { key, update, .. } if fresh => {
                let item = Item {
                    key: key.clone(),
                    attrs: apply_update(None, update),
                };
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item_map(&item)?))
                    .condition_expression(ex.expired(now))
                    .set_expression_attribute_names(ex.names())
                    .set_expression_attribute_values(ex.values())
                    .build()
                    .map_err(build_err)?;
                TransactWriteItem::builder().put(put).build()
            }
            Write::Put { item, cond } => {
                let cond = cond.as_ref().map(|c| ex.live_cond(c, now)).transpose()?;
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
                let condition = ex.update_cond(cond.as_ref(), now)?;
                let up = DynamoUpdate::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(key)))
                    .update_expression(expr)
                    .condition_expression(condition)
                    .set_return_values_on_condition_check_failure(may_start_over(cond.as_ref()))
                    .set_expression_attribute_names(ex.names())
                    .set_expression_attribute_values(ex.values())
                    .build()
                    .map_err(build_err)?;
                TransactWriteItem::builder().update(up).build()
            }
            Write::Delete { key, cond } => {
                let cond = cond.as_ref().map(|c| ex.live_cond(c, now)).transpose()?;
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
                let cond = ex.live_cond(cond, now)?;
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
            Some(map) => {
                let attrs = attrs_of(map)?;
                Ok((!expired(&attrs, self.now())).then(|| Item {
                    key: key.clone(),
                    attrs,
                }))
            }
            None => Ok(None),
        }
    }

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        check_key(&item.key)?;
        let mut ex = Expr::default();
        let cond = cond
            .as_ref()
            .map(|c| ex.live_cond(c, self.now()))
            .transpose()?;
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
        // A second try only when the expired item was rewritten between the two calls.
        for _ in 0..3 {
            let now = self.now();
            let mut ex = Expr::default();
            let expr = ex.update(&update)?;
            let condition = ex.update_cond(cond.as_ref(), now)?;
            let err = match self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key_map(key)))
                .update_expression(expr)
                .condition_expression(condition)
                .set_expression_attribute_names(ex.names())
                .set_expression_attribute_values(ex.values())
                .return_values(ReturnValue::AllNew)
                .set_return_values_on_condition_check_failure(may_start_over(cond.as_ref()))
                .send()
                .await
            {
                Ok(out) => return attrs_of(out.attributes.unwrap_or_default()),
                Err(err) => err,
            };
            let old = match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(e)) => e.item(),
                _ => None,
            };
            if !starts_over(cond.as_ref(), old, now)? {
                return Err(classify(err));
            }
            let fresh = Item {
                key: key.clone(),
                attrs: apply_update(None, &update),
            };
            let mut ex = Expr::default();
            let still_expired = ex.expired(now);
            match self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item_map(&fresh)?))
                .condition_expression(still_expired)
                .set_expression_attribute_names(ex.names())
                .set_expression_attribute_values(ex.values())
                .send()
                .await
                .map_err(classify)
            {
                Ok(_) => return Ok(fresh.attrs),
                // Written or deleted meanwhile: the next try updates what is there now.
                Err(StoreError::ConditionFailed { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Busy(
            "expired item rewritten during an update".into(),
        ))
    }

    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
        check_key(key)?;
        let mut ex = Expr::default();
        let cond = cond
            .as_ref()
            .map(|c| ex.live_cond(c, self.now()))
            .transpose()?;
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
        // The updates found to meet an expired item, sent as puts of a fresh item (as in
        // `update`); each try settles at least one more, or the item changed meanwhile.
        let mut fresh = vec![false; writes.len()];
        for _ in 0..writes.len() + 2 {
            let now = self.now();
            let items = writes
                .iter()
                .zip(&fresh)
                .map(|(w, &f)| self.transact_item(w, f, now))
                .collect::<Result<Vec<_>, _>>()?;
            let err = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                // The SDK's own retry of a call that committed but whose answer was lost
                // then succeeds again instead of failing its conditions (idempotent for 10
                // minutes).
                .client_request_token(ulid::Ulid::new().to_string())
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let reasons = match &err {
                SdkError::ServiceError(service) => match service.err() {
                    TransactWriteItemsError::TransactionCanceledException(cancel) => {
                        cancel.cancellation_reasons()
                    }
                    _ => return Err(classify(err)),
                },
                _ => return Err(classify(err)),
            };
            let code = |r: &CancellationReason| r.code().unwrap_or("None").to_owned();
            let mut again = false;
            for (i, reason) in reasons.iter().enumerate() {
                if code(reason) != "ConditionalCheckFailed" {
                    continue;
                }
                match (writes.get(i), fresh.get_mut(i)) {
                    // The expired item was written or deleted meanwhile: update it again.
                    (_, Some(f @ true)) => *f = false,
                    (Some(Write::Update { cond, .. }), Some(f))
                        if starts_over(cond.as_ref(), reason.item(), now)? =>
                    {
                        *f = true;
                    }
                    _ => return Err(StoreError::ConditionFailed { index: Some(i) }),
                }
                again = true;
            }
            if !again {
                let busy = reasons.iter().map(code).find(|c| c != "None");
                return Err(StoreError::Busy(
                    busy.unwrap_or_else(|| "TransactionCanceled".into()),
                ));
            }
        }
        Err(StoreError::Busy(
            "expired items rewritten during a transaction".into(),
        ))
    }

    async fn scan(&self, after: Option<&Key>, limit: usize) -> Result<Vec<Item>, StoreError> {
        let now = self.now();
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
                // A page short of `limit` after this is read on from its last key.
                let item = item_of(map)?;
                if !expired(&item.attrs, now) {
                    items.push(item);
                }
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
        let now = self.now();
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
                // A page short of `limit` after this is read on from its last key.
                let item = item_of(map)?;
                if !expired(&item.attrs, now) {
                    items.push(item);
                }
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

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn groups_once() {
        let g = |s: &str| group(s.to_owned());
        assert_eq!(g("#n0 = :v0"), "(#n0 = :v0)");
        assert_eq!(g("(#n0 = :v0)"), "(#n0 = :v0)");
        assert_eq!(
            g("(#n0 = :v0) AND (#n1 = :v1)"),
            "((#n0 = :v0) AND (#n1 = :v1))"
        );
        assert_eq!(g("((a) OR (b))"), "((a) OR (b))");
        assert_eq!(g("attribute_exists(pk)"), "(attribute_exists(pk))");
        assert_eq!(
            g("attribute_exists(pk) OR attribute_not_exists(pk)"),
            "(attribute_exists(pk) OR attribute_not_exists(pk))"
        );
    }
}
