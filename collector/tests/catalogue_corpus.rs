//! Real-world specs from the shared corpus (`/work/shared/corpus/openapi`): every document loads
//! with zero problems and the operation count an independent count of its `paths` gives, and
//! the 4 MB Stripe spec loads with its schemas resolved and answers lookups (how fast is measured
//! in analyzer/benches/catalogue.rs). Skips, saying so, without the corpus.

use collector::catalogue_files::load_catalogue;
use std::path::{Path, PathBuf};
use std::time::Instant;

const CORPUS: &str = "/work/shared/corpus/openapi";

/// Operations per document, counted independently (path items x methods; Berlin Group names two
/// servers with one prefix, so each operation is counted once).
const EXPECTED: [(&str, usize); 4] = [
    ("adyen/BalancePlatformService-v2.json", 91),
    (
        "berlin-group-nextgenpsd2/psd2-api_v1.3.11-2021-10-01v1.yaml",
        38,
    ),
    ("openbanking-uk/v4.0/account-info-openapi.yaml", 29),
    ("stripe/2022-04-12/spec3.json", 417),
];

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(CORPUS);
    if dir.is_dir() {
        Some(dir.to_path_buf())
    } else {
        println!("SKIP: corpus folder {CORPUS} is absent; corpus tests did not run");
        None
    }
}

fn spec_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            spec_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("json" | "yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

#[test]
fn every_corpus_document_loads_cleanly() {
    let Some(dir) = corpus() else {
        return;
    };
    let mut files = Vec::new();
    spec_files(&dir, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no spec files under {CORPUS}");
    for file in files {
        let started = Instant::now();
        let loaded = load_catalogue(std::slice::from_ref(&file))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let elapsed = started.elapsed();
        let cat = &loaded.catalogue;
        let hosts: Vec<String> = cat.hosts().into_iter().collect();
        println!(
            "{}: {} operations, {} problems, hosts {:?}, prefixes {:?}, {:?}",
            file.display(),
            cat.operations.len(),
            cat.problems.len(),
            hosts,
            cat.apis
                .iter()
                .flat_map(|a| a.servers.iter().map(|s| s.prefix.as_str()))
                .collect::<Vec<_>>(),
            elapsed
        );
        assert_eq!(loaded.errors, vec![], "{}", file.display());
        assert_eq!(loaded.files_loaded, 1);
        assert_eq!(cat.problems, vec![], "{}", file.display());
        assert!(
            !cat.operations.is_empty(),
            "{}: no operations",
            file.display()
        );
        let relative = file
            .strip_prefix(&dir)
            .map(|p| p.to_string_lossy().into_owned());
        if let Some((_, want)) = EXPECTED
            .iter()
            .find(|(name, _)| relative.as_deref() == Ok(*name))
        {
            assert_eq!(cat.operations.len(), *want, "{}", file.display());
        }
        // Every operation is findable by its own template on each of its hosts.
        for op in &cat.operations {
            let host = op.hosts.first().map_or("unlisted.example", String::as_str);
            let found = cat.find_operation(host, &op.method, &op.path);
            assert!(
                found.is_some_and(|f| f.path == op.path),
                "{} {} on {host}",
                op.method,
                op.path
            );
        }
    }
}

#[test]
fn corpus_specifics() {
    let Some(dir) = corpus() else {
        return;
    };
    let load = |rel: &str| {
        load_catalogue(&[dir.join(rel)])
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
            .catalogue
    };
    // Open Banking UK: a relative server, so any host, with the prefix on every template; the
    // templater's placeholder names need not match the spec's.
    let ob = load("openbanking-uk/v4.0/account-info-openapi.yaml");
    assert!(ob.covers_host("bank.example"));
    let op = ob.find_operation(
        "bank.example",
        "GET",
        "/open-banking/v4.0/aisp/accounts/{id}/balances",
    );
    assert!(
        op.is_some_and(|o| o.hosts.is_empty() && o.spec_path == "/accounts/{AccountId}/balances")
    );

    // Berlin Group: two absolute servers with one prefix; the global security is `[{}]`.
    let bg = load("berlin-group-nextgenpsd2/psd2-api_v1.3.11-2021-10-01v1.yaml");
    assert_eq!(
        bg.hosts().into_iter().collect::<Vec<_>>(),
        vec![
            "api.testbank.com".to_string(),
            "test-api.testbank.com".to_string()
        ]
    );
    assert!(!bg.covers_host("other.testbank.com"));
    assert!(bg
        .operations
        .iter()
        .all(|o| o.path.starts_with("/psd2/") && o.hosts.len() == 2));

    // Adyen (3.1, JSON): one absolute server with a path prefix.
    let adyen = load("adyen/BalancePlatformService-v2.json");
    assert!(adyen.operations.iter().all(
        |o| o.path.starts_with("/bcl/v2/") && o.hosts == ["balanceplatform-api-test.adyen.com"]
    ));
}

#[test]
fn stripe_loads_with_schemas_and_matches() {
    let Some(dir) = corpus() else {
        return;
    };
    let path = dir.join("stripe/2022-04-12/spec3.json");
    let started = Instant::now();
    let loaded = load_catalogue(&[path]).unwrap_or_else(|e| panic!("stripe: {e}"));
    let load_time = started.elapsed();
    let cat = &loaded.catalogue;
    assert_eq!(cat.problems, vec![]);
    assert!(
        cat.operations.len() > 400,
        "{} operations",
        cat.operations.len()
    );
    // File uploads override the servers per operation (`files.stripe.com`).
    let on = |host: &str| cat.operations.iter().filter(|o| o.hosts == [host]).count();
    assert_eq!(
        on("api.stripe.com") + on("files.stripe.com"),
        cat.operations.len()
    );
    assert!(on("files.stripe.com") > 0);
    assert!(cat
        .find_operation("files.stripe.com", "POST", "/v1/files")
        .is_some_and(|o| o.request_content_types == ["multipart/form-data"]));
    assert!(cat
        .find_operation("api.stripe.com", "POST", "/v1/files")
        .is_none());

    let started = Instant::now();
    let mut hits = 0;
    for _ in 0..100 {
        for op in &cat.operations {
            let host = format!("{}:443", op.hosts[0]);
            hits += usize::from(cat.find_operation(&host, &op.method, &op.path).is_some());
        }
    }
    let lookups = 100 * cat.operations.len();
    let lookup_time = started.elapsed();
    assert_eq!(hits, lookups);
    let op = cat.find_operation("API.stripe.com", "POST", "/v1/customers/{id}");
    assert_eq!(
        op.map(|o| o.spec_path.as_str()),
        Some("/v1/customers/{customer}")
    );
    assert!(cat
        .find_operation("api.stripe.com", "GET", "/v1/nonexistent")
        .is_none());
    // Schemas are resolved: a field of the customer object, reached through `$ref`s and
    // `anyOf`s, is declared; a made-up one is not.
    let op = cat
        .find_operation("api.stripe.com", "GET", "/v1/customers/{customer}")
        .expect("customer retrieve");
    let roots: Vec<_> = op.response_body.values().flat_map(|m| m.values()).collect();
    assert!(!roots.is_empty());
    use analyzer::catalogue::schema::{parse_field_path, Lookup};
    let declared = |path: &str| {
        roots.iter().any(|r| {
            !matches!(
                cat.schemas.lookup(**r, &parse_field_path(path)),
                Lookup::Undeclared { .. }
            )
        })
    };
    assert!(declared("email"));
    assert!(declared("invoice_settings.default_payment_method"));
    assert!(!declared("made_up_field"));
    // Timings are printed for information only; speed is measured in
    // analyzer/benches/catalogue.rs, not asserted here.
    println!(
        "stripe: {} operations, {} schema nodes, loaded in {load_time:?}; {lookups} lookups in {lookup_time:?}",
        cat.operations.len(),
        cat.schemas.nodes.len()
    );
}
