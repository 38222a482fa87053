fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap();
    let mut reader = heapwise_trace::TraceReader::open(&path)?;
    let mut cols: Vec<Vec<u8>> = vec![Vec::new(); 7];
    let mut per_block: Vec<Vec<u64>> = Vec::new();
    while let Some(payload) = reader.next_payload()? {
        let payload = payload.to_vec();
        heapwise_trace::decode::for_each_segment(&payload, |stream, seg| {
            if stream == heapwise_trace::pack::PACKED_STREAM {
                let (_, c) = heapwise_trace::pack::parse(seg).unwrap();
                for i in 0..7 {
                    cols[i].extend_from_slice(c[i]);
                }
                per_block.push(c.iter().map(|x| x.len() as u64).collect());
            }
            Ok(())
        })?;
    }
    let names = ["tags", "ts", "sizes", "nodes", "aptr", "fptr", "misc"];
    for i in 0..7 {
        std::fs::write(format!("/tmp/real/pc-{}.raw", names[i]), &cols[i])?;
    }
    Ok(())
}
