//! HTTP load benchmark (being written): see issue 5.
fn main() {}
