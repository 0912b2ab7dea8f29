//! `make dev`'s server: see the library.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    vbm_platform::telemetry::init();
    let settings = match vbm_dev::Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("vbm-dev: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", settings.port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "vbm-dev: cannot listen on 127.0.0.1:{}: {e} (is another `make dev` running?)",
                settings.port
            );
            return std::process::ExitCode::from(2);
        }
    };
    let options = match vbm_dev::Options::from_env() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("vbm-dev: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let running = match vbm_dev::start_with(settings, listener, options).await {
        Ok(running) => running,
        Err(e) => {
            eprintln!("vbm-dev: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{}", vbm_dev::banner(&running));
    tokio::select! {
        _ = tokio::signal::ctrl_c() => std::process::ExitCode::SUCCESS,
        _ = running.server => std::process::ExitCode::FAILURE,
    }
}
