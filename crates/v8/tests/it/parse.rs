//! The parser on well-formed, truncated and malformed input.

use heapwise_v8::{ParseError, read_node_ids, read_snapshot};

use super::test_file;

fn fixture_text() -> String {
    std::fs::read_to_string(test_file("fixtures/dominators.heapsnapshot")).unwrap()
}

fn parse(text: &str) -> Result<heapwise_v8::HeapSnapshot, ParseError> {
    read_snapshot(text.as_bytes(), None)
}

#[test]
fn reads_the_fixture_and_its_fields_by_name() {
    let s = parse(&fixture_text()).unwrap();
    assert_eq!(s.node_count(), 10);
    assert_eq!(s.edge_count(), 13);
    assert_eq!(s.node_name(2), "A");
    assert_eq!(s.node_id(2), 5);
    assert_eq!(s.self_size(2), 10);
    assert_eq!(s.edges_of(2), 3..6);
    assert_eq!(s.edges_of(3), 6..8);
    assert_eq!(s.edge_target(3), 3);
    assert_eq!(s.edge_name(3).to_string(), "b");
}

#[test]
fn reordered_and_extra_fields_are_found_by_name() {
    let text = r#"{"snapshot":{"meta":{
        "node_fields":["extra","edge_count","self_size","id","name","type"],
        "node_types":["number","number","number","number","string",["synthetic","object","future kind"]],
        "edge_fields":["to_node","name_or_index","type","extra"],
        "edge_types":["node","string_or_number",["property","weak","future edge"],"number"]}},
      "nodes":[7,1,0,1,0,0, 7,0,24,3,1,2],
      "edges":[6,2,2,99],
      "strings":["","Thing","x"]}"#;
    let s = parse(text).unwrap();
    assert_eq!(s.node_count(), 2);
    assert_eq!(s.node_name(1), "Thing");
    assert_eq!(s.self_size(1), 24);
    assert_eq!(s.node_type_name(1), "future kind");
    assert_eq!(s.edge_target(0), 1);
    assert_eq!(s.edge_type_name(0), "future edge");
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let text = fixture_text();
    // Cut at every byte up to the end (the last bytes are the closing brace and newline).
    let complete = text.trim_end().len();
    for cut in 0..complete {
        let result = parse(&text[..cut]);
        assert!(result.is_err(), "a file cut at byte {cut} was accepted");
    }
    let truncated = parse(&text[..text.find("\"edges\"").unwrap() + 20]).unwrap_err();
    assert!(
        matches!(truncated, ParseError::Truncated { .. }),
        "{truncated}"
    );
    assert!(truncated.to_string().contains("truncated"));
}

#[test]
fn wrong_types_in_the_integer_arrays_are_rejected() {
    let text = fixture_text();
    for (from, to) in [
        ("[9,0,1,0,2", "[9,\"0\",1,0,2"),
        ("[9,0,1,0,2", "[9,-1,1,0,2"),
        ("[9,0,1,0,2", "[9,0.5,1,0,2"),
        ("[5,9,14", "[5,9,null"),
        ("\"nodes\":[", "\"nodes\":{"),
    ] {
        let bad = text.replacen(from, to, 1);
        let err = parse(&bad).unwrap_err();
        assert!(matches!(err, ParseError::Syntax { .. }), "{to}: {err}");
    }
}

#[test]
fn inconsistent_counts_and_targets_are_rejected() {
    let text = fixture_text();
    let cases = [
        ("\"node_count\":10", "\"node_count\":11", "node_count"),
        ("\"edge_count\":13", "\"edge_count\":12", "edge_count"),
        // The root declares 3 edges instead of 2: the edge counts no longer add up.
        ("[9,0,1,0,2,0,0", "[9,0,1,0,3,0,0", "add up"),
        // An edge to node offset 700 (node 100 of 9).
        ("5,9,14,1,1,7", "5,9,700,1,1,7", "only 10 nodes"),
        // An edge to an offset that is not a node boundary.
        ("5,9,14,1,1,7", "5,9,15,1,1,7", "not a multiple"),
        // A node name beyond the strings table.
        (",3,3,7,20,2,0,0", ",3,70,7,20,2,0,0", "string 70"),
    ];
    for (from, to, needle) in cases {
        let err = parse(&text.replacen(from, to, 1)).unwrap_err();
        assert!(matches!(err, ParseError::Inconsistent(_)), "{to}: {err}");
        assert!(err.to_string().contains(needle), "{to}: {err}");
    }
}

#[test]
fn missing_metadata_fields_are_named() {
    let text = fixture_text().replacen("\"self_size\",", "", 1);
    let err = parse(&text).unwrap_err();
    assert!(matches!(err, ParseError::Meta(_)));
    assert!(err.to_string().contains("self_size"), "{err}");
    let err = parse(r#"{"nodes":[1],"snapshot":{}}"#).unwrap_err();
    assert!(
        err.to_string().contains("metadata must come first"),
        "{err}"
    );
    assert!(parse("").unwrap_err().to_string().contains("empty"));
    assert!(parse("[1,2]").is_err());
}

#[test]
fn bad_string_escapes_are_rejected() {
    let text = fixture_text();
    for bad in [r#""E\x""#, r#""E\u12""#, r#""E\uzzzz""#] {
        let err = parse(&text.replacen("\"E\"", bad, 1)).unwrap_err();
        assert!(matches!(err, ParseError::Syntax { .. }), "{bad}: {err}");
        assert!(err.to_string().contains("bad string"), "{bad}: {err}");
    }
}

#[test]
fn lone_surrogates_decode_leniently() {
    let text = fixture_text();
    // serde_json rejects this document; V8 writes such strings for cut surrogate pairs.
    let lone = text.replacen("\"E\"", r#""E\ud83d!""#, 1);
    assert!(serde_json::from_str::<serde_json::Value>(&lone).is_err());
    let s = parse(&lone).unwrap();
    assert_eq!(s.node_name(6), "E\u{FFFD}!");
    let pair = text.replacen("\"E\"", r#""E\ud83d\ude00""#, 1);
    assert_eq!(parse(&pair).unwrap().node_name(6), "E\u{1F600}");
    let low_only = text.replacen("\"E\"", r#""\udc00E""#, 1);
    assert_eq!(parse(&low_only).unwrap().node_name(6), "\u{FFFD}E");
}

#[test]
fn node_ids_alone_are_read_sorted() {
    let ids = read_node_ids(fixture_text().as_bytes(), None).unwrap();
    assert_eq!(ids, [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]);
}

#[test]
fn progress_reports_bytes_read() {
    let text = fixture_text();
    let mut last = 0;
    let mut report = |bytes: u64| last = bytes;
    read_snapshot(text.as_bytes(), Some(&mut report)).unwrap();
    assert_eq!(last, text.len() as u64);
}
