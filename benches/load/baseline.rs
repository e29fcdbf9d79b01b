//! The baseline: a bare actix-web server, one worker, answering `POST /<size>` with a fixed JSON
//! body of exactly `<size>` bytes: what serving a token answer costs when producing it costs
//! nothing. It runs in a child process (this bench binary re-executed with
//! `--baseline-server ADDR SIZES`) so it is pinned, measured and killed like tokengate.

use std::io::{Read, Write};

use actix_web::{App, HttpResponse, HttpServer, web};

/// A token-shaped JSON object of exactly `size` bytes (at least the fixed members' size).
pub fn body(size: usize) -> String {
    let head = r#"{"access_token":""#;
    let tail = r#"","token_type":"bearer","expires_in":"1799"}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "a".repeat(pad))
}

/// Serves until killed, or until stdin closes (the harness died without killing it).
pub fn serve(addr: &str, sizes: &str) -> Result<(), String> {
    let sizes: Vec<usize> = sizes
        .split(',')
        .map(|s| s.parse().map_err(|e| format!("size {s:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let listener = std::net::TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            let mut app = App::new();
            for &size in &sizes {
                let answer = web::Bytes::from(body(size));
                // The handler takes the request body: actix closes the connection after an
                // answer that left the body unread, which would cost a reconnect per request.
                app = app.route(
                    &format!("/{size}"),
                    web::post().to(move |_body: web::Bytes| {
                        let answer = answer.clone();
                        async move {
                            HttpResponse::Ok()
                                .content_type("application/json")
                                .body(answer)
                        }
                    }),
                );
            }
            app
        })
        .workers(1)
        .listen(listener)
        .map_err(|e| format!("listen: {e}"))?
        .run();
        println!("baseline listening address={local}");
        std::io::stdout().flush().ok();
        server.await.map_err(|e| format!("baseline server: {e}"))
    })
}
