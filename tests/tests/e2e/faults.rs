//! Fault injection, the quick version (`make test`): one burst of sends and user messages while
//! Viber answers 503, late and garbage, the business endpoint fails and answers late, and the
//! emulator goes away for a few seconds. Afterwards every accepted message is sent, failed or
//! dead-lettered, nothing is delivered twice, no counter is off and no event is lost.
//! `make faults` runs the long version (`src/bin/faults.rs`).

use vbm_e2e::Stack;
use vbm_e2e::faults::{self, Plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_under_faults_loses_nothing_and_repeats_nothing() {
    let stack = Stack::start_with(faults::options()).await;
    let plan = Plan::quick();
    let figures = faults::run(&stack, &plan).await;
    println!("{figures}");
    assert_eq!(figures.violations(), Vec::<String>::new(), "\n{figures}");
    // The faults really happened, and the traffic really went through them.
    assert!(
        figures.accepted > 0 && figures.unavailable_answers > 0,
        "\n{figures}"
    );
    assert!(figures.emulator_connections_dropped > 0, "\n{figures}");
    for kind in ["http_503", "late", "garbage", "already_sent"] {
        assert!(
            figures.viber_answers.get(kind).is_some_and(|n| *n > 0),
            "no {kind} answer from the sandbox\n{figures}"
        );
    }
    // The number that can only end in the dead-letter queue got there.
    assert!(figures.dead_lettered >= 1, "\n{figures}");
}

/// The audit's own helpers (pure; here so that the crate's library has no test harness of its
/// own and `infra/scripts/test-rust.sh` can run this binary alone).
mod audit {
    use vbm_e2e::faults::audit::{markers, rank};

    #[test]
    fn markers_are_found_whole_and_only_whole() {
        assert_eq!(
            markers(r##"{"#txt":"news fx0y12z3q","x":"fx1y2zq fxx fx3y4z5q"}"##),
            ["fx0y12z3q", "fx3y4z5q"]
        );
        assert!(markers("fx1y2z3").is_empty());
    }

    #[test]
    fn the_status_order_is_the_design_s() {
        assert!(rank("accepted") < rank("sent"));
        assert!(rank("sent") < rank("failed"));
        assert_eq!(rank("failed"), rank("expired"));
        assert!(rank("expired") < rank("delivered"));
        assert!(rank("delivered") < rank("seen"));
        assert_eq!(rank("bogus"), None);
    }
}
