//! The SAM template serves every route of every function, each by the function whose
//! router serves it, and nothing else; `/v1/ops/` routes are IAM-only.

use std::collections::BTreeSet;

use serde_norway::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("read template"))
        .expect("parse template")
}

#[test]
fn every_route_is_mapped_to_its_function_both_ways() {
    let functions: [(&str, paspor_http::Routes); 8] = [
        ("accounts", paspor_accounts::routes()),
        ("otp", paspor_otp::routes()),
        ("applications", paspor_applications::routes()),
        ("uploads", paspor_uploads::routes()),
        ("booking", paspor_booking::routes()),
        ("billing", paspor_billing::routes()),
        ("payments", paspor_payments::routes()),
        ("operators", paspor_operators::routes()),
    ];
    let t = template();
    let resources = t["Resources"].as_mapping().expect("Resources");
    let mut mapped = BTreeSet::new();
    let mut binaries = BTreeSet::new();
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary")
            .to_owned();
        binaries.insert(binary.clone());
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let props = &event["Properties"];
            let method = props["Method"].as_str().expect("Method").to_owned();
            let path = props["Path"].as_str().expect("Path").to_owned();
            let iam = props["Auth"]["Authorizer"].as_str() == Some("AWS_IAM");
            assert_eq!(
                iam,
                path.starts_with("/v1/ops/"),
                "{method} {path}: IAM exactly on the ops routes"
            );
            mapped.insert((binary.clone(), method, path));
        }
    }
    let mut served: BTreeSet<(String, String, String)> = functions
        .iter()
        .flat_map(|(name, routes)| {
            routes
                .list()
                .iter()
                .map(move |(m, p)| ((*name).to_owned(), m.to_string(), (*p).to_owned()))
        })
        .collect();
    // The web client is a router of its own (its page needs its own CSP); API Gateway
    // spells axum's greedy `{*path}` as `{proxy+}`.
    served.extend(paspor_web::ROUTES.iter().map(|(m, p)| {
        (
            "web".to_owned(),
            m.to_string(),
            p.replace("{*path}", "{proxy+}"),
        )
    }));
    let unmapped: Vec<_> = served.difference(&mapped).collect();
    let stray: Vec<_> = mapped.difference(&served).collect();
    assert!(
        unmapped.is_empty(),
        "served but not in the template: {unmapped:?}"
    );
    assert!(
        stray.is_empty(),
        "in the template but not served by that function: {stray:?}"
    );
    for name in [
        "accounts",
        "otp",
        "applications",
        "uploads",
        "booking",
        "billing",
        "payments",
        "operators",
        "worker",
        "sweeper",
        "web",
    ] {
        assert!(binaries.contains(name), "function {name} is not deployed");
    }
}

#[test]
fn the_data_is_private_durable_and_encrypted() {
    let t = template();
    let table = &t["Resources"]["Table"]["Properties"];
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        table["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(table["DeletionProtectionEnabled"].as_bool(), Some(true));
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some("ttl")
    );
    let bucket = &t["Resources"]["DocumentsBucket"]["Properties"];
    for block in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][block].as_bool(),
            Some(true),
            "{block}"
        );
    }
    assert!(bucket["BucketEncryption"].is_mapping());
    for queue in ["JobsQueue", "UploadChecksQueue"] {
        let dlq = &t["Resources"][queue]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"];
        assert!(
            matches!(dlq, Value::Tagged(_)),
            "{queue} has a dead-letter queue: {dlq:?}"
        );
    }
}
