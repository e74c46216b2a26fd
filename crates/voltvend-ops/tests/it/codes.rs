//! Every stable error code in the source is documented in docs/errors.md.

const SOURCES: &[(&str, &str)] = &[
    ("ops error", include_str!("../../src/error.rs")),
    ("ops context", include_str!("../../src/context.rs")),
    ("ops setup", include_str!("../../src/apply/setup.rs")),
    ("ops sale", include_str!("../../src/apply/sale.rs")),
    ("ops readings", include_str!("../../src/apply/readings.rs")),
    ("ops ledger", include_str!("../../src/apply/ledger.rs")),
    ("ops auth", include_str!("../../src/apply/auth.rs")),
    ("ops keys", include_str!("../../src/apply/keys.rs")),
    ("ops tokens", include_str!("../../src/apply/tokens.rs")),
    ("ops counter", include_str!("../../src/apply/counter.rs")),
    ("ops secrets", include_str!("../../src/secrets.rs")),
    ("domain ledger", include_str!("../../../voltvend-domain/src/ledger.rs")),
    ("domain text", include_str!("../../../voltvend-domain/src/text.rs")),
    ("domain vending", include_str!("../../../voltvend-domain/src/vending.rs")),
    ("store error", include_str!("../../../voltvend-store/src/error.rs")),
];
const DOCS: &str = include_str!("../../../../docs/errors.md");

/// The string literals that are codes: `=> "code"` arms of `code()` functions, and `refused("code", …)`.
fn codes(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut bodies = Vec::new();
    let mut rest = source;
    while let Some(i) = rest.find("fn code(") {
        rest = &rest[i..];
        let end = rest.find("\n    }\n").unwrap_or(rest.len());
        bodies.push(&rest[..end]);
        rest = &rest[end..];
    }
    for (marker, texts) in [("=> \"", bodies), ("refused(\"", vec![source])] {
        for text in texts {
            let mut rest = text;
            while let Some(i) = rest.find(marker) {
                rest = &rest[i + marker.len()..];
                let end = rest.find('"').unwrap();
                let word = &rest[..end];
                if !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    out.push(word.to_string());
                }
            }
        }
    }
    // `refused(` followed by a line break: the code is on the next line.
    let mut rest = source;
    while let Some(i) = rest.find("refused(\n") {
        rest = &rest[i + 9..];
        let line = rest.lines().next().unwrap().trim();
        if let Some(word) = line.strip_prefix('"').and_then(|l| l.split('"').next()) {
            out.push(word.to_string());
        }
    }
    out
}

#[test]
fn every_code_is_documented() {
    let mut missing = Vec::new();
    let mut seen = 0;
    for (name, source) in SOURCES {
        for code in codes(source) {
            seen += 1;
            if !DOCS.contains(&format!("| `{code}` |")) {
                missing.push(format!("{code} ({name})"));
            }
        }
    }
    assert!(seen > 60, "the scan found only {seen} codes: is the pattern still right?");
    assert!(missing.is_empty(), "codes missing from docs/errors.md: {missing:?}");
}
